"""The delivery queue's statements: the delivery lease taken with the oldest queued message,
the hand-over from the worker that answered, a message marked sent, an attempt counted.

The rules of delivery (order, pacing, retries) are in bot/delivery.py, which runs these; here is
only how each step reads and writes the rows, in as few round trips as the database allows: a
reply's way out waits for each of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, Row, TextClause, bindparam, select, update
from sqlalchemy import text as sql
from sqlalchemy.orm import aliased

from bot import conversations
from bot.conversations import Lease
from bot.models import Conversation, Direction, Message, MessageState
from core.database import get_engine, relaxed_transaction, single_statement, utcnow
from core.errors import NotFound
from integrations import registry
from integrations.channel import Outgoing, Reply


@dataclass(frozen=True)
class Queued:
    """The oldest queued message: what it is and where it goes, when it is due, and when the
    conversation's last message went."""

    outgoing: Outgoing
    channel: str
    due: datetime | None
    last_delivered: datetime | None
    # Its attempts, when the statement that read it also counted this one (it was due, and
    # the chat's interval had passed); None: still to count.
    attempts: int | None = None


@dataclass(frozen=True)
class Taken:
    """The delivery lease, and the oldest queued message read with it."""

    lease: Lease
    item: Queued | None


@dataclass(frozen=True)
class Handover:
    """What a worker that answered a person's messages does next."""

    done: bool  # no message waits for its answer: the answer lease was given back
    delivery: Taken | None = None  # the delivery lease, unless another worker holds it


# On PostgreSQL each of these is one statement (no fsync: see relaxed_transaction) that also
# reads the oldest queued message, where it goes and when the last one went, so a reply's way
# out waits for one round trip where it waited for three (take, read; give back, take, read).
# Elsewhere (SQLite) the same steps run one by one.

# With the lease (the CTE `leased`): the oldest queued message, and its attempt counted when
# it is due and the chat's interval has passed since the last message went (`:paced_since`;
# NULL counts nothing), as bot/delivery.py would count it after the chat's pacing.
_LEASED_AND_OLDEST = """
    , oldest AS (
        SELECT queued.id, queued.text, queued.content, queued.next_attempt_at,
            (SELECT answered.channel_message_id FROM messages AS answered
             WHERE answered.conversation_id = queued.conversation_id
                AND answered.direction = :inbound AND answered.id < queued.id
                AND answered.channel_message_id IS NOT NULL
             ORDER BY answered.id DESC LIMIT 1) AS in_reply_to
        FROM messages AS queued JOIN leased ON queued.conversation_id = leased.id
        WHERE leased.delivering AND queued.direction = :outbound AND queued.state = :queued
        ORDER BY queued.id LIMIT 1
    ), counted AS (
        UPDATE messages SET attempts = messages.attempts + 1
        FROM oldest, leased
        WHERE messages.id = oldest.id
            AND (oldest.next_attempt_at IS NULL OR oldest.next_attempt_at <= :now)
            AND :paced_since IS NOT NULL
            AND (leased.last_delivered_at IS NULL OR leased.last_delivered_at <= :paced_since)
        RETURNING messages.attempts
    )
    SELECT leased.channel, leased.channel_user_id, leased.last_delivered_at, leased.delivering,
        oldest.id, oldest.text, oldest.content, oldest.next_attempt_at, oldest.in_reply_to,
        counted.attempts
    FROM leased LEFT JOIN oldest ON true LEFT JOIN counted ON true
"""
_LEASE_PARAMETERS: tuple[BindParameter[Any], ...] = (
    bindparam("now", type_=Conversation.delivery_lease_until.type),
    bindparam("until", type_=Conversation.delivery_lease_until.type),
    bindparam("paced_since", type_=Conversation.last_delivered_at.type),
    bindparam("inbound", Direction.INBOUND.value),
    bindparam("outbound", Direction.OUTBOUND.value),
    bindparam("queued", MessageState.QUEUED.value),
)

_TAKE_DELIVERY_POSTGRESQL = sql(
    """
    WITH leased AS (
        UPDATE conversations SET delivery_lease_until = :until
        WHERE id = :conversation_id
            AND (delivery_lease_until IS NULL OR delivery_lease_until < :now)
        RETURNING id, channel, channel_user_id, last_delivered_at, true AS delivering
    )
    """
    + _LEASED_AND_OLDEST
).bindparams(*_LEASE_PARAMETERS)

# The answer lease given back unless a message still waits for its answer (as
# Lease.release_if_done), and then the delivery lease taken in the same statement, when free.
_HAND_OVER_POSTGRESQL = sql(
    """
    WITH leased AS (
        UPDATE conversations SET answer_lease_until = NULL,
            delivery_lease_until = CASE
                WHEN delivery_lease_until IS NULL OR delivery_lease_until < :now THEN :until
                ELSE delivery_lease_until END
        WHERE id = :conversation_id AND NOT EXISTS (
            SELECT FROM messages WHERE conversation_id = :conversation_id
                AND direction = :inbound AND state = :received)
        RETURNING id, channel, channel_user_id, last_delivered_at,
            delivery_lease_until = :until AS delivering
    )
    """
    + _LEASED_AND_OLDEST
).bindparams(*_LEASE_PARAMETERS, bindparam("received", MessageState.RECEIVED.value))


def take_delivery(conversation_id: int, *, channel: str | None = None) -> Taken | None:
    """The delivery lease and the oldest queued message; None while another worker holds it.
    Knowing the `channel`, the message's attempt is counted in the same statement when it may
    go at once."""
    if get_engine().dialect.name != "postgresql":
        if not conversations.take_lease(conversation_id, "delivery"):
            return None
        return Taken(Lease(conversation_id, "delivery"), next_queued(conversation_id))
    row = _lease_statement(_TAKE_DELIVERY_POSTGRESQL, conversation_id, channel)
    return None if row is None else _taken(conversation_id, row)


def hand_over(answering: Lease, *, channel: str) -> Handover:
    """After an answer on `channel`: give the answer lease back unless more messages wait for
    theirs, and then take the delivery lease, so the replies go out from this worker at once."""
    if get_engine().dialect.name != "postgresql":
        if not answering.release_if_done():
            return Handover(done=False)
        return Handover(done=True, delivery=take_delivery(answering.conversation_id))
    row = _lease_statement(_HAND_OVER_POSTGRESQL, answering.conversation_id, channel)
    if row is None:
        return Handover(done=False)
    answering.given_back()
    if not row.delivering:
        return Handover(done=True)
    return Handover(done=True, delivery=_taken(answering.conversation_id, row))


def _lease_statement(
    statement: TextClause, conversation_id: int, channel: str | None
) -> Row[Any] | None:
    now = utcnow()
    paced_since = None
    try:
        if channel is not None:
            paced_since = now - timedelta(
                seconds=registry.get_adapter(channel).pacing.per_chat_interval
            )
    except NotFound:  # switched off: the loop marks the message failed, uncounted
        pass
    parameters = {
        "conversation_id": conversation_id,
        "now": now,
        "until": now + timedelta(seconds=conversations.LEASE_SECONDS),
        "paced_since": paced_since,
    }
    with relaxed_transaction() as connection:
        return connection.execute(statement, parameters).first()


def _taken(conversation_id: int, row: Row[Any]) -> Taken:
    item = None
    if row.id is not None:
        item = Queued(
            _outgoing(conversation_id, row),
            row.channel,
            row.next_attempt_at,
            row.last_delivered_at,
            attempts=row.attempts,
        )
    return Taken(Lease(conversation_id, "delivery"), item)


# The inbound message a reply answers: the latest one before it with the channel's own id.
_IN_REPLY_TO = aliased(Message)


def next_queued(conversation_id: int) -> Queued | None:
    """The oldest queued message, where it goes, when it is due, and the last delivery."""
    in_reply_to = (
        select(_IN_REPLY_TO.channel_message_id)
        .where(
            _IN_REPLY_TO.conversation_id == conversation_id,
            _IN_REPLY_TO.direction == Direction.INBOUND,
            _IN_REPLY_TO.id < Message.id,
            _IN_REPLY_TO.channel_message_id.is_not(None),
        )
        .order_by(_IN_REPLY_TO.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    # Plain columns, no ORM objects: this runs twice per message delivered.
    query = (
        select(
            Message.id,
            Message.text,
            Message.content,
            Message.next_attempt_at,
            Conversation.channel,
            Conversation.channel_user_id,
            Conversation.last_delivered_at,
            in_reply_to.label("in_reply_to"),
        )
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Message.conversation_id == conversation_id,
            Message.direction == Direction.OUTBOUND,
            Message.state == MessageState.QUEUED,
        )
        .order_by(Message.id)
        .limit(1)
    )
    with single_statement() as connection:
        row = connection.execute(query).first()
    if row is None:
        return None
    return Queued(
        _outgoing(conversation_id, row), row.channel, row.next_attempt_at, row.last_delivered_at
    )


def _outgoing(conversation_id: int, row: Row[Any]) -> Outgoing:
    content = row.content or {}
    return Outgoing(
        message_id=row.id,
        conversation_id=conversation_id,
        channel_user_id=row.channel_user_id,
        reply=Reply(
            text=row.text,
            buttons=content.get("buttons") or [],
            image=content.get("image"),
            documents=content.get("documents") or [],
        ),
        in_reply_to=row.in_reply_to,
    )


# Sent: the message marked, the conversation's last delivery set, and the delivery lease given
# back when nothing else is due (as Lease.release_if_done), in one durable statement where a
# transaction took four round trips and another statement a fifth. Every part of it sees the
# rows as they were before it, so the message just sent is left out of "still waiting" by id.
_MARK_SENT_POSTGRESQL = sql(
    """
    WITH sent AS (
        UPDATE messages
        SET state = :sent, external_id = :external_id, next_attempt_at = NULL,
            failure_reason = NULL
        WHERE id = :message_id
    )
    UPDATE conversations
    SET last_delivered_at = :now,
        delivery_lease_until = CASE WHEN EXISTS (
            SELECT FROM messages
            WHERE conversation_id = :conversation_id AND direction = :outbound
                AND state = :queued AND id <> :message_id
                AND (next_attempt_at IS NULL OR next_attempt_at <= :now)
        ) THEN delivery_lease_until END
    WHERE id = :conversation_id
    RETURNING delivery_lease_until IS NULL AS given_back
    """
).bindparams(
    bindparam("now", type_=Conversation.last_delivered_at.type),
    bindparam("sent", MessageState.SENT.value),
    bindparam("outbound", Direction.OUTBOUND.value),
    bindparam("queued", MessageState.QUEUED.value),
)


def mark_sent(outgoing: Outgoing, external_id: str | None, lease: Lease) -> None:
    """Mark a message sent, and give the delivery lease back when nothing else is due."""
    now = utcnow()
    engine = get_engine()
    if engine.dialect.name == "postgresql":
        with single_statement() as connection:
            given_back = connection.execute(
                _MARK_SENT_POSTGRESQL,
                {
                    "message_id": outgoing.message_id,
                    "conversation_id": outgoing.conversation_id,
                    "external_id": external_id,
                    "now": now,
                },
            ).scalar_one()
        if given_back:
            lease.given_back()
        return
    with engine.begin() as connection:
        connection.execute(
            update(Message)
            .where(Message.id == outgoing.message_id)
            .values(
                state=MessageState.SENT,
                external_id=external_id,
                next_attempt_at=None,
                failure_reason=None,
            )
        )
        connection.execute(
            update(Conversation)
            .where(Conversation.id == outgoing.conversation_id)
            .values(last_delivered_at=now)
        )
    lease.release_if_done()


def count_attempt(message_id: int, *, by: int = 1) -> int:
    with relaxed_transaction() as connection:
        return int(
            connection.execute(
                update(Message)
                .where(Message.id == message_id)
                .values(attempts=Message.attempts + by)
                .returning(Message.attempts)
            ).scalar_one()
        )
