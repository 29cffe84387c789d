"""The periodic SLA sweeps: warn agencies before a ticket is due, escalate overdue tickets.

Every notice has a dedupe key, so a sweep that runs twice (a redelivered beat job, two beat
instances by mistake) produces each notice and history event once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session, joinedload

from core import metrics
from core.settings import get_settings
from feedback.auth import SYSTEM
from feedback.history import record_event
from feedback.models import OPEN_STATUSES, Notification, Ticket, TicketStatus
from feedback.sla import get_calendar

DISPATCHERS = "role:dispatcher"
_BATCH = 500


def _notify(
    session: Session,
    *,
    dedupe_key: str,
    ticket: Ticket,
    kind: str,
    recipient: str,
    message: str,
    now: datetime,
) -> bool:
    """Create the notice unless it exists; True when it was created now."""
    if session.scalar(select(Notification.id).where(Notification.dedupe_key == dedupe_key)):
        return False
    session.add(
        Notification(
            dedupe_key=dedupe_key,
            ticket_id=ticket.id,
            kind=kind,
            recipient=recipient,
            message=message,
            created_at=now,
        )
    )
    record_event(
        session,
        ticket,
        kind=kind,
        actor=SYSTEM,
        now=now,
        from_status=ticket.status,
        message=message,
        data={"recipient": recipient},
    )
    return True


def _local(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo(get_settings().timezone)).strftime("%H:%M %d/%m/%Y")


def warn_due_tickets(session: Session, *, now: datetime | None = None) -> int:
    """Tell each agency about its open tickets due within one working day."""
    now = now or datetime.now(UTC)
    horizon = get_calendar().add_working_days(now, 1)
    query = (
        select(Ticket)
        .options(joinedload(Ticket.agency))
        .where(
            Ticket.status.in_(OPEN_STATUSES),
            Ticket.agency_id.is_not(None),
            Ticket.sla_due_at > now,
            Ticket.sla_due_at <= horizon,
        )
        .order_by(Ticket.sla_due_at, Ticket.id)
        .limit(_BATCH)
    )
    created = 0
    # Warned tickets stay in the window, so walk all of it in batches: a single first batch
    # would be the same already-warned tickets on every run once more than _BATCH are due.
    tickets = session.scalars(query).all()
    while tickets:
        for ticket in tickets:
            assert ticket.sla_due_at is not None and ticket.agency is not None
            created += _notify(
                session,
                dedupe_key=f"due_soon:{ticket.id}:{ticket.sla_due_at.isoformat()}",
                ticket=ticket,
                kind="due_warning",
                recipient=f"agency:{ticket.agency.code}",
                message=f"Phản ánh {ticket.code} đến hạn xử lý lúc {_local(ticket.sla_due_at)}.",
                now=now,
            )
        session.flush()
        if len(tickets) < _BATCH:
            break
        last = tickets[-1]
        tickets = session.scalars(
            query.where(tuple_(Ticket.sla_due_at, Ticket.id) > tuple_(last.sla_due_at, last.id))
        ).all()
    return created


def mark_overdue_tickets(session: Session, *, now: datetime | None = None) -> int:
    """Mark open tickets past their due time as overdue and escalate them to the dispatchers."""
    now = now or datetime.now(UTC)
    tickets = session.scalars(
        select(Ticket)
        .where(
            Ticket.status.in_(OPEN_STATUSES),
            Ticket.sla_due_at <= now,
            Ticket.overdue_at.is_(None),
        )
        .order_by(Ticket.sla_due_at)
        .limit(_BATCH)
    ).all()
    for ticket in tickets:
        assert ticket.sla_due_at is not None
        ticket.overdue_at = now
        metrics.record_after_commit(session, "sla_breaches", category=ticket.category_code)
        _notify(
            session,
            dedupe_key=f"overdue:{ticket.id}:{ticket.sla_due_at.isoformat()}",
            ticket=ticket,
            kind="overdue_escalation",
            recipient=DISPATCHERS,
            message=f"Phản ánh {ticket.code} đã quá hạn xử lý từ {_local(ticket.sla_due_at)}.",
            now=now,
        )
    session.flush()
    return len(tickets)


def list_unrouted_ticket_ids(session: Session, *, older_than: datetime) -> list[int]:
    """Tickets still `new` after their routing job should have run (a lost job, a broker outage)."""
    return list(
        session.scalars(
            select(Ticket.id)
            .where(Ticket.status == TicketStatus.NEW, Ticket.created_at < older_than)
            .limit(_BATCH)
        )
    )
