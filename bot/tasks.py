"""Celery tasks of the conversation: thin, idempotent, ids only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot import delivery, gateway, notify, privacy, retention
from bot.conversations import stale_received
from core.celery_app import celery_app, db_task, enqueue
from core.database import session_scope, utcnow
from core.settings import get_settings

# A conversation another worker holds is tried again this soon.
BUSY_RETRY_SECONDS = 1.0


@db_task("bot.notify_contact")
def notify_contact(session: Session, *, event_id: int) -> int:
    return notify.notify_contact(session, event_id=event_id)


@db_task("bot.notify_missed_events")
def notify_missed_events(session: Session) -> int:
    """Queue again the notices whose job was lost (a broker outage, a failed run)."""
    ids = notify.missed_notices(session, now=utcnow())
    for event_id in ids:
        enqueue(session, "bot.notify_contact", event_id=event_id)
    return len(ids)


@celery_app.task(name="bot.answer_messages", bind=True, max_retries=None)
def answer_messages(self: Any, *, conversation_id: int) -> int | None:
    """Answer a person's messages that came by webhook, in order."""
    answered = gateway.answer_waiting(conversation_id)
    if answered is None:  # another worker has the conversation; its loop may just be ending
        raise self.retry(countdown=BUSY_RETRY_SECONDS)
    return answered


@celery_app.task(name="bot.deliver_messages", bind=True, max_retries=None)
def deliver_messages(self: Any, *, conversation_id: int) -> int:
    """Send a person's queued messages on their channel, in order."""
    run = delivery.deliver_waiting(conversation_id)
    if run.busy:
        raise self.retry(countdown=BUSY_RETRY_SECONDS)
    if run.again_in is not None:
        delivery.queue_delivery(conversation_id, countdown=run.again_in)
    return run.sent


@celery_app.task(name="bot.answer_stale_messages")
def answer_stale_messages() -> int:
    """Queue again the answers of messages whose job was lost (a broker outage, a dead worker)."""
    ids = stale_received(older_than=utcnow() - timedelta(seconds=30))
    for conversation_id in ids:
        gateway.queue_answer(conversation_id)
    return len(ids)


@celery_app.task(name="bot.deliver_due_messages")
def deliver_due_messages() -> int:
    """Queue the delivery of messages that are due and that no job is handling."""
    ids = delivery.due_conversations()
    for conversation_id in ids:
        delivery.queue_delivery(conversation_id)
    return len(ids)


@db_task("bot.erase_rasa_trackers")
def erase_rasa_trackers(session: Session) -> int:
    """Erase the Rasa conversations of forgotten people that Rasa could not take at the time."""
    return privacy.erase_pending_trackers(session).erased


@celery_app.task(name="bot.purge_old_transcripts")
def purge_old_transcripts() -> int:
    """Purge chat messages (and chat photos no ticket holds) older than the retention period,
    one batch per transaction; a no-op when TIEPDAN_TRANSCRIPT_RETENTION_MONTHS is 0."""
    months = get_settings().transcript_retention_months
    if not months:
        return 0
    before = retention.months_before(utcnow(), months)
    purged, after_id = 0, 0
    next_id: int | None = 0
    while next_id is not None:
        after_id = next_id
        with session_scope() as session:
            batch = retention.purge_messages(session, before=before, after_id=after_id)
        purged, next_id = purged + batch.purged, batch.next_after_id
    with session_scope() as session:
        retention.purge_photos(session, before=before)
    return purged
