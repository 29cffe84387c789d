"""Chat transcripts are kept TIEPDAN_TRANSCRIPT_RETENTION_MONTHS, then purged (Decree 13/2023:
personal data is kept no longer than its purpose needs).

A purged message keeps its row: the conversation (and so the channel), the direction, the
state and the time, which the chat's statistics count. Its text becomes a fixed marker, and
its payload and content (buttons, a photo's address, a shared place, the channel's metadata)
go. Tickets are not transcripts: a description, its history and its photos stay as long as
the ticket does. A photo stored from a chat (or uploaded as evidence) that no ticket holds is
deleted once its file is older than the same period.

Beat runs the purge daily (`bot.purge_old_transcripts`), in batches of its own transaction,
so a long backlog never holds one large transaction.
"""

from __future__ import annotations

import calendar
import os
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Text, cast, or_, select
from sqlalchemy.orm import Session

from bot.models import Message
from feedback import attachments
from feedback.models import Ticket, TicketEvent

RETENTION_REMOVED = "[đã xoá sau thời hạn lưu trữ]"
BATCH = 500


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (the 31st becomes the month's
    last day)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


@dataclass(frozen=True)
class Batch:
    purged: int
    next_after_id: int | None  # where the next batch starts; None when the walk is over


def purge_messages(
    session: Session, *, before: datetime, after_id: int = 0, limit: int = BATCH
) -> Batch:
    """Purge the next `limit` messages written before `before` that still hold anything,
    walking ids upwards from `after_id` (the primary key's order, so each batch is cheap)."""
    rows = list(
        session.scalars(
            select(Message)
            .where(
                Message.id > after_id,
                Message.created_at < before,
                or_(
                    Message.text.is_not(None) & (Message.text != RETENTION_REMOVED),
                    Message.payload.is_not(None),
                    cast(Message.content, Text) != "{}",
                ),
            )
            .order_by(Message.id)
            .limit(limit)
        )
    )
    for message in rows:
        if message.text is not None:
            message.text = RETENTION_REMOVED
        message.payload = None
        message.content = {}
        message.failure_reason = None  # a channel's error may quote the message
    session.flush()
    return Batch(purged=len(rows), next_after_id=rows[-1].id if len(rows) == limit else None)


def purge_photos(session: Session, *, before: datetime, limit: int = BATCH) -> int:
    """Delete the stored photos older than `before` that no ticket holds (neither in its
    attachments nor as a resolution's evidence), looked up `limit` at a time; how many went."""
    directory = attachments.photo_directory()
    if not directory.is_dir():
        return 0
    cutoff = before.timestamp()
    old: dict[str, str] = {}
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.is_file() and entry.stat().st_mtime < cutoff:
                url = attachments.URL_PREFIX + entry.name
                if attachments.is_photo_url(url):
                    old[entry.name] = entry.path
    deleted = 0
    names = sorted(old)
    for start in range(0, len(names), limit):
        chunk = names[start : start + limit]
        held = _held_by_tickets(session, chunk)
        for name in chunk:
            if name not in held:
                try:
                    os.unlink(old[name])
                    deleted += 1
                except FileNotFoundError:
                    pass
    return deleted


def _held_by_tickets(session: Session, names: list[str]) -> set[str]:
    """Which of these photo file names a ticket's attachments or a ticket event names."""
    held: set[str] = set()
    for column in (Ticket.attachments, TicketEvent.data):
        as_text = cast(column, Text)
        for value in session.scalars(
            select(as_text).where(or_(*(as_text.contains(name, autoescape=True) for name in names)))
        ):
            held.update(name for name in names if name in (value or ""))
    return held
