"""Demo tickets that tell the platform's story on a first run (`tiepdan seed --demo-tickets N`).

N tickets over the 90 days before today: every category, wards across the city (the former
provinces included), every status a ticket rests in, some overdue, some rated. Each ticket lives
through the domain's own functions at the moments it happened: filed by the bot
(`service.create_ticket`), routed by the classifier (`routing.route_ticket`), triaged, started,
answered, transferred, resolved with a photo as evidence, rejected or closed by staff
(`service.perform_action`), and rated by its citizen (`citizen.rate`, where "not fixed" reopens
it). So the history, the SLA deadlines and the dashboards' figures are the platform's own.
Nothing happens after `now`: recent tickets are still open.

The jobs those steps queue (routing, notices to citizens) belong to moments that have passed and
are dropped. Each ticket is marked `demo`; `remove_demo_tickets` deletes them with their
history, ratings, notices, photos and the contacts only they used.

One ticket's life is told in feedback/demo_story.py, in the words of feedback/demo_words.yaml.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from core.celery_app import tasks_withheld
from core.settings import get_settings
from feedback import attachments
from feedback.classifier import TicketClassifier
from feedback.demo_story import DAYS, DemoReport, Story
from feedback.models import (
    Contact,
    ContactIdentity,
    Notification,
    SurveyResponse,
    Ticket,
    TicketEvent,
)

__all__ = ["DemoReport", "Removal", "create_demo_tickets", "local_days", "remove_demo_tickets"]


def create_demo_tickets(
    session: Session,
    *,
    count: int,
    classifier: TicketClassifier,
    seed: int | None = None,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> DemoReport:
    """Add `count` demo tickets filed over the 90 days before today (the same seed and day give
    the same tickets, though not the same codes: those stay unguessable). `progress` hears the
    number made so far."""
    now = now or datetime.now(UTC)
    story = Story(session, classifier=classifier, rng=random.Random(seed), now=now)
    with tasks_withheld(session):
        for made, (created, fate) in enumerate(story.schedule(count), start=1):
            story.live(created, fate)
            if progress is not None:
                progress(made)
    return story.report


# --- Removing them ----------------------------------------------------------------------------


@dataclass
class Removal:
    tickets: int
    contacts: int
    files: list[Path]

    def delete_files(self) -> None:
        """Delete the demo photos; call it once the removal is committed."""
        for path in self.files:
            path.unlink(missing_ok=True)


def remove_demo_tickets(session: Session) -> Removal:
    """Delete every demo ticket with its history, ratings and notices, and the contacts no
    other ticket has; the photos they used are returned, to delete after the commit."""
    demo = select(Ticket.id).where(Ticket.demo.is_(True))
    tickets = session.execute(
        select(Ticket.id, Ticket.contact_id, Ticket.attachments).where(Ticket.demo.is_(True))
    ).all()
    urls = [a["url"] for t in tickets for a in (t.attachments or []) if "url" in a]
    for data in session.scalars(select(TicketEvent.data).where(TicketEvent.ticket_id.in_(demo))):
        urls += (data or {}).get("attachments", [])
    contact_ids = {t.contact_id for t in tickets if t.contact_id is not None}
    shared = set(
        session.scalars(
            select(Ticket.contact_id).where(
                Ticket.contact_id.in_(contact_ids), Ticket.demo.is_(False)
            )
        )
    )
    orphans = contact_ids - shared
    # A real ticket suspected to duplicate a demo one keeps its own history, not the link.
    session.execute(
        update(Ticket).where(Ticket.duplicate_of_id.in_(demo)).values(duplicate_of_id=None)
    )
    session.execute(delete(SurveyResponse).where(SurveyResponse.ticket_id.in_(demo)))
    session.execute(delete(Notification).where(Notification.ticket_id.in_(demo)))
    session.execute(delete(TicketEvent).where(TicketEvent.ticket_id.in_(demo)))
    session.execute(delete(Ticket).where(Ticket.demo.is_(True)))
    session.execute(delete(ContactIdentity).where(ContactIdentity.contact_id.in_(orphans)))
    session.execute(delete(Contact).where(Contact.id.in_(orphans)))
    session.flush()
    files = [path for path in map(_stored_path, urls) if path is not None]
    return Removal(tickets=len(tickets), contacts=len(orphans), files=files)


def _stored_path(url: str) -> Path | None:
    if attachments.is_photo_url(url):
        return attachments.path_of(url[len(attachments.URL_PREFIX) :])
    return None


def local_days(now: datetime) -> tuple[date, date]:
    """The first and last day demo tickets are filed on, for a message."""
    zone = ZoneInfo(get_settings().timezone)
    today = now.astimezone(zone).date()
    return today - timedelta(days=DAYS), today - timedelta(days=1)
