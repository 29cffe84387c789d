"""Conversations and their stored messages: finding them, reading them, marking them, and
the leases that keep one worker at a time on a conversation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, exists, or_, select, update
from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from bot.message_store import Stored
from bot.models import Conversation, Direction, Message, MessageState
from core.database import (
    get_engine,
    relaxed_transaction,
    session_scope,
    single_statement,
    utcnow,
)
from integrations.channel import Attachment, Inbound, Reply


def find_conversation(session: Session, channel: str, channel_user_id: str) -> Conversation | None:
    return session.scalar(
        select(Conversation).where(
            Conversation.channel == channel, Conversation.channel_user_id == channel_user_id
        )
    )


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


def reply_of(message: Message) -> Reply:
    """A stored outbound message as the reply it was."""
    content = message.content or {}
    return Reply(
        text=message.text,
        buttons=content.get("buttons") or [],
        image=content.get("image"),
        documents=content.get("documents") or [],
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


def set_rasa_restart_due(session: Session, conversation_id: int, *, due: bool) -> None:
    """Flag (or clear) that Rasa must forget this conversation's intake (see the model)."""
    session.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(rasa_restart_due=due)
    )


def recent_fallback_ticket(
    session: Session, conversation_id: int, *, since: datetime
) -> str | None:
    """The code of the ticket this conversation's messages went to while Rasa was down, if one
    did since `since` (the fallback adds a burst's later messages to it)."""
    return session.scalar(
        select(Message.ticket_code)
        .where(
            Message.conversation_id == conversation_id,
            Message.direction == Direction.INBOUND,
            Message.state == MessageState.FALLBACK,
            Message.ticket_code.is_not(None),
            Message.created_at >= since,
        )
        .order_by(Message.id.desc())
        .limit(1)
    )


# --- Leases: one worker at a time answers a person, one delivers to them ----------------------

# Long enough for one step of the holder's loop (a Rasa turn, one send: each has a 10 s
# timeout), which renews it; short enough that a dead holder delays the next worker little.
LEASE_SECONDS = 30
_LEASE_COLUMNS = {
    "answer": Conversation.answer_lease_until,
    "delivery": Conversation.delivery_lease_until,
}


def take_lease(conversation_id: int, kind: str, *, seconds: float = LEASE_SECONDS) -> bool:
    """Take the conversation's `answer` or `delivery` lease; False while another worker holds
    it. A worker that dies holding one only delays the next by the lease's length."""
    column = _LEASE_COLUMNS[kind]
    now = utcnow()
    with relaxed_transaction() as connection:
        taken = connection.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id, or_(column.is_(None), column < now))
            .values({column.key: now + timedelta(seconds=seconds)})
        )
    return taken.rowcount == 1


def renew_lease(conversation_id: int, kind: str, *, seconds: float = LEASE_SECONDS) -> None:
    """Extend a lease this worker holds, before a step of its loop that may take long."""
    column = _LEASE_COLUMNS[kind]
    with relaxed_transaction() as connection:
        connection.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values({column.key: utcnow() + timedelta(seconds=seconds)})
        )


def release_lease(conversation_id: int, kind: str) -> None:
    column = _LEASE_COLUMNS[kind]
    with relaxed_transaction() as connection:
        connection.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values({column.key: None})
        )


# What a worker holding a lease still has to do: messages received and not answered, or
# replies queued and due. A lease is released only when there is none, in the same statement, so
# a message stored a moment before is never left to a job that finds the lease taken.
_STILL_WAITING = {
    "answer": lambda conversation_id, _now: exists().where(
        Message.conversation_id == conversation_id,
        Message.direction == Direction.INBOUND,
        Message.state == MessageState.RECEIVED,
    ),
    "delivery": lambda conversation_id, now: exists().where(
        Message.conversation_id == conversation_id,
        Message.direction == Direction.OUTBOUND,
        Message.state == MessageState.QUEUED,
        or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
    ),
}


class Lease:
    """A lease held for a loop: renewed when half of it has passed, given back when the work is
    done (or, whatever happens, at the end of `holding`)."""

    def __init__(self, conversation_id: int, kind: str) -> None:
        self.conversation_id, self.kind = conversation_id, kind
        self.held = True
        self._renewed = time.monotonic()

    def keep(self) -> None:
        if time.monotonic() - self._renewed > LEASE_SECONDS / 2:
            renew_lease(self.conversation_id, self.kind)
            self._renewed = time.monotonic()

    def release_if_done(self) -> bool:
        """Give the lease back unless more work waits; whether it was given back."""
        column = _LEASE_COLUMNS[self.kind]
        waiting = _STILL_WAITING[self.kind](self.conversation_id, utcnow())
        with relaxed_transaction() as connection:
            released = connection.execute(
                update(Conversation)
                .where(Conversation.id == self.conversation_id, ~waiting)
                .values({column.key: None})
            )
        self.held = released.rowcount == 0
        return not self.held

    def given_back(self) -> None:
        """A statement of the holder's own gave the lease back (with other work, in one)."""
        self.held = False


@contextmanager
def holding(conversation_id: int, kind: str) -> Iterator[Lease | None]:
    """The lease for the block, or None when another worker holds it."""
    if not take_lease(conversation_id, kind):
        yield None
        return
    with held(Lease(conversation_id, kind)) as lease:
        yield lease


@contextmanager
def held(lease: Lease) -> Iterator[Lease]:
    """A lease taken already (with other work, in one statement), given back at the end of the
    block if the holder has not given it back."""
    try:
        yield lease
    finally:
        if lease.held:
            release_lease(lease.conversation_id, lease.kind)


# The answer lease and the oldest message waiting for its answer, in one statement: a task
# starts with one round trip instead of two. The lease's write needs no fsync (see
# relaxed_transaction), and a row comes back only when the lease was taken.
_ANSWERING_POSTGRESQL = sql(
    """
    WITH leased AS (
        UPDATE conversations SET answer_lease_until = :until
        WHERE id = :conversation_id
            AND (answer_lease_until IS NULL OR answer_lease_until < :now)
        RETURNING id, channel, channel_user_id, handed_off, rasa_restart_due, language
    )
    SELECT waiting.id, waiting.text, waiting.payload, waiting.channel_message_id,
        waiting.content, leased.channel, leased.channel_user_id, leased.handed_off,
        leased.rasa_restart_due, leased.language
    FROM leased LEFT JOIN LATERAL (
        SELECT id, text, payload, channel_message_id, content FROM messages
        WHERE conversation_id = leased.id AND direction = :inbound AND state = :received
        ORDER BY id LIMIT 1
    ) AS waiting ON true
    """
).bindparams(
    bindparam("now", type_=Conversation.answer_lease_until.type),
    bindparam("until", type_=Conversation.answer_lease_until.type),
    bindparam("inbound", Direction.INBOUND.value),
    bindparam("received", MessageState.RECEIVED.value),
)


@contextmanager
def answering(conversation_id: int) -> Iterator[tuple[Lease | None, tuple[Stored, Inbound] | None]]:
    """The answer lease for the block and the oldest message waiting for its answer; (None,
    None) when another worker holds the lease."""
    if get_engine().dialect.name != "postgresql":
        with holding(conversation_id, "answer") as lease:
            yield lease, None if lease is None else next_received(conversation_id)
        return
    now = utcnow()
    with relaxed_transaction() as connection:
        row = connection.execute(
            _ANSWERING_POSTGRESQL,
            {
                "conversation_id": conversation_id,
                "now": now,
                "until": now + timedelta(seconds=LEASE_SECONDS),
            },
        ).first()
    if row is None:
        yield None, None
        return
    with held(Lease(conversation_id, "answer")) as lease:
        yield lease, None if row.id is None else _waiting(conversation_id, row)


def next_received(conversation_id: int) -> tuple[Stored, Inbound] | None:
    """The oldest message of the conversation still waiting for its answer."""
    # Plain columns, no ORM objects: this runs twice per message a worker answers.
    query = (
        select(
            Message.id,
            Message.text,
            Message.payload,
            Message.channel_message_id,
            Message.content,
            Conversation.channel,
            Conversation.channel_user_id,
            Conversation.handed_off,
            Conversation.rasa_restart_due,
            Conversation.language,
        )
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Message.conversation_id == conversation_id,
            Message.direction == Direction.INBOUND,
            Message.state == MessageState.RECEIVED,
        )
        .order_by(Message.id)
        .limit(1)
    )
    with single_statement() as connection:
        row = connection.execute(query).first()
    return None if row is None else _waiting(conversation_id, row)


def _waiting(conversation_id: int, row: Row[Any]) -> tuple[Stored, Inbound]:
    """A message waiting for its answer, from the columns `next_received` reads."""
    content = row.content or {}
    inbound = Inbound(
        channel=row.channel,
        channel_user_id=row.channel_user_id,
        text=row.text,
        payload=row.payload,
        channel_message_id=row.channel_message_id,
        metadata=content.get("metadata") or {},
        attachments=[Attachment.from_dict(a) for a in content.get("attachments") or []],
        unsupported=content.get("unsupported"),
    )
    stored = Stored(
        message_id=row.id,
        conversation_id=conversation_id,
        handed_off=bool(row.handed_off),
        rasa_restart_due=bool(row.rasa_restart_due),
        language=row.language,
    )
    return stored, inbound


def stale_received(*, older_than: datetime, limit: int = 500) -> list[int]:
    """Conversations with a message still unanswered after its job should have run."""
    with session_scope() as session:
        return list(
            session.scalars(
                select(Message.conversation_id)
                .where(
                    Message.state == MessageState.RECEIVED,
                    Message.direction == Direction.INBOUND,
                    Message.created_at < older_than,
                )
                .distinct()
                .limit(limit)
            )
        )
