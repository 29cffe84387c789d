"""Zalo Official Account as a channel: its webhook events in, consultation messages out.

The worker is synchronous (Celery) and the client is async (httpx): each adapter drives its
client through one event loop of its own (`asyncio.Runner`), reused by every call and closed
by `close()`, which `integrations.registry.forget()` calls. A new loop and client per message
would also mean a new connection and TLS handshake per message.

Sending follows Zalo's answers (channels.md 1.6–1.8):
- an access token refused (-216, -220) is renewed once (integrations/zalo/tokens.py) and the
  call tried once more;
- the API's rate limit (-32) means later;
- a person who has not written in 7 days (-230, -232) can only get a ZNS template, by phone
  number: when one is configured and the person gave a phone with consent, else the message
  is undeliverable, with the reason staff see;
- no answer (a timeout, HTTP 5xx) means later; any other refusal is final, with Zalo's code.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx
from sqlalchemy import select

from core.database import session_scope
from core.settings import Settings
from feedback import attachments as photos
from feedback.models import Contact, ContactIdentity
from feedback.ticket_codes import ALPHABET, LENGTH, PREFIX
from integrations.channel import (
    Attachment,
    Capabilities,
    Channel,
    Inbound,
    Outgoing,
    Pacing,
    Receipt,
    Reply,
    RetryLater,
    Sent,
    Undeliverable,
)
from integrations.zalo import events, tokens
from integrations.zalo.client import (
    TIMEOUT,
    MediaGone,
    TokenPair,
    ZaloClient,
    ZaloError,
    ZaloUnavailable,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_TEXT = 2000  # characters in one consultation message
# Buttons: Zalo's pages give 100 characters for a title and 1,000 for an oa.query.hide payload
# (channels.md 1.6) but no count we could confirm for a consultation message; the examples
# found never show more than five. More buttons go in a following message.
MAX_BUTTONS = 5
MAX_BUTTON_TITLE = 100
MAX_BUTTON_PAYLOAD = 1000
BUTTONS_TEXT = "Mời bạn chọn:"  # a message of buttons needs a text
MORE_BUTTONS_TEXT = "Lựa chọn khác:"

TOKEN_REFUSED = {-216, -220, -124}  # -124: ZNS's own "token expired" (channels.md 1.7, [U])
RATE_LIMITED = -32
WINDOW_CLOSED = {-230, -232}
# -32 is per minute (4,000 calls per app): the next minute has room again.
RATE_LIMIT_WAIT = 60.0
# A ZNS parameter's length; the template's own limits are set when Zalo approves it.
ZNS_MESSAGE_MAX = 400
# Beat renews the tokens when the 25 h access token has less than this left. Hourly runs give
# two more chances before it expires if one fails (Zalo down, a worker restart).
RENEW_WITHIN = timedelta(hours=3)

NOT_CONNECTED = (
    "Zalo OA chưa được kết nối (chưa có token): quản trị viên cần chạy "
    "`tiepdan zalo connect --refresh-token …`."
)
WINDOW_CLOSED_REASON = (
    "Người dân chưa nhắn cho OA trong 7 ngày qua nên Zalo không cho gửi tin tư vấn (lỗi {code})"
)
_TICKET_CODE = re.compile(rf"\b{PREFIX}[{ALPHABET}]{{{LENGTH}}}\b")


@dataclass(frozen=True)
class Image:
    """A part of a reply that is a picture: uploaded to Zalo when it is sent."""

    url: str


@dataclass(frozen=True)
class Document:
    """A part of a reply that is a file (an evidence PDF): uploaded to Zalo when it is sent."""

    url: str


Part = dict[str, Any] | Image | Document


class RenewalRefused(ZaloError):
    """Zalo would not renew the tokens: the refresh token is dead; the OA must be reconnected."""


class ZaloAdapter:
    name = Channel.ZALO.value
    capabilities = Capabilities(buttons=True, images=True, locations=True, max_text=MAX_TEXT)
    # Zalo allows 4,000 API calls a minute per app, then answers -32 (channels.md 1.11). A
    # message is one to four calls (an upload, the text in parts, more buttons): half of it
    # leaves room for those, and -32 is still handled if other apps of the OA share the quota.
    pacing = Pacing(per_chat_interval=0.0, overall_limit=2000, overall_window=60.0)
    delivered_by_storing = False

    def __init__(self, settings: Settings, *, timeout: httpx.Timeout | float = TIMEOUT) -> None:
        self._settings = settings
        self._timeout = timeout
        self._lock = threading.Lock()  # one call at a time on the loop
        # Parts of a message already sent when a later part must wait: a retry in this process
        # goes on from there instead of sending them twice.
        self._progress: dict[int, tuple[int, str | None]] = {}
        # The access token and when it expires, read once and kept until nearly then: reading
        # the row for every message was a transaction (three round trips) on each reply's way
        # out. A token renewed meanwhile by another process is refused once, and the refusal
        # finds the new one (`_with_token`).
        self._token: tuple[str, datetime] | None = None
        self._open()

    def _open(self) -> None:
        self._pid = os.getpid()
        self._runner = asyncio.Runner()
        # Made at the first call: the API process only verifies and parses, with no client.
        self._client: ZaloClient | None = None

    def close(self) -> None:
        with self._lock:
            if self._pid == os.getpid() and self._client is not None:
                self._runner.run(self._client.aclose())
            self._runner.close()

    def _run(self, call: Callable[[ZaloClient], Coroutine[Any, Any, T]]) -> T:
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's loop is not its own
                self._open()
            if self._client is None:
                self._client = ZaloClient(
                    app_id=self._settings.zalo_app_id,
                    app_secret=self._settings.zalo_app_secret,
                    api_url=self._settings.zalo_api_url,
                    oauth_url=self._settings.zalo_oauth_url,
                    zns_url=self._settings.zalo_zns_url,
                    timeout=self._timeout,
                )
            return self._runner.run(call(self._client))

    # --- In ------------------------------------------------------------------------------------

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        events.verify(
            headers,
            body,
            app_id=self._settings.zalo_app_id,
            oa_secret=self._settings.zalo_oa_secret,
        )

    def parse(self, body: bytes) -> list[Inbound | Receipt]:
        return events.parse(body)

    def prepare(self, inbound: Inbound, *, conversation_id: int) -> Inbound:
        return inbound  # a tap arrives as the payload's text: nothing to look up or answer

    def fetch(self, attachment: Attachment) -> bytes:
        """A photo from Zalo's CDN, whose links do not last: the gateway keeps a copy."""
        url = attachment.ref
        if not url:
            raise Undeliverable("a photo without its URL")
        limit = self._settings.max_photo_bytes
        try:
            return self._run(lambda client: client.download(url, limit=limit))
        except MediaGone as exc:
            raise Undeliverable(f"Zalo no longer has this photo ({exc})") from exc
        except ZaloUnavailable as exc:
            raise RetryLater(f"Zalo's file server did not answer ({exc})", after=0) from exc

    # --- Out -----------------------------------------------------------------------------------

    def send(self, outgoing: Outgoing) -> Sent:
        """The reply as consultation messages (or a ZNS template outside the 7-day window)."""
        try:
            try:
                return self._send_parts(outgoing)
            except ZaloError as exc:
                if exc.code not in WINDOW_CLOSED:
                    raise
                return self._send_template(outgoing, exc.code)
        except tokens.NotConnected as exc:
            self._progress.pop(outgoing.message_id, None)
            raise Undeliverable(NOT_CONNECTED) from exc
        except ZaloUnavailable as exc:
            raise RetryLater(f"Zalo did not answer ({exc})", after=0) from exc
        except ZaloError as exc:
            if exc.code == RATE_LIMITED:
                raise RetryLater("Zalo's rate limit (-32)", after=RATE_LIMIT_WAIT) from exc
            self._progress.pop(outgoing.message_id, None)
            raise Undeliverable(_refusal(exc)) from exc

    def _send_parts(self, outgoing: Outgoing) -> Sent:
        parts = render(outgoing.reply)
        recipient = _recipient(outgoing)
        done, last_id = self._progress.pop(outgoing.message_id, (0, None))
        for index in range(done, len(parts)):
            try:
                sent = self._send_part(recipient, parts[index])
            except (ZaloError, ZaloUnavailable):
                if index > 0:
                    self._progress[outgoing.message_id] = (index, last_id)
                raise
            last_id = last_id if sent is None else sent
        if last_id is None:
            raise Undeliverable("nothing in this reply could be sent on Zalo")
        # Receipts name each part; the last part's id is kept, and the parts arrive in order.
        return Sent(external_id=last_id or None)

    def _send_part(self, recipient: dict[str, str], part: Part) -> str | None:
        """Zalo's id for the part sent ("" if it gave none); None for a picture left out."""
        if isinstance(part, Image):
            message = self._image_message(part.url)
        elif isinstance(part, Document):
            message = self._document_message(part.url)
        else:
            message = part
        if message is None:
            return None
        return self._with_token(
            lambda client, token: client.send_message(token, recipient=recipient, message=message)
        )

    def _image_message(self, url: str) -> dict[str, Any] | None:
        """The media template of a picture: an absolute URL as it is, a photo stored here
        uploaded first (Zalo cannot reach our URLs, and our photos' links are private). A
        picture Zalo refuses is left out, so the text and buttons still go."""
        if url.startswith("https://"):
            element: dict[str, str] = {"media_type": "image", "url": url}
        else:
            name = url.removeprefix(photos.URL_PREFIX)
            path = photos.path_of(name) if photos.is_photo_url(url) else None
            if path is None:
                logger.warning("zalo: an image that is not a stored photo is left out")
                return None
            data, kind = path.read_bytes(), name.rsplit(".", 1)[-1]
            try:
                attachment_id = self._with_token(
                    lambda client, token: client.upload_image(
                        token, data=data, filename=name, media_type=photos.MEDIA_TYPES[kind]
                    )
                )
            except ZaloError as exc:
                if isinstance(exc, RenewalRefused) or exc.code in {*TOKEN_REFUSED, RATE_LIMITED}:
                    raise  # not about the photo: the whole message waits or fails
                logger.warning("zalo: the photo was refused (%s), sent without it", exc)
                return None
            element = {"media_type": "image", "attachment_id": attachment_id}
        return {
            "attachment": {
                "type": "template",
                "payload": {"template_type": "media", "elements": [element]},
            }
        }

    def _document_message(self, url: str) -> dict[str, Any] | None:
        """A stored evidence PDF, uploaded and sent as a file; left out (the text still goes)
        when it is not stored here or Zalo refuses it."""
        name = url.removeprefix(photos.DOCUMENT_URL_PREFIX)
        path = photos.document_path(name) if photos.is_document_url(url) else None
        if path is None:
            logger.warning("zalo: a document that is not stored here is left out")
            return None
        data = path.read_bytes()
        try:
            token = self._with_token(
                lambda client, access: client.upload_file(
                    access, data=data, filename="ket-qua-xu-ly.pdf"
                )
            )
        except ZaloError as exc:
            if isinstance(exc, RenewalRefused) or exc.code in {*TOKEN_REFUSED, RATE_LIMITED}:
                raise  # not about the file: the whole message waits or fails
            logger.warning("zalo: the document was refused (%s), sent without it", exc)
            return None
        return {"attachment": {"type": "file", "payload": {"token": token}}}

    def _send_template(self, outgoing: Outgoing, code: int) -> Sent:
        """Outside the 7-day window: the configured ZNS template, to the phone the person gave."""
        reason = WINDOW_CLOSED_REASON.format(code=code)
        template_id = self._settings.zalo_zns_template_id
        if not template_id:
            raise Undeliverable(f"{reason}; chưa cấu hình mẫu ZNS (TIEPDAN_ZALO_ZNS_TEMPLATE_ID).")
        phone = _consenting_phone(outgoing.channel_user_id)
        if phone is None:
            raise Undeliverable(f"{reason}; người dân không để lại số điện thoại để gửi ZNS.")
        data = zns_data(outgoing.reply)
        try:
            msg_id = self._with_token(
                lambda client, token: client.send_template(
                    token,
                    phone=phone,
                    template_id=template_id,
                    template_data=data,
                    tracking_id=str(outgoing.message_id),
                )
            )
        except ZaloError as exc:
            if exc.code == RATE_LIMITED or isinstance(exc, RenewalRefused):
                raise
            refused = f"ZNS cũng từ chối (lỗi {exc.code}: {exc.message})"
            raise Undeliverable(f"{reason}; {refused}.") from exc
        logger.info("zalo: message %s sent as ZNS template", outgoing.message_id)
        return Sent(external_id=msg_id or None)

    # --- Tokens --------------------------------------------------------------------------------

    def _with_token(self, call: Callable[[ZaloClient, str], Coroutine[Any, Any, T]]) -> T:
        """The call with the current access token; once more with a renewed one if Zalo
        refuses it. A second refusal is final (no loop): the caller reports it."""
        token = self._access_token()
        try:
            return self._run(lambda client: call(client, token))
        except ZaloError as exc:
            if exc.code not in TOKEN_REFUSED:
                raise
            logger.info("zalo: access token refused (%s); renewing it once", exc.code)
        self._token = None  # the next call reads the row again
        fresh = tokens.renew_refused(self.exchange, refused=token)
        return self._run(lambda client: call(client, fresh))

    def _access_token(self) -> str:
        kept = self._token
        if kept is not None and tokens.usable(kept[1]):
            return kept[0]
        token, expires_at = tokens.access_token_until(self.exchange)
        self._token = (token, expires_at)
        return token

    def exchange(self, refresh_token: str) -> TokenPair:
        """Spend the refresh token with Zalo (tokens.py holds the row's lock meanwhile)."""
        try:
            return self._run(lambda client: client.refresh_token(refresh_token))
        except ZaloError as exc:
            raise RenewalRefused(exc.code, exc.message) from exc

    def renew_tokens_if_expiring(self) -> bool:
        """Beat's renewal, before the access token expires, even when nobody writes."""
        return tokens.renew_if_expiring(self.exchange, within=RENEW_WITHIN)


# --- What a reply becomes on Zalo ----------------------------------------------------------------


def render(reply: Reply) -> list[Part]:
    """The consultation messages of a reply, in order: the picture, the text in parts of at
    most 2,000 characters, the buttons on the last part (and more buttons after it)."""
    parts: list[Part] = [Image(reply.image)] if reply.image else []
    parts += [Document(url) for url in reply.documents]
    texts = split_text(reply.text or "")
    buttons = _buttons(reply.buttons)
    groups = [buttons[i : i + MAX_BUTTONS] for i in range(0, len(buttons), MAX_BUTTONS)]
    if groups and not texts:
        texts = [BUTTONS_TEXT]
    for index, text in enumerate(texts):
        message: dict[str, Any] = {"text": text}
        if groups and index == len(texts) - 1:
            message["attachment"] = _button_template(groups[0])
        parts.append(message)
    for group in groups[1:]:
        parts.append({"text": MORE_BUTTONS_TEXT, "attachment": _button_template(group)})
    return parts


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Cut a text into parts of at most `limit` characters, at a line break or a space in the
    second half of a part when there is one."""
    parts, rest = [], text.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = window.rfind("\n")
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut < limit // 2:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


def _buttons(buttons: list[dict[str, str]]) -> list[dict[str, str]]:
    """Rasa's buttons as `oa.query.hide` buttons: a tap sends the payload, unseen in the chat."""
    result = []
    for button in buttons:
        payload, title = button.get("payload") or "", button.get("title") or ""
        if not payload or len(payload) > MAX_BUTTON_PAYLOAD:
            logger.warning("zalo: a button whose payload Zalo cannot carry is left out")
            continue
        if len(title) > MAX_BUTTON_TITLE:
            title = title[: MAX_BUTTON_TITLE - 1] + "…"
        result.append({"title": title or payload, "type": "oa.query.hide", "payload": payload})
    return result


def _button_template(buttons: list[dict[str, str]]) -> dict[str, Any]:
    return {"type": "template", "payload": {"buttons": buttons}}


def _recipient(outgoing: Outgoing) -> dict[str, str]:
    """A reply to their latest message when there is one (Zalo counts it as a reply, 1.8),
    else to the person."""
    if outgoing.in_reply_to and events.is_zalo_message_id(outgoing.in_reply_to):
        return {"message_id": outgoing.in_reply_to}
    return {"user_id": outgoing.channel_user_id}


def zns_data(reply: Reply) -> dict[str, str]:
    """The ZNS template's parameters: the ticket the message is about, and the message.

    The template configured (TIEPDAN_ZALO_ZNS_TEMPLATE_ID) must take these two parameters,
    `ticket_code` and `message`, when Zalo approves it."""
    text = reply.text or ""
    code = _TICKET_CODE.search(text)
    message = text if len(text) <= ZNS_MESSAGE_MAX else text[: ZNS_MESSAGE_MAX - 1] + "…"
    return {"ticket_code": code.group(0) if code else "", "message": message}


def _consenting_phone(user_id: str) -> str | None:
    """The phone of the contact behind this Zalo user, if they gave it with consent, in the
    international form ZNS takes (84…, no +)."""
    with session_scope() as session:
        phone = session.scalar(
            select(Contact.phone)
            .join(ContactIdentity, ContactIdentity.contact_id == Contact.id)
            .where(
                ContactIdentity.channel == Channel.ZALO.value,
                ContactIdentity.channel_user_id == user_id,
                Contact.phone_consent.is_(True),
                Contact.phone.is_not(None),
            )
            .limit(1)
        )
    if not phone:
        return None
    digits = re.sub(r"\D", "", phone)
    return "84" + digits[1:] if digits.startswith("0") else digits


def _refusal(exc: ZaloError) -> str:
    """Why a message could not go, in words staff can act on."""
    if isinstance(exc, RenewalRefused):
        return (
            f"Zalo không gia hạn được token của OA (lỗi {exc.code}: {exc.message}): quản trị "
            "viên cần kết nối lại bằng `tiepdan zalo connect`."
        )
    if exc.code in TOKEN_REFUSED:
        return (
            f"Zalo vẫn từ chối access token sau khi đã gia hạn (lỗi {exc.code}: {exc.message}): "
            "quản trị viên cần kiểm tra quyền của ứng dụng và kết nối lại OA."
        )
    return f"Zalo từ chối tin nhắn (lỗi {exc.code}: {exc.message})."
