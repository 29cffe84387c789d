"""The gateway between the channels and Rasa.

Every inbound message is stored and committed first; only then is anything else tried. A
channel message id seen before is a no-op, since a webhook retry is the same message. Then
the text goes to Rasa's REST channel (sender `<channel>:<user>`), and its replies are stored
and returned for delivery.

When Rasa is down or slow, the citizen still gets a polite answer. If the message reads like a
report (the NLU finds a category with some confidence), a ticket is opened from the raw text,
so nothing is lost. The next message goes to Rasa again, so the conversation resumes when it
is back.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import httpx
import yaml
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy import text as sql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.models import Conversation, Direction, Message, MessageState, WebchatSession
from core import timing
from core.database import get_engine, session_scope, utcnow
from core.errors import Forbidden
from core.settings import get_settings
from feedback import service
from feedback.auth import SERVICE
from feedback.schemas import ContactIn, TicketCreate

logger = logging.getLogger(__name__)

MAX_TEXT = 5000  # characters; a longer message is refused politely, and stored
RASA_TIMEOUT = httpx.Timeout(10.0, connect=2.0)
# A message that reads like a report, when Rasa is down, becomes a ticket above this confidence.
FALLBACK_TICKET_CONFIDENCE = 0.45
FALLBACK_MIN_LENGTH = 20

ACK_RASA_DOWN = (
    "Cảm ơn bạn đã liên hệ. Hệ thống trả lời tự động đang tạm gián đoạn; tin nhắn của bạn đã "
    "được lưu lại và cán bộ sẽ phản hồi sớm."
)
ACK_TICKET_OPENED = (
    "Cảm ơn bạn. Hệ thống trả lời tự động đang tạm gián đoạn, nhưng phản ánh của bạn đã được "
    "ghi nhận với mã {code}. Bạn có thể dùng mã này để tra cứu tình trạng xử lý."
)
ACK_HANDED_OFF = "Cán bộ đã nhận cuộc trò chuyện và sẽ trả lời bạn tại đây."
TOO_LONG = (
    "Tin nhắn dài quá {limit} ký tự nên hệ thống chưa đọc được. Bạn vui lòng tóm tắt sự việc "
    "(chuyện gì, ở đâu) trong một tin ngắn hơn."
)
EMPTY = "Bạn vui lòng nhập nội dung tin nhắn."
BAD_PAYLOAD = "Lựa chọn này không còn hiệu lực. Bạn vui lòng chọn lại hoặc nhập nội dung."


@dataclass
class Reply:
    text: str | None = None
    buttons: list[dict[str, str]] = field(default_factory=list)
    image: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.text, "buttons": self.buttons, "image": self.image}


@dataclass
class Inbound:
    channel: str
    channel_user_id: str
    text: str | None = None
    payload: str | None = None
    channel_message_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # Whether a sender never seen before starts a conversation. A web chat's conversation
    # starts with the session this server issued (open_webchat_session), so the web chat
    # says False and an id it did not issue is refused.
    opens_conversation: bool = True

    @property
    def sender_id(self) -> str:
        """Rasa's sender, as Conversation.sender_id has it: <channel>:<channel_user_id>."""
        return f"{self.channel}:{self.channel_user_id}"


@dataclass
class Outcome:
    replies: list[Reply]
    duplicate: bool = False
    ticket_code: str | None = None


# --- Web chat sessions and conversations -----------------------------------------------------


def open_webchat_session(session: Session) -> str:
    """A new web-chat session: an unguessable id bound to a conversation of its own."""
    session_id = secrets.token_urlsafe(32)
    conversation = Conversation(channel="web", channel_user_id=session_id)
    session.add(conversation)
    session.flush()
    session.add(WebchatSession(id=session_id, conversation_id=conversation.id))
    return session_id


def refuse_malformed_session_id(session_id: str) -> None:
    """An id this server cannot have issued is refused before any query."""
    if not session_id or len(session_id) > 64:
        raise Forbidden("Unknown web-chat session.")


def webchat_conversation(session: Session, session_id: str) -> Conversation:
    """The conversation behind a session id this server issued; anything else is refused."""
    refuse_malformed_session_id(session_id)
    row = session.get(WebchatSession, session_id)
    if row is None:
        raise Forbidden("Unknown web-chat session.")
    return session.get_one(Conversation, row.conversation_id)


def conversation_messages(
    session: Session, conversation_id: int, *, after_id: int = 0
) -> list[Message]:
    return list(
        session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.id > after_id)
            .order_by(Message.id)
        )
    )


def record_rejected_upload(
    session: Session, conversation: Conversation, *, reason: str, size: int
) -> None:
    """An upload that was refused is still an inbound message: kept, with the reason given."""
    session.add(
        Message(
            conversation_id=conversation.id,
            direction=Direction.INBOUND,
            text=None,
            content={"upload": {"bytes": size, "refused": reason}},
            state=MessageState.REJECTED,
        )
    )
    conversation.last_message_at = utcnow()


def find_conversation(session: Session, channel: str, channel_user_id: str) -> Conversation | None:
    return session.scalar(
        select(Conversation).where(
            Conversation.channel == channel, Conversation.channel_user_id == channel_user_id
        )
    )


# --- Storing a turn --------------------------------------------------------------------------
#
# This is all the database work of a turn, and most of the gateway's overhead over a direct
# call to Rasa (bench/chat.py). On PostgreSQL each half of a turn is one statement, run on its
# own (autocommit): one round trip and one commit, where a transaction of two statements takes
# four round trips (BEGIN, the two, COMMIT). One statement is atomic, so nothing is ever
# half-written. SQLite, the embedded default, has no UPDATE or INSERT inside WITH; there the same
# steps run one by one in a transaction, which costs little without a network in between.
# Both are plain SQL on the tables: the ORM's bookkeeping cost half a millisecond per statement.

MESSAGES = cast(Table, Message.__table__)
# Parameters that need the column's own type: a timestamp stored in UTC, and JSON.
_NOW = bindparam("now", type_=MESSAGES.c.created_at.type)
_CONTENT = bindparam("content", type_=MESSAGES.c.content.type)

_STORE_INBOUND_POSTGRESQL = sql(
    """
    WITH touched AS (
        UPDATE conversations SET last_message_at = :now
        WHERE channel = :channel AND channel_user_id = :channel_user_id
        RETURNING id, handed_off, rasa_restart_due
    ), inserted AS (
        INSERT INTO messages
            (conversation_id, direction, channel_message_id, text, payload, content, state,
             created_at)
        SELECT id, :direction, :channel_message_id, :text, :payload, :content, :state, :now
        FROM touched
        RETURNING id, conversation_id
    )
    SELECT inserted.id, inserted.conversation_id, touched.handed_off, touched.rasa_restart_due
    FROM inserted JOIN touched ON touched.id = inserted.conversation_id
    """
).bindparams(_NOW, _CONTENT)

_TOUCH_CONVERSATION = sql(
    """
    UPDATE conversations SET last_message_at = :now
    WHERE channel = :channel AND channel_user_id = :channel_user_id
    RETURNING id, handed_off, rasa_restart_due
    """
).bindparams(_NOW)

_INSERT_INBOUND = sql(
    """
    INSERT INTO messages
        (conversation_id, direction, channel_message_id, text, payload, content, state, created_at)
    VALUES
        (:conversation_id, :direction, :channel_message_id, :text, :payload, :content, :state, :now)
    RETURNING id
    """
).bindparams(_NOW, _CONTENT)

# The replies arrive as one JSON array, so that any number of them is still one statement;
# WITH ORDINALITY keeps their order in the ids.
_STORE_OUTCOME_POSTGRESQL = sql(
    """
    WITH marked AS (
        UPDATE messages SET state = :state, ticket_code = :ticket_code WHERE id = :message_id
    )
    INSERT INTO messages (conversation_id, direction, text, content, state, ticket_code, created_at)
    SELECT :conversation_id, :direction, reply.item ->> 'text', reply.item -> 'content',
        :reply_state, :ticket_code, :now
    FROM json_array_elements(CAST(:replies AS json)) WITH ORDINALITY AS reply(item, position)
    ORDER BY reply.position
    """
).bindparams(_NOW)

_MARK_INBOUND = sql(
    "UPDATE messages SET state = :state, ticket_code = :ticket_code WHERE id = :message_id"
)

_INSERT_REPLY = sql(
    """
    INSERT INTO messages (conversation_id, direction, text, content, state, ticket_code, created_at)
    VALUES (:conversation_id, :direction, :text, :content, :reply_state, :ticket_code, :now)
    """
).bindparams(_NOW, _CONTENT)


@dataclass(frozen=True)
class Stored:
    message_id: int
    conversation_id: int
    handed_off: bool  # staff have the conversation
    rasa_restart_due: bool  # see Conversation.rasa_restart_due


def store_inbound(inbound: Inbound) -> Stored | None:
    """Commit the message before anything else, and say what the rest needs to know.

    None when the channel sent this message id before: a webhook retry is a no-op, and the
    unique (conversation, channel message id) says so even for two copies at the same moment.
    """
    values = {
        "now": utcnow(),
        "channel": inbound.channel,
        "channel_user_id": inbound.channel_user_id,
        "channel_message_id": inbound.channel_message_id,
        "text": inbound.text,
        "payload": inbound.payload,
        "content": {"metadata": inbound.metadata} if inbound.metadata else {},
        "direction": Direction.INBOUND.value,
        "state": MessageState.RECEIVED.value,
    }
    try:
        stored = _store_inbound(values)
        if stored is None and inbound.opens_conversation:
            _open_conversation(inbound)
            stored = _store_inbound(values)
    except IntegrityError:
        return None
    if stored is None:
        raise Forbidden("Unknown conversation.")
    return stored


def _store_inbound(values: dict[str, Any]) -> Stored | None:
    """The message, in its sender's conversation; None when there is no such conversation."""
    engine = get_engine()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            row = connection.execute(_STORE_INBOUND_POSTGRESQL, values).one_or_none()
        return None if row is None else Stored(*row)
    with engine.begin() as connection:
        touched = connection.execute(_TOUCH_CONVERSATION, values).one_or_none()
        if touched is None:
            return None
        conversation_id, handed_off, rasa_restart_due = touched
        message_id = connection.execute(
            _INSERT_INBOUND, {**values, "conversation_id": conversation_id}
        ).scalar_one()
    return Stored(message_id, conversation_id, bool(handed_off), bool(rasa_restart_due))


def _open_conversation(inbound: Inbound) -> None:
    """A first message from a new sender. Two first messages at once both get here, and the
    second one's INSERT meets the first one's conversation: that is fine, it is there now."""
    try:
        with session_scope() as session:
            session.add(
                Conversation(channel=inbound.channel, channel_user_id=inbound.channel_user_id)
            )
    except IntegrityError:
        pass


def store_outcome(
    stored: Stored, state: MessageState, replies: list[Reply], ticket_code: str | None = None
) -> None:
    """Mark the inbound message with how it was handled, and store the replies."""
    values = {
        "now": utcnow(),
        "message_id": stored.message_id,
        "conversation_id": stored.conversation_id,
        "state": state.value,
        "ticket_code": ticket_code,
        "direction": Direction.OUTBOUND.value,
        "reply_state": MessageState.SENT.value,
    }
    rows = [
        {"text": reply.text, "content": {"buttons": reply.buttons, "image": reply.image}}
        for reply in replies
    ]
    engine = get_engine()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(_STORE_OUTCOME_POSTGRESQL, {**values, "replies": json.dumps(rows)})
        return
    with engine.begin() as connection:
        connection.execute(_MARK_INBOUND, values)
        if rows:
            connection.execute(_INSERT_REPLY, [{**values, **row} for row in rows])


# --- The inbound path ------------------------------------------------------------------------


def handle_inbound(inbound: Inbound, *, rasa_url: str | None = None) -> Outcome:
    """Store, then answer: Rasa's replies, or a fallback when Rasa cannot answer."""
    started = time.perf_counter()
    try:
        stored = store_inbound(inbound)
    finally:
        timing.record("store", time.perf_counter() - started)
    if stored is None:
        return Outcome(replies=[], duplicate=True)

    text = (inbound.text or "").strip()
    if inbound.payload is not None and not is_valid_payload(inbound.payload):
        return _finish(stored, MessageState.REJECTED, [Reply(text=BAD_PAYLOAD)])
    if inbound.payload is None and not text:
        return _finish(stored, MessageState.REJECTED, [Reply(text=EMPTY)])
    if len(text) > MAX_TEXT:
        return _finish(stored, MessageState.REJECTED, [Reply(text=TOO_LONG.format(limit=MAX_TEXT))])

    if stored.handed_off:
        return _finish(stored, MessageState.HANDED_OFF, [])

    rasa_message = inbound.payload if inbound.payload is not None else text
    url = rasa_url or get_settings().rasa_url
    try:
        if stored.rasa_restart_due:
            _restart_rasa_conversation(url, stored, inbound)
        replies = _ask_rasa(url, rasa_message, inbound)
    except RasaUnavailable as exc:
        logger.warning("Rasa unavailable for message %s: %s", stored.message_id, exc)
        return _fallback(stored, inbound, text)
    return _finish(stored, MessageState.ANSWERED, replies)


class RasaUnavailable(Exception):
    pass


@lru_cache
def _rasa_http() -> httpx.Client:
    """One client per process: a new one per turn cost ~25 ms (its TLS context and a new
    connection), measured in bench/chat.py. httpx clients are safe to share between threads."""
    return httpx.Client(timeout=RASA_TIMEOUT)


def _ask_rasa(base_url: str, message: str, inbound: Inbound) -> list[Reply]:
    body = {
        "sender": inbound.sender_id,
        "message": message,
        "metadata": {"channel": inbound.channel, **inbound.metadata},
    }
    started = time.perf_counter()
    try:
        response = _rasa_http().post(f"{base_url.rstrip('/')}/webhooks/rest/webhook", json=body)
    except httpx.HTTPError as exc:
        raise RasaUnavailable(f"{exc.__class__.__name__}: {exc}") from exc
    finally:
        timing.record("rasa", time.perf_counter() - started)
    if response.status_code >= 500:
        raise RasaUnavailable(f"HTTP {response.status_code}")
    if response.status_code != 200:
        raise RasaUnavailable(f"HTTP {response.status_code}: {response.text[:200]}")
    try:
        items = response.json()
    except ValueError as exc:
        raise RasaUnavailable("not JSON") from exc
    replies = []
    for item in items if isinstance(items, list) else []:
        buttons = [
            {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
            for b in item.get("buttons") or []
            if isinstance(b, dict)
        ]
        if item.get("text") or buttons or item.get("image"):
            replies.append(Reply(text=item.get("text"), buttons=buttons, image=item.get("image")))
    return replies


def _restart_rasa_conversation(url: str, stored: Stored, inbound: Inbound) -> None:
    """Rasa forgets what it had begun with this person, now that a ticket holds it.

    `/restart` is Rasa's own restart intent: it ends any form, clears the slots and starts a new
    session, through the same REST channel (no API token needed).
    """
    _ask_rasa(url, "/restart", inbound)
    with session_scope() as session:
        _set_rasa_restart_due(session, stored.conversation_id, due=False)


def _set_rasa_restart_due(session: Session, conversation_id: int, *, due: bool) -> None:
    session.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(rasa_restart_due=due)
    )


def _fallback(stored: Stored, inbound: Inbound, text: str) -> Outcome:
    """Rasa cannot answer: open a ticket if this reads like a report, and say so politely."""
    code = None
    if text and len(text) >= FALLBACK_MIN_LENGTH and _reads_like_a_report(text):
        with session_scope() as session:
            ticket = service.create_ticket(
                session,
                data=TicketCreate(
                    description=text,
                    channel=inbound.channel,
                    contact=ContactIn(
                        channel=inbound.channel, channel_user_id=inbound.channel_user_id
                    ),
                ),
                actor=SERVICE,
            )
            code = ticket.code
            _set_rasa_restart_due(session, stored.conversation_id, due=True)
    reply = Reply(text=ACK_TICKET_OPENED.format(code=code) if code else ACK_RASA_DOWN)
    return _finish(stored, MessageState.FALLBACK, [reply], ticket_code=code)


def _reads_like_a_report(text: str) -> bool:
    try:
        from nlu.pipeline import ModelNotTrained, get_nlu

        analysis = get_nlu().analyse(text)
    except ModelNotTrained:
        return True  # without the NLU, keep everything substantial: a person will sort it
    return (
        analysis.category != "khac" and analysis.category_confidence >= FALLBACK_TICKET_CONFIDENCE
    )


def _finish(
    stored: Stored, state: MessageState, replies: list[Reply], ticket_code: str | None = None
) -> Outcome:
    started = time.perf_counter()
    store_outcome(stored, state, replies, ticket_code)
    timing.record("finish", time.perf_counter() - started)
    return Outcome(replies=replies, ticket_code=ticket_code)


def reply_of(message: Message) -> Reply:
    content = message.content or {}
    return Reply(
        text=message.text, buttons=content.get("buttons") or [], image=content.get("image")
    )


# A button's payload: "/intent" or '/intent{"entity": value, ...}'.
_PAYLOAD = re.compile(r"^/(?P<intent>[a-z_]+)(?P<entities>\{.*\})?$")
DOMAIN_FILE = Path(__file__).resolve().parent / "rasa" / "domain.yml"


@lru_cache
def assistant_intents() -> frozenset[str]:
    """The intents of the Rasa assistant's domain: the only ones a payload may name."""
    domain = yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8"))
    return frozenset(domain["intents"])


def is_valid_payload(payload: str) -> bool:
    """A payload names one of the assistant's intents, with a JSON object of entities or none."""
    match = _PAYLOAD.match(payload) if len(payload) <= 500 else None
    if match is None or match["intent"] not in assistant_intents():
        return False
    if match["entities"] is None:
        return True
    try:
        return isinstance(json.loads(match["entities"]), dict)
    except ValueError:
        return False
