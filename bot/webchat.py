"""The web chat's conversations: sessions this server issues, messages in, the history out.

The routes are in bot/webchat_api.py; the widget and its demo page in integrations/webchat/.
"""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import gateway
from bot.conversations import conversation_messages, record_rejected_upload, reply_of
from bot.gateway import PHOTO_QUOTA, SLOW_DOWN
from bot.models import Conversation, Direction, Message, MessageState, WebchatSession
from core import ratelimit
from core.database import session_scope, utcnow
from core.errors import Forbidden
from core.settings import get_settings
from integrations.channel import Inbound

CHANNEL = "web"
# How long a retried message waits for its first try to be answered: a turn's longest, Rasa's
# read timeout (bot/rasa_rest.py), and a margin for storing it.
FIRST_TRY_SECONDS = 15.0
# Longer than any transaction that writes a message: a message inserted this long ago is
# committed or gone (conversation_since).
SETTLE_SECONDS = 30
TOO_MANY_SESSIONS = (
    "Có quá nhiều cuộc trò chuyện mới được mở từ mạng của bạn. Bạn vui lòng thử lại sau khoảng "
    "{seconds} giây."
)


def open_webchat_session(session: Session) -> str:
    """A new web-chat session: an unguessable id bound to a conversation of its own."""
    session_id = secrets.token_urlsafe(32)
    conversation = Conversation(channel=CHANNEL, channel_user_id=session_id)
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


# --- What the routes call (each in its own transaction) ---------------------------------------


def open_session(*, ip: str) -> str:
    ratelimit.enforce(
        f"sessions:ip:{ip}", get_settings().limit_sessions_per_ip, message=TOO_MANY_SESSIONS
    )
    with session_scope() as session:
        return open_webchat_session(session)


def send(
    session_id: str,
    *,
    ip: str,
    text: str | None,
    payload: str | None,
    client_message_id: str | None = None,
) -> list[dict[str, Any]]:
    """Store the message, answer it, and return the replies.

    Over a message limit the message is refused (429) before it is stored: the person is
    told at once, and the widget keeps what they typed.

    `client_message_id` is the widget's own id for the message, sent again when it retries
    after a lost answer (a replica gone, a 502 from the proxy): the message is stored and
    answered once, and the retry gets the replies of the first try.
    """
    refuse_malformed_session_id(session_id)
    settings = get_settings()
    ratelimit.enforce(f"messages:ip:{ip}", settings.limit_messages_per_ip, message=SLOW_DOWN)
    ratelimit.enforce(
        f"messages:{CHANNEL}:{session_id}", settings.limit_messages_per_session, message=SLOW_DOWN
    )
    # Prefixed: in a conversation, outbound rows keep their own ids in the same column.
    channel_message_id = None if client_message_id is None else f"client:{client_message_id}"
    # A web chat's conversation is keyed by its session id (open_webchat_session).
    outcome = gateway.handle_inbound(
        Inbound(
            channel=CHANNEL,
            channel_user_id=session_id,
            text=text,
            payload=payload,
            channel_message_id=channel_message_id,
            opens_conversation=False,
        )
    )
    if outcome.duplicate and channel_message_id is not None:
        return _replies_already_given(session_id, channel_message_id)
    return [reply.as_dict() for reply in outcome.replies]


def _replies_already_given(session_id: str, channel_message_id: str) -> list[dict[str, Any]]:
    """The answers of an earlier try of the same message.

    The first try may still be running (on another replica): its answer is waited for, as
    long as a turn can take (Rasa's timeout). A first try still unanswered after that died
    with its server, and the message is answered here, under the conversation's lease, as
    the worker's sweep of stale messages would answer it later.
    """
    deadline = time.monotonic() + FIRST_TRY_SECONDS
    while True:
        conversation_id, state, replies = _first_try(session_id, channel_message_id)
        if state != MessageState.RECEIVED or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if state == MessageState.RECEIVED:
        gateway.answer_waiting(conversation_id)
        _, _, replies = _first_try(session_id, channel_message_id)
    return replies


def _first_try(
    session_id: str, channel_message_id: str
) -> tuple[int, MessageState | None, list[dict[str, Any]]]:
    """The conversation, the first try's state, and the replies stored after it: the outbound
    messages up to the person's next message, except those pushed later (staff replies)."""
    with session_scope() as session:
        conversation = webchat_conversation(session, session_id)
        first_try = session.scalars(
            select(Message).where(
                Message.conversation_id == conversation.id,
                Message.channel_message_id == channel_message_id,
            )
        ).one_or_none()
        if first_try is None:
            return conversation.id, None, []
        replies = []
        for message in conversation_messages(session, conversation.id, after_id=first_try.id):
            if message.direction == Direction.INBOUND:
                break
            if message.channel_message_id is None:
                replies.append(reply_of(message).as_dict())
        return conversation.id, first_try.state, replies


def history(session_id: str, *, after: int) -> list[dict[str, Any]]:
    """The session's messages after id `after`, both ways, oldest first."""
    with session_scope() as session:
        conversation = webchat_conversation(session, session_id)
        return _history_items(session, conversation.id, after=after)


def conversation_id(session_id: str) -> int:
    """The conversation behind a session id this server issued (the push's key)."""
    with session_scope() as session:
        return webchat_conversation(session, session_id).id


def conversation_history(conversation_id: int, *, after: int) -> list[dict[str, Any]]:
    """As `history`, for a session already resolved to its conversation: one query."""
    with session_scope() as session:
        return _history_items(session, conversation_id, after=after)


def conversation_since(conversation_id: int, *, after: int) -> tuple[list[dict[str, Any]], int]:
    """The conversation's messages after id `after`, and the id below which no message can
    still appear: the next read's `after`.

    A message's id is taken when it is inserted, not when it is committed: a staff reply
    inserted before a chat turn may commit after it, below an id already read. So a reader
    keeps reading the last SETTLE_SECONDS of messages again (and drops what it has sent).
    """
    with session_scope() as session:
        messages = conversation_messages(session, conversation_id, after_id=after)
        settled = utcnow() - timedelta(seconds=SETTLE_SECONDS)
        floor = max((m.id for m in messages if m.created_at <= settled), default=after)
        return [_history_item(m) for m in messages], floor


def _history_items(session: Session, conversation_id: int, *, after: int) -> list[dict[str, Any]]:
    return [
        _history_item(m) for m in conversation_messages(session, conversation_id, after_id=after)
    ]


def _history_item(m: Message) -> dict[str, Any]:
    return {
        "id": m.id,
        "direction": m.direction.value,
        "pushed": m.direction == Direction.OUTBOUND and m.channel_message_id is not None,
        **(
            reply_of(m).as_dict()
            if m.direction == Direction.OUTBOUND
            else {"text": m.text or m.payload, "buttons": [], "image": None}
        ),
    }


def check_session(session_id: str) -> None:
    """Raise when this server did not issue the session id."""
    with session_scope() as session:
        webchat_conversation(session, session_id)


def count_photo(session_id: str, *, ip: str, size: int) -> None:
    """Count a photo's bytes against the day's quotas of its session and its address."""
    settings = get_settings()
    ratelimit.enforce(
        f"photo-bytes:{CHANNEL}:{session_id}",
        settings.limit_photo_bytes_per_session,
        message=PHOTO_QUOTA,
        amount=size,
    )
    ratelimit.enforce(
        f"photo-bytes:ip:{ip}", settings.limit_photo_bytes_per_ip, message=PHOTO_QUOTA, amount=size
    )


def reject_upload(session_id: str, *, reason: str, size: int) -> None:
    """Keep a record of an upload that was refused, in the session's conversation."""
    with session_scope() as session:
        conversation = webchat_conversation(session, session_id)
        record_rejected_upload(session, conversation, reason=reason, size=size)
