"""The platform's HTTP API, as the action server uses it (with the bot's service token).

The actions never touch the database: they file, look up and rate tickets through the API,
so the platform keeps its rules (who may see what) in one place.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

import aiohttp

TIMEOUT = aiohttp.ClientTimeout(total=10)


@dataclass
class Answer:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class PlatformUnavailable(Exception):
    pass


def _base_url() -> str:
    return os.environ.get("TIEPDAN_PLATFORM_URL", "http://127.0.0.1:8000").rstrip("/")


def _headers() -> dict[str, str]:
    # The development default matches core/settings.py; production sets a real one.
    token = os.environ.get("TIEPDAN_SERVICE_TOKEN", "dev-only-service-token")
    return {"Authorization": f"Bearer {token}"}


_session: aiohttp.ClientSession | None = None


def _http() -> aiohttp.ClientSession:
    """One session for the action server's life: its connections to the platform are reused."""
    global _session
    if _session is None or _session.closed:
        _session = aiohttp.ClientSession(timeout=TIMEOUT, headers=_headers())
    return _session


async def call(method: str, path: str, **kwargs: Any) -> Answer:
    """One request; a network failure or a 5xx is PlatformUnavailable, anything else an Answer."""
    try:
        async with _http().request(method, _base_url() + path, **kwargs) as response:
            body = await response.json(content_type=None)
    # On Python 3.10 asyncio's TimeoutError is not the built-in one.
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
        raise PlatformUnavailable(str(exc)) from exc
    if response.status >= 500:
        raise PlatformUnavailable(f"HTTP {response.status}")
    return Answer(response.status, body)


async def fetch(method: str, path: str, **kwargs: Any) -> Any | None:
    """The body of a 2xx answer; None when the platform is unavailable or refused. For the
    actions whose reply is the same whatever went wrong."""
    try:
        answer = await call(method, path, **kwargs)
    except PlatformUnavailable:
        return None
    return answer.body if answer.ok else None
