"""Delivering stored replies on their channel: in order per person, paced, retried, sent once.

Every outbound message (a bot reply, a staff reply, a status notice, a rating request) is a row
that moves queued → sent → delivered/seen, or failed with a reason. One worker at a time
delivers to a person (the conversation's delivery lease), oldest first; a message that must
wait holds back the ones after it, so they never arrive out of order. Before each send the
attempt is counted and committed, so a message that keeps failing ends as failed, and after the
send the message is marked sent, so a second run of the task sends nothing twice.

What remains: a worker killed after the channel took a message but before it was marked sent
sends it again when the lease expires. No channel here offers a way to ask whether a message
arrived, so that window (the time of one HTTP answer) cannot be closed from our side.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, Row, TextClause, bindparam, or_, select, update
from sqlalchemy import text as sql
from sqlalchemy.orm import Session, aliased

from bot import conversations
from bot.conversations import Lease
from bot.models import Conversation, Direction, Message, MessageState
from core import metrics, ratelimit
from core.celery_app import celery_app, enqueue
from core.database import get_engine, relaxed_transaction, session_scope, single_statement, utcnow
from core.errors import NotFound
from integrations import registry
from integrations.channel import (
    ChannelAdapter,
    Outgoing,
    Receipt,
    Reply,
    RetryLater,
    Undeliverable,
)

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
FIRST_RETRY_SECONDS = 5.0
LAST_RETRY_SECONDS = 3600.0
# A wait shorter than this is slept in the worker; a longer one is a task queued for later.
LONGEST_SLEEP = 3.0


def queue_delivery(conversation_id: int, *, countdown: float | None = None) -> None:
    """Queue the delivery of the conversation's waiting messages (after they are committed)."""
    try:
        celery_app.send_task(
            "bot.deliver_messages",
            kwargs={"conversation_id": conversation_id},
            countdown=countdown,
        )
    except Exception:  # the rows are committed: beat's sweep queues them again
        logger.exception("could not queue delivery to conversation %s", conversation_id)


def retry_delay(attempts: int) -> float:
    """Exponential backoff: 5 s, 10 s, 20 s … up to an hour."""
    return min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), LAST_RETRY_SECONDS)


@dataclass(frozen=True)
class DeliveryRun:
    sent: int = 0
    busy: bool = False  # another worker holds the conversation
    again_in: float | None = None  # seconds until the next message may go


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


def deliver_waiting(conversation_id: int, *, taken: Taken | None = None) -> DeliveryRun:
    """Send the conversation's queued messages, oldest first, as far as the channel allows
    (`taken`: the delivery lease and the first message, when the caller has them already)."""
    taken = taken or take_delivery(conversation_id)
    if taken is None:
        return DeliveryRun(busy=True)
    sent = 0
    with conversations.held(taken.lease) as lease:
        item = taken.item
        while item is not None:
            outgoing, channel = item.outgoing, item.channel
            now = utcnow()
            if item.due is not None and item.due > now:
                return DeliveryRun(sent=sent, again_in=(item.due - now).total_seconds())
            try:
                adapter = registry.get_adapter(channel)
            except NotFound:
                _mark_failed(
                    outgoing.message_id, f"the channel '{channel}' is switched off", channel
                )
                item = _next_queued(conversation_id)
                continue
            # Counted as it was read: the chat's interval had passed then.
            last_delivered = item.last_delivered if item.attempts is None else None
            wait = _wait_for_turn(adapter, last_delivered)
            if wait > 0:
                if item.attempts is not None:
                    _count_attempt(outgoing.message_id, by=-1)  # not tried after all
                return DeliveryRun(sent=sent, again_in=wait)
            lease.keep()
            if _send_one(adapter, item, lease):  # the lease given back if nothing is due
                sent += 1
            elif _still_queued(outgoing.message_id):
                return DeliveryRun(sent=sent, again_in=_seconds_until_due(outgoing.message_id))
            else:
                lease.release_if_done()
            if not lease.held:
                break
            item = _next_queued(conversation_id)
    return DeliveryRun(sent=sent)


# --- Taking the delivery lease, and the first message with it ----------------------------------
#
# On PostgreSQL each of these is one statement (no fsync: see relaxed_transaction) that also
# reads the oldest queued message, where it goes and when the last one went, so a reply's way
# out waits for one round trip where it waited for three (take, read; give back, take, read).
# Elsewhere (SQLite) the same steps run one by one.

# With the lease (the CTE `leased`): the oldest queued message, and its attempt counted when
# it is due and the chat's interval has passed since the last message went (`:paced_since`;
# NULL counts nothing), as _send_one would count it after _wait_for_turn.
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
        return Taken(Lease(conversation_id, "delivery"), _next_queued(conversation_id))
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


def _next_queued(conversation_id: int) -> Queued | None:
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


def _wait_for_turn(adapter: ChannelAdapter, last_delivered: datetime | None) -> float:
    """Sleep (LONGEST_SLEEP at most, in all) until the next message may go: 0 when it may, its
    place in the channel's overall rate taken; else the seconds until it may, for a later job.

    The chat's interval first, then the overall rate, asked again after each sleep: a refused
    place is not taken, so a message that slept into the next window must take its place there,
    or the window would let more through than the rate allows."""
    slept = 0.0
    wait = 0.0
    if last_delivered is not None and adapter.pacing.per_chat_interval:
        since = (utcnow() - last_delivered).total_seconds()
        wait = max(0.0, adapter.pacing.per_chat_interval - since)
    while True:
        if wait > 0:
            if slept + wait > LONGEST_SLEEP:
                return wait
            time.sleep(wait)
            slept += wait
        wait = _overall_wait(adapter)
        if wait == 0:
            return 0.0


def _overall_wait(adapter: ChannelAdapter) -> float:
    """Seconds to wait for the channel's overall rate, shared by every worker; 0: a place was
    taken."""
    pacing = adapter.pacing
    if not pacing.overall_limit:
        return 0.0
    return ratelimit.wait_time(
        f"send:{adapter.name}", limit=pacing.overall_limit, window=pacing.overall_window
    )


def _send_one(adapter: ChannelAdapter, item: Queued, lease: Lease) -> bool:
    """Send one message; True when the channel took it (it is marked sent, and the lease given
    back with the mark when nothing else is due)."""
    outgoing = item.outgoing
    attempts = item.attempts
    if attempts is None:
        attempts = _count_attempt(outgoing.message_id)
    try:
        sent = adapter.send(outgoing)
    except Undeliverable as exc:
        _mark_failed(outgoing.message_id, exc.reason, adapter.name)
        return False
    except RetryLater as exc:
        _schedule_retry(
            outgoing.message_id, attempts, exc.reason, after=exc.after, channel=adapter.name
        )
        return False
    except Exception as exc:  # a bug or an unexpected answer: retried, and logged for a person
        logger.exception("sending message %s failed", outgoing.message_id)
        _schedule_retry(
            outgoing.message_id,
            attempts,
            f"{exc.__class__.__name__}: {exc}",
            channel=adapter.name,
        )
        return False
    _mark_sent(outgoing, sent.external_id, lease)
    metrics.count("messages", channel=adapter.name, direction="outbound", state="sent")
    return True


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


def _mark_sent(outgoing: Outgoing, external_id: str | None, lease: Lease) -> None:
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


def _count_attempt(message_id: int, *, by: int = 1) -> int:
    with relaxed_transaction() as connection:
        return int(
            connection.execute(
                update(Message)
                .where(Message.id == message_id)
                .values(attempts=Message.attempts + by)
                .returning(Message.attempts)
            ).scalar_one()
        )


def _schedule_retry(
    message_id: int, attempts: int, reason: str, *, after: float = 0, channel: str | None = None
) -> None:
    if attempts >= MAX_ATTEMPTS:
        _mark_failed(message_id, f"gave up after {attempts} attempts: {reason}", channel)
        return
    due = utcnow() + timedelta(seconds=max(after, retry_delay(attempts)))
    with get_engine().begin() as connection:
        connection.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(next_attempt_at=due, failure_reason=reason)
        )
    logger.info("message %s: retry at %s (%s)", message_id, due.isoformat(), reason)


def _mark_failed(message_id: int, reason: str, channel: str | None = None) -> None:
    logger.warning("message %s not delivered: %s", message_id, reason)
    metrics.count("messages", channel=channel, direction="outbound", state="failed")
    with get_engine().begin() as connection:
        connection.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(state=MessageState.FAILED, failure_reason=reason[:2000], next_attempt_at=None)
        )


def _still_queued(message_id: int) -> bool:
    with session_scope() as session:
        return session.scalar(select(Message.state).where(Message.id == message_id)) == (
            MessageState.QUEUED
        )


def _seconds_until_due(message_id: int) -> float:
    with session_scope() as session:
        due = session.scalar(select(Message.next_attempt_at).where(Message.id == message_id))
    return max((due - utcnow()).total_seconds(), 0.0) if due else 0.0


# --- Writing a message out -----------------------------------------------------------------


def add_outbound(
    session: Session,
    conversation: Conversation,
    reply: Reply,
    *,
    channel_message_id: str,
    ticket_code: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Message:
    """An outbound message in the conversation, on its way to the person: `sent` where storing
    is delivering (the web chat), else queued, and its delivery queued after the commit."""
    try:
        by_storing = registry.get_adapter(conversation.channel).delivered_by_storing
    except NotFound:  # the channel was switched off since the person wrote
        by_storing = False
    message = Message(
        conversation_id=conversation.id,
        direction=Direction.OUTBOUND,
        channel_message_id=channel_message_id,
        text=reply.text,
        content={
            "buttons": reply.buttons,
            "image": reply.image,
            "documents": reply.documents,
            **(extra or {}),
        },
        state=MessageState.SENT if by_storing else MessageState.QUEUED,
        ticket_code=ticket_code,
    )
    session.add(message)
    conversation.last_message_at = utcnow()
    metrics.record_after_commit(
        session, "messages", channel=conversation.channel, direction="outbound", state=message.state
    )
    if not by_storing:
        enqueue(session, "bot.deliver_messages", conversation_id=conversation.id)
    return message


# --- What the channels say back, and the sweep ------------------------------------------------


_RECEIPT_FROM = {
    "delivered": (MessageState.SENT,),
    "seen": (MessageState.SENT, MessageState.DELIVERED),
}


def record_receipt(channel: str, receipt: Receipt) -> int:
    """A delivery or read receipt moves our sent messages on; how many it named."""
    state = MessageState(receipt.state)
    with get_engine().begin() as connection:
        moved = connection.execute(
            update(Message)
            .where(
                Message.external_id.in_(receipt.external_ids),
                Message.direction == Direction.OUTBOUND,
                Message.state.in_(_RECEIPT_FROM[receipt.state]),
                Message.conversation_id.in_(
                    select(Conversation.id).where(
                        Conversation.channel == channel,
                        Conversation.channel_user_id == receipt.channel_user_id,
                    )
                ),
            )
            .values(state=state)
        )
    metrics.count(
        "messages", moved.rowcount, channel=channel, direction="outbound", state=state.value
    )
    return int(moved.rowcount)


def due_conversations(*, quiet_for: float = 20, limit: int = 500) -> list[int]:
    """Conversations with queued messages that are due and that no job seems to be handling."""
    now = utcnow()
    with session_scope() as session:
        return list(
            session.scalars(
                select(Message.conversation_id)
                .where(
                    Message.state == MessageState.QUEUED,
                    Message.direction == Direction.OUTBOUND,
                    or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
                    Message.created_at < now - timedelta(seconds=quiet_for),
                )
                .distinct()
                .limit(limit)
            )
        )
