"""Our thin async client of Zalo: the OpenAPI (send, upload), OAuth v4 (tokens) and ZNS.

The PyPI SDKs are stale or speak another product (channels.md 1.12), and what we need is five
calls. Zalo answers a refusal with HTTP 200 and a negative `error` (1.6), so every call reads
that field and raises `ZaloError(code, message)`; what is not an answer from Zalo at all (a
timeout, a refused connection, HTTP 5xx, a body that is not JSON) raises `ZaloUnavailable`:
the same call may work later. Tokens travel in the `access_token` header, never in a URL, so
an exception's text never carries one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# A photo's whole download, however slowly its bytes trickle in (httpx's timeout is per read).
DOWNLOAD_SECONDS = 30.0
# Zalo's access token lives 25 h (channels.md 1.9); an answer without `expires_in` gets that.
DEFAULT_EXPIRES_IN = 25 * 3600


class ZaloError(Exception):
    """Zalo refused the call: its negative error code and message (or an HTTP 4xx status)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ZaloUnavailable(Exception):
    """No answer from Zalo (timeout, connection, 5xx, not JSON): try again later."""


class MediaGone(Exception):
    """The file is not there any more (HTTP 4xx from the CDN)."""


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int  # seconds


class ZaloClient:
    """One httpx.AsyncClient for every Zalo host; use it from one event loop."""

    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str,
        api_url: str,
        oauth_url: str,
        zns_url: str,
        timeout: httpx.Timeout | float = TIMEOUT,
    ) -> None:
        self._app_id = app_id
        self._app_secret = app_secret
        self._api_url = api_url.rstrip("/")
        self._oauth_url = oauth_url.rstrip("/")
        self._zns_url = zns_url.rstrip("/")
        self._http = httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- OpenAPI -------------------------------------------------------------------------------

    async def send_message(
        self, access_token: str, *, recipient: dict[str, str], message: dict[str, Any]
    ) -> str:
        """A consultation message (`/v3.0/oa/message/cs`); Zalo's id for it ("" if none)."""
        body = await self._request(
            "POST",
            f"{self._api_url}/v3.0/oa/message/cs",
            access_token=access_token,
            json={"recipient": recipient, "message": message},
        )
        return str(_data(body).get("message_id") or "")

    async def upload_image(
        self, access_token: str, *, data: bytes, filename: str, media_type: str
    ) -> str:
        """An image handed to Zalo (`/v2.0/oa/upload/image`); its attachment id."""
        body = await self._request(
            "POST",
            f"{self._api_url}/v2.0/oa/upload/image",
            access_token=access_token,
            files={"file": (filename, data, media_type)},
        )
        attachment_id = _data(body).get("attachment_id")
        if not attachment_id:
            raise ZaloError(-1, "an upload answer without attachment_id")
        return str(attachment_id)

    async def upload_file(self, access_token: str, *, data: bytes, filename: str) -> str:
        """A file (PDF) handed to Zalo (`/v2.0/oa/upload/file`); the token a message sends it by."""
        body = await self._request(
            "POST",
            f"{self._api_url}/v2.0/oa/upload/file",
            access_token=access_token,
            files={"file": (filename, data, "application/pdf")},
        )
        token = _data(body).get("token")
        if not token:
            raise ZaloError(-1, "an upload answer without token")
        return str(token)

    # --- ZNS: a pre-approved template, by phone number ----------------------------------------

    async def send_template(
        self,
        access_token: str,
        *,
        phone: str,
        template_id: str,
        template_data: dict[str, str],
        tracking_id: str,
    ) -> str:
        """A ZNS template message (`{zns}/message/template`); Zalo's id for it ("" if none)."""
        body = await self._request(
            "POST",
            f"{self._zns_url}/message/template",
            access_token=access_token,
            json={
                "phone": phone,
                "template_id": template_id,
                "template_data": template_data,
                "tracking_id": tracking_id,
            },
        )
        return str(_data(body).get("msg_id") or "")

    # --- OAuth v4 ------------------------------------------------------------------------------

    async def refresh_token(self, refresh_token: str) -> TokenPair:
        """Spend a refresh token (it works once) for a new access and refresh token."""
        body = await self._request(
            "POST",
            f"{self._oauth_url}/v4/oa/access_token",
            headers={"secret_key": self._app_secret},
            data={
                "refresh_token": refresh_token,
                "app_id": self._app_id,
                "grant_type": "refresh_token",
            },
        )
        return _token_pair(body)

    # --- Files on Zalo's CDN -------------------------------------------------------------------

    async def download(self, url: str, *, limit: int) -> bytes:
        """The file's bytes, at most `limit + 1` of them: enough to tell it is too large."""
        if not url.startswith(("https://", "http://")):
            raise MediaGone("not an http(s) URL")
        try:
            async with (
                asyncio.timeout(DOWNLOAD_SECONDS),
                self._http.stream("GET", url, follow_redirects=True) as response,
            ):
                if response.status_code >= 500 or response.status_code == 429:
                    raise ZaloUnavailable(f"HTTP {response.status_code}")
                if response.status_code >= 400:
                    raise MediaGone(f"HTTP {response.status_code}")
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > limit:
                        break  # stop reading: the gateway refuses it as too large
                return bytes(data[: limit + 1])
        except (httpx.HTTPError, TimeoutError) as exc:
            raise ZaloUnavailable(exc.__class__.__name__) from exc

    # --- One request ---------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        headers = dict(headers or {})
        if access_token is not None:
            headers["access_token"] = access_token
        try:
            response = await self._http.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise ZaloUnavailable(f"{exc.__class__.__name__} on {method} {url}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise ZaloUnavailable(f"HTTP {response.status_code} on {method} {url}")
        if response.status_code >= 400:
            raise ZaloError(response.status_code, f"HTTP {response.status_code} on {url}")
        try:
            body = response.json()
        except ValueError as exc:
            raise ZaloUnavailable(f"an answer that is not JSON on {method} {url}") from exc
        if not isinstance(body, dict):
            raise ZaloUnavailable(f"an answer that is not a JSON object on {method} {url}")
        return body


def _data(body: dict[str, Any]) -> dict[str, Any]:
    """The `data` of an OpenAPI answer, or ZaloError for a negative `error`."""
    code = _code(body.get("error"))
    if code != 0:
        raise ZaloError(code, str(body.get("message") or "no message"))
    data = body.get("data")
    if not isinstance(data, dict):
        raise ZaloError(-1, "an answer without data")
    return data


def _token_pair(body: dict[str, Any]) -> TokenPair:
    """OAuth's answer: the pair, or ZaloError with what Zalo said (its failure's field names
    vary between sources, channels.md 1.9: any answer without both tokens is a failure)."""
    access, refresh = body.get("access_token"), body.get("refresh_token")
    if not access or not refresh:
        message = next(
            (
                str(body[key])
                for key in ("error_description", "error_reason", "message", "error_name")
                if body.get(key)
            ),
            "no access_token in Zalo's answer",
        )
        raise ZaloError(_code(body.get("error")) or -1, message)
    try:
        expires_in = int(body.get("expires_in") or DEFAULT_EXPIRES_IN)  # a string of seconds
    except (TypeError, ValueError):
        expires_in = DEFAULT_EXPIRES_IN
    return TokenPair(access_token=str(access), refresh_token=str(refresh), expires_in=expires_in)


def _code(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return -1
