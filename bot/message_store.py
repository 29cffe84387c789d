"""Storing a chat turn: the inbound message before anything else, then how it was handled.

This is all the database work of a turn, and most of the gateway's overhead over a direct
call to Rasa (bench/chat.py). On PostgreSQL each half of a turn is one statement, run on its
own (autocommit): one round trip and one commit, where a transaction of two statements takes
four round trips (BEGIN, the two, COMMIT). One statement is atomic, so nothing is ever
half-written. SQLite, the embedded default, has no UPDATE or INSERT inside WITH; there the same
steps run one by one in a transaction, which costs little without a network in between.
Both are plain SQL on the tables: the ORM's bookkeeping cost half a millisecond per statement.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam
from sqlalchemy import text as sql
from sqlalchemy.exc import IntegrityError

from bot.models import Conversation, Direction, Message, MessageState
from core import metrics
from core.database import get_engine, session_scope, single_statement, utcnow
from core.errors import Forbidden
from feedback.language import VIETNAMESE, language_shown
from integrations.channel import Inbound, Reply

MESSAGES = cast(Table, Message.__table__)
# Parameters that need the column's own type: a timestamp stored in UTC, and JSON.
_NOW = bindparam("now", type_=MESSAGES.c.created_at.type)
_CONTENT = bindparam("content", type_=MESSAGES.c.content.type)

_STORE_INBOUND_POSTGRESQL = sql(
    """
    WITH touched AS (
        UPDATE conversations
        SET last_message_at = :now, language = COALESCE(:language, language)
        WHERE channel = :channel AND channel_user_id = :channel_user_id
        RETURNING id, handed_off, rasa_restart_due, language
    ), inserted AS (
        INSERT INTO messages
            (conversation_id, direction, channel_message_id, text, payload, content, state,
             created_at)
        SELECT id, :direction, :channel_message_id, :text, :payload, :content, :state, :now
        FROM touched
        RETURNING id, conversation_id
    )
    SELECT inserted.id, inserted.conversation_id, touched.handed_off, touched.rasa_restart_due,
        touched.language
    FROM inserted JOIN touched ON touched.id = inserted.conversation_id
    """
).bindparams(_NOW, _CONTENT)

# A sender's first message on a channel that opens conversations (Telegram, Zalo): the
# conversation is opened in the same statement when there is none, instead of a failed attempt,
# a transaction that opens it and the attempt again (two commits to wait for, where this is
# one). Two first messages at once both try to open it: the second's INSERT meets the first's
# row, does nothing, stores nothing, and that message is stored by the plain statement above.
_STORE_FIRST_INBOUND_POSTGRESQL = sql(
    """
    WITH touched AS (
        UPDATE conversations
        SET last_message_at = :now, language = COALESCE(:language, language)
        WHERE channel = :channel AND channel_user_id = :channel_user_id
        RETURNING id, handed_off, rasa_restart_due, language
    ), opened AS (
        INSERT INTO conversations
            (channel, channel_user_id, handed_off, rasa_restart_due, language, created_at,
             last_message_at)
        SELECT :channel, :channel_user_id, false, false, COALESCE(:language, :default_language),
            :now, :now
        WHERE NOT EXISTS (SELECT FROM touched)
        ON CONFLICT (channel, channel_user_id) DO NOTHING
        RETURNING id, handed_off, rasa_restart_due, language
    ), conversation AS (
        SELECT * FROM touched UNION ALL SELECT * FROM opened
    ), inserted AS (
        INSERT INTO messages
            (conversation_id, direction, channel_message_id, text, payload, content, state,
             created_at)
        SELECT id, :direction, :channel_message_id, :text, :payload, :content, :state, :now
        FROM conversation
        RETURNING id, conversation_id
    )
    SELECT inserted.id, inserted.conversation_id, conversation.handed_off,
        conversation.rasa_restart_due, conversation.language
    FROM inserted JOIN conversation ON conversation.id = inserted.conversation_id
    """
).bindparams(_NOW, _CONTENT)

_TOUCH_CONVERSATION = sql(
    """
    UPDATE conversations
    SET last_message_at = :now, language = COALESCE(:language, language)
    WHERE channel = :channel AND channel_user_id = :channel_user_id
    RETURNING id, handed_off, rasa_restart_due, language
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
    language: str = "vi"  # the conversation's, this message included (Conversation.language)


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
        "content": inbound_content(inbound),
        "direction": Direction.INBOUND.value,
        "state": MessageState.RECEIVED.value,
        # A message that shows no language (a button, a number) keeps the conversation's.
        "language": language_shown(inbound.text),
    }
    try:
        stored = _store_inbound(values, opening=inbound.opens_conversation)
        if stored is None and inbound.opens_conversation:
            _open_conversation(inbound)  # SQLite; or another first message opened it meanwhile
            stored = _store_inbound(values)
    except IntegrityError:
        return None
    if stored is None:
        raise Forbidden("Unknown conversation.")
    metrics.count("messages", channel=inbound.channel, direction="inbound", state="received")
    return stored


def _store_inbound(values: dict[str, Any], *, opening: bool = False) -> Stored | None:
    """The message, in its sender's conversation; None when there is no such conversation
    (`opening`: on PostgreSQL, one is opened, so None only when another message just did)."""
    engine = get_engine()
    if engine.dialect.name == "postgresql":
        statement = _STORE_FIRST_INBOUND_POSTGRESQL if opening else _STORE_INBOUND_POSTGRESQL
        parameters = {**values, "default_language": VIETNAMESE} if opening else values
        with single_statement() as connection:
            row = connection.execute(statement, parameters).one_or_none()
        return None if row is None else Stored(*row)
    with engine.begin() as connection:
        touched = connection.execute(_TOUCH_CONVERSATION, values).one_or_none()
        if touched is None:
            return None
        conversation_id, handed_off, rasa_restart_due, language = touched
        message_id = connection.execute(
            _INSERT_INBOUND, {**values, "conversation_id": conversation_id}
        ).scalar_one()
    return Stored(message_id, conversation_id, bool(handed_off), bool(rasa_restart_due), language)


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


def inbound_content(inbound: Inbound) -> dict[str, Any]:
    """What an inbound message carries besides its text and payload, as stored in `content`."""
    content: dict[str, Any] = {}
    if inbound.metadata:
        content["metadata"] = inbound.metadata
    if inbound.attachments:
        content["attachments"] = [a.as_dict() for a in inbound.attachments]
    if inbound.unsupported:
        content["unsupported"] = inbound.unsupported
    return content


def store_outcome(
    stored: Stored,
    state: MessageState,
    replies: list[Reply],
    ticket_code: str | None = None,
    *,
    reply_state: MessageState = MessageState.SENT,
    channel: str | None = None,
) -> None:
    """Mark the inbound message with how it was handled, and store the replies: `sent` where
    storing is delivering (the web chat), `queued` for a channel's delivery (bot/delivery.py)."""
    values = {
        "now": utcnow(),
        "message_id": stored.message_id,
        "conversation_id": stored.conversation_id,
        "state": state.value,
        "ticket_code": ticket_code,
        "direction": Direction.OUTBOUND.value,
        "reply_state": reply_state.value,
    }
    rows = [
        {"text": reply.text, "content": {"buttons": reply.buttons, "image": reply.image}}
        for reply in replies
    ]
    engine = get_engine()
    if engine.dialect.name == "postgresql":
        with single_statement() as connection:
            connection.execute(_STORE_OUTCOME_POSTGRESQL, {**values, "replies": json.dumps(rows)})
    else:
        with engine.begin() as connection:
            connection.execute(_MARK_INBOUND, values)
            if rows:
                connection.execute(_INSERT_REPLY, [{**values, **row} for row in rows])
    metrics.count(
        "messages", len(rows), channel=channel, direction="outbound", state=reply_state.value
    )
