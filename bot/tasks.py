"""Celery tasks of the conversation: thin, idempotent, ids only."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot import notify
from core.celery_app import db_task


@db_task("bot.notify_contact")
def notify_contact(session: Session, *, event_id: int) -> int:
    return notify.notify_contact(session, event_id=event_id)
