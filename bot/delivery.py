"""Delivering stored replies on their channel: in order per person, paced, retried, sent once.

Every outbound message (a bot reply, a staff reply, a status notice, a rating request) is a row
that moves queued → sent → delivered/seen, or failed with a reason. One worker at a time
delivers to a person (the conversation's delivery lease), oldest first; a message that must
wait holds back the ones after it, so they never arrive out of order. Before each send the
attempt is counted and committed, so a message that keeps failing ends as failed, and after the
send the message is marked sent, so a second run of the task sends nothing twice.

How each step reads and writes the rows (in as few round trips as it can) is in
bot/delivery_queue.py.

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

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from bot import conversations, delivery_queue
from bot.conversations import Lease
from bot.models import Conversation, Direction, Message, MessageState
from core import metrics, ratelimit
from core.celery_app import enqueue, publish
from core.database import get_engine, session_scope, utcnow
from core.errors import NotFound
from integrations import registry
from integrations.channel import (
    ChannelAdapter,
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
    # The rows are committed: if the broker cannot take the job for a minute, beat's sweep
    # (bot.deliver_due_messages) queues them again.
    publish("bot.deliver_messages", countdown=countdown, conversation_id=conversation_id)


def retry_delay(attempts: int) -> float:
    """Exponential backoff: 5 s, 10 s, 20 s … up to an hour."""
    return min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), LAST_RETRY_SECONDS)


@dataclass(frozen=True)
class DeliveryRun:
    sent: int = 0
    busy: bool = False  # another worker holds the conversation
    again_in: float | None = None  # seconds until the next message may go


def deliver_waiting(
    conversation_id: int, *, taken: delivery_queue.Taken | None = None
) -> DeliveryRun:
    """Send the conversation's queued messages, oldest first, as far as the channel allows
    (`taken`: the delivery lease and the first message, when the caller has them already)."""
    taken = taken or delivery_queue.take_delivery(conversation_id)
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
                item = delivery_queue.next_queued(conversation_id)
                continue
            # Counted as it was read: the chat's interval had passed then.
            last_delivered = item.last_delivered if item.attempts is None else None
            wait = _wait_for_turn(adapter, last_delivered)
            if wait > 0:
                if item.attempts is not None:
                    delivery_queue.count_attempt(outgoing.message_id, by=-1)  # not tried after all
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
            item = delivery_queue.next_queued(conversation_id)
    return DeliveryRun(sent=sent)


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


def _send_one(adapter: ChannelAdapter, item: delivery_queue.Queued, lease: Lease) -> bool:
    """Send one message; True when the channel took it (it is marked sent, and the lease given
    back with the mark when nothing else is due)."""
    outgoing = item.outgoing
    attempts = item.attempts
    if attempts is None:
        attempts = delivery_queue.count_attempt(outgoing.message_id)
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
    delivery_queue.mark_sent(outgoing, sent.external_id, lease)
    metrics.count("messages", channel=adapter.name, direction="outbound", state="sent")
    return True


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
