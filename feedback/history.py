"""A ticket's history: every status change, assignment, reply, note, rating and notice is one
append-only event, written here and nowhere else."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from core import metrics
from feedback.auth import Principal
from feedback.models import Ticket, TicketEvent, TicketStatus


def record_event(
    session: Session,
    ticket: Ticket,
    *,
    kind: str,
    actor: Principal,
    now: datetime,
    from_status: TicketStatus | None = None,
    message: str | None = None,
    public: bool = False,
    agency_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> TicketEvent:
    """Append an event to the ticket's history; `to_status` is the ticket's status now."""
    event = TicketEvent(
        ticket_id=ticket.id,
        kind=kind,
        from_status=from_status.value if from_status else None,
        to_status=ticket.status.value,
        agency_id=agency_id if agency_id is not None else ticket.agency_id,
        actor_type=actor.kind,
        actor_id=actor.user_id,
        message=message,
        public=public,
        data=data or {},
        created_at=now,
    )
    session.add(event)
    if ticket.id is None:  # a ticket being filed: both rows go out in the same flush
        event.ticket = ticket
    elif "events" in ticket.__dict__:  # the history is loaded in this session: keep it current
        set_committed_value(ticket, "events", [*ticket.events, event])
    ticket.updated_at = now
    if from_status is not None and from_status != ticket.status:
        metrics.record_after_commit(
            session,
            "ticket_status_changes",
            from_status=from_status.value,
            to_status=ticket.status.value,
        )
    return event
