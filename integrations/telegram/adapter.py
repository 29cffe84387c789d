"""Telegram as a channel: webhooks in, python-telegram-bot's `Bot` out.

Updates arrive as webhooks (no polling): checked against the secret Telegram echoes in
X-Telegram-Bot-Api-Secret-Token, read into python-telegram-bot's typed `Update`, and turned into
the gateway's messages. Only private chats are answered; a group, a channel or an edited message
gets silence, never a ticket. Rasa's buttons become an inline keyboard whose callback_data is a
short key (integrations/telegram/buttons.py): Telegram carries 64 bytes, a payload may be longer.

python-telegram-bot is asynchronous and the worker is not: each process keeps one event loop and
one initialized `Bot` (one getMe per process, one connection pool), and runs each call on it.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
import warnings
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any, TypeVar

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from core.errors import AppError, Unauthorized
from core.errors import Forbidden as ForbiddenRequest
from core.settings import Settings
from feedback import attachments
from integrations.channel import (
    STALE_BUTTON,
    Attachment,
    Capabilities,
    Channel,
    Inbound,
    Outgoing,
    Pacing,
    Receipt,
    RetryLater,
    Sent,
    Undeliverable,
)
from integrations.telegram import buttons

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# What Telegram sends us (setWebhook's allowed_updates): the rest is not asked for.
ALLOWED_UPDATES = ["message", "callback_query"]
TEXT_LIMIT = 4096  # characters in one message
READ_TIMEOUT = 10.0  # seconds for an answer of the Bot API
# Sticker, voice... arrive in Message fields of these names: stored, and answered politely.
UNSUPPORTED_KINDS = (
    "sticker",
    "voice",
    "audio",
    "video",
    "video_note",
    "animation",
    "document",
    "poll",
    "dice",
    "game",
    "venue",
)
TAP_NOTED = "Đã nhận lựa chọn của bạn."
TAP_STALE = "Lựa chọn này đã được ghi nhận trước đó."

T = TypeVar("T")

# RetryAfter.retry_after is an int in v22 and becomes a timedelta in v23; both are read below.
# python-telegram-bot warns about it on every flood-control answer, itself included.
warnings.filterwarnings("ignore", message=".*retry_after.*", category=PTBDeprecationWarning)


class TelegramAdapter:
    name = Channel.TELEGRAM.value
    capabilities = Capabilities(buttons=True, images=True, locations=True, max_text=TEXT_LIMIT)
    # Telegram's flood limits: about one message a second to one chat, thirty a second in all.
    pacing = Pacing(per_chat_interval=1.0, overall_limit=30, overall_window=1.0)
    delivered_by_storing = False

    def __init__(self, settings: Settings) -> None:
        self._secret = settings.telegram_webhook_secret.encode()
        self._max_photo_bytes = settings.max_photo_bytes
        root = settings.telegram_api_url.rstrip("/")
        self.bot = Bot(
            settings.telegram_token,
            base_url=f"{root}/bot",
            base_file_url=f"{root}/file/bot",
            request=HTTPXRequest(
                connection_pool_size=8, read_timeout=READ_TIMEOUT, connect_timeout=5
            ),
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._initialized = False
        self._lock = threading.Lock()

    # --- In: the webhook -----------------------------------------------------------------

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        given = headers.get(SECRET_HEADER)
        if not given:
            raise Unauthorized(f"Missing {SECRET_HEADER}.")
        if not hmac.compare_digest(given.encode(), self._secret):
            raise ForbiddenRequest(f"Wrong {SECRET_HEADER}.")

    def parse(self, body: bytes) -> list[Inbound | Receipt]:
        data = json.loads(body)
        if not isinstance(data, dict) or "update_id" not in data:
            raise ValueError("an update is a JSON object with an update_id")
        update = Update.de_json(data, self.bot)
        if update.callback_query is not None:
            return self._tap(update)
        message = update.message
        if message is None or message.chat.type != "private":
            return []  # an edited message, a group or a channel: silence, never a ticket
        return [self._message(update.update_id, message)]

    def _tap(self, update: Update) -> list[Inbound | Receipt]:
        query = update.callback_query
        assert query is not None
        keyboard = query.message
        if keyboard is None or keyboard.chat.type != "private":
            return []
        return [
            Inbound(
                channel=self.name,
                channel_user_id=str(keyboard.chat.id),
                channel_message_id=str(update.update_id),
                metadata={
                    "callback_query_id": query.id,
                    "button_key": query.data or "",
                    "keyboard_message_id": keyboard.message_id,
                },
            )
        ]

    def _message(self, update_id: int, message: Message) -> Inbound:
        inbound = Inbound(
            channel=self.name,
            channel_user_id=str(message.chat.id),
            channel_message_id=str(update_id),
            text=message.text or message.caption,
        )
        if message.text and message.text.split()[0] in ("/start", "/batdau"):
            inbound.text, inbound.payload = None, "/greet"
        elif message.photo:
            inbound.attachments = [Attachment(kind="photo", ref=self._photo_file(message))]
        elif message.document and (message.document.mime_type or "").startswith("image/"):
            inbound.attachments = [Attachment(kind="photo", ref=message.document.file_id)]
        elif message.location:
            inbound.attachments = [
                Attachment(
                    kind="location",
                    latitude=message.location.latitude,
                    longitude=message.location.longitude,
                )
            ]
        elif message.contact and message.contact.user_id == message.chat.id:
            inbound.text = message.contact.phone_number  # their own number, shared on request
        elif not message.text:
            kind = next((k for k in UNSUPPORTED_KINDS if getattr(message, k, None)), "other")
            inbound.unsupported = kind
        return inbound

    def _photo_file(self, message: Message) -> str:
        """The largest size of the photo that fits the limit (Telegram sends several)."""
        sizes = sorted(message.photo, key=lambda p: p.file_size or 0)
        fitting = [p for p in sizes if (p.file_size or 0) <= self._max_photo_bytes]
        return (fitting or sizes)[-1].file_id

    # --- The worker: before answering, and fetching a photo --------------------------------

    def prepare(self, inbound: Inbound, *, conversation_id: int) -> Inbound:
        """A tap: its key becomes the payload (once), the tap is answered and the keyboard goes,
        so the same question cannot be answered twice."""
        key = inbound.metadata.get("button_key")
        if key is None:
            return inbound
        payload = buttons.claim(key, conversation_id=conversation_id)
        inbound.payload = payload if payload is not None else STALE_BUTTON
        chat_id = int(inbound.channel_user_id)
        keyboard_id = inbound.metadata.get("keyboard_message_id")
        try:
            self._run(
                lambda: self.bot.answer_callback_query(
                    inbound.metadata["callback_query_id"],
                    text=TAP_NOTED if payload is not None else TAP_STALE,
                )
            )
            if keyboard_id is not None:
                self._run(
                    lambda: self.bot.edit_message_reply_markup(
                        chat_id=chat_id, message_id=keyboard_id, reply_markup=None
                    )
                )
        except TelegramError as exc:  # an old tap (Telegram answers 400): the answer still goes
            logger.info("could not acknowledge a tap: %s", exc)
        return inbound

    def fetch(self, attachment: Attachment) -> bytes:
        assert attachment.ref is not None
        try:
            file = self._run(lambda: self.bot.get_file(attachment.ref or ""))
            if file.file_size and file.file_size > self._max_photo_bytes:
                raise AppError(
                    attachments.TOO_LARGE.format(limit=self._max_photo_bytes // 1_000_000),
                    status_code=413,
                )
            return bytes(self._run(file.download_as_bytearray))
        except TelegramError as exc:
            raise _failure(exc) from exc

    # --- Out ------------------------------------------------------------------------------

    def send(self, outgoing: Outgoing) -> Sent:
        chat_id = int(outgoing.channel_user_id)
        reply = outgoing.reply
        parts = _split(reply.text or "", TEXT_LIMIT) if reply.text else []
        markup = self._keyboard(outgoing) if reply.buttons else None
        last: Message | None = None
        try:
            if reply.image:
                last = self._run(partial(self._send_photo, chat_id, reply.image))
            for url in reply.documents:
                last = self._run(partial(self._send_document, chat_id, url)) or last
            for index, part in enumerate(parts):
                keyboard = markup if index == len(parts) - 1 else None
                last = self._run(
                    partial(
                        self.bot.send_message, chat_id=chat_id, text=part, reply_markup=keyboard
                    )
                )
            if last is None and markup is not None:  # buttons without a text
                last = self._run(
                    partial(self.bot.send_message, chat_id=chat_id, text="…", reply_markup=markup)
                )
        except TelegramError as exc:
            raise _failure(exc) from exc
        return Sent(external_id=str(last.message_id) if last else None)

    def _keyboard(self, outgoing: Outgoing) -> InlineKeyboardMarkup:
        keys = buttons.keys_for(
            outgoing.conversation_id, outgoing.message_id, outgoing.reply.buttons
        )
        return InlineKeyboardMarkup(
            [
                [InlineKeyboardButton(button["title"][:64], callback_data=key)]
                for button, key in zip(outgoing.reply.buttons, keys, strict=True)
            ]
        )

    async def _send_document(self, chat_id: int, url: str) -> Message | None:
        """An evidence PDF stored here, as a file in the chat; anything else is left out."""
        name = url.removeprefix(attachments.DOCUMENT_URL_PREFIX)
        path = attachments.document_path(name) if attachments.is_document_url(url) else None
        if path is None:
            logger.warning("telegram: a document that is not stored here is left out")
            return None
        return await self.bot.send_document(
            chat_id=chat_id, document=path.read_bytes(), filename="ket-qua-xu-ly.pdf"
        )

    async def _send_photo(self, chat_id: int, url: str) -> Message:
        """Our own photos go as bytes (Telegram cannot reach a relative URL), others by URL."""
        name = url.removeprefix(attachments.URL_PREFIX)
        path = attachments.path_of(name) if url.startswith(attachments.URL_PREFIX) else None
        photo: Any = path.read_bytes() if path is not None else url
        return await self.bot.send_photo(chat_id=chat_id, photo=photo)

    def set_webhook(self, url: str, *, allowed_updates: list[str]) -> None:
        """Point Telegram at `url`, with the secret it must send back on every update."""
        self._run(
            partial(
                self.bot.set_webhook,
                url=url,
                secret_token=self._secret.decode(),
                allowed_updates=allowed_updates,
            )
        )

    # --- The process's event loop ----------------------------------------------------------

    def _run(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run one Bot call on this process's loop, initializing the Bot on first use."""
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                self._loop = asyncio.new_event_loop()
            if not self._initialized:  # a getMe per process, not per message
                self._loop.run_until_complete(self.bot.initialize())
                self._initialized = True
            return self._loop.run_until_complete(call())

    def close(self) -> None:
        with self._lock:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.run_until_complete(self.bot.shutdown())
                self._loop.close()
            self._loop = None
            self._initialized = False


def _failure(exc: TelegramError) -> RetryLater | Undeliverable:
    """What a Bot API error means for delivery."""
    if isinstance(exc, RetryAfter):  # flood control: wait as long as Telegram says
        after = exc.retry_after
        seconds = after if isinstance(after, int) else after.total_seconds()
        return RetryLater(str(exc), after=float(seconds))
    if isinstance(exc, Forbidden):
        return Undeliverable(
            f"Telegram refused: {exc.message} (the person may have blocked the bot)"
        )
    if isinstance(exc, InvalidToken):  # the operator's to fix; keep the message meanwhile
        return RetryLater(f"Telegram rejected the bot token: {exc.message}", after=300)
    if isinstance(exc, BadRequest):
        return Undeliverable(f"Telegram refused: {exc.message}")
    if isinstance(exc, TimedOut | NetworkError):
        return RetryLater(f"Telegram unreachable: {exc.message}", after=5)
    return RetryLater(f"Telegram error: {exc}", after=5)


def _split(text: str, limit: int) -> list[str]:
    """Parts of at most `limit` characters, cut at a line break or a space where there is one."""
    parts = []
    while len(text) > limit:
        cut = max(text.rfind("\n", 0, limit), text.rfind(" ", 0, limit))
        cut = cut if cut > limit // 2 else limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return [*parts, text] if text else parts
