"""Celery tasks of the feedback domain: thin, idempotent, ids only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from core.celery_app import db_task, enqueue
from core.settings import get_settings
from feedback import kpi_aggregates, routing, sweeps
from feedback.classifier import get_classifier


@db_task("feedback.route_ticket")
def route_ticket(session: Session, *, ticket_id: int) -> str | None:
    ticket = routing.route_ticket(
        session, ticket_id=ticket_id, classifier=get_classifier(get_settings().classifier)
    )
    return ticket.status.value if ticket else None


@db_task("feedback.warn_due_tickets")
def warn_due_tickets(session: Session) -> int:
    return sweeps.warn_due_tickets(session)


@db_task("feedback.mark_overdue_tickets")
def mark_overdue_tickets(session: Session) -> int:
    return sweeps.mark_overdue_tickets(session)


@db_task("feedback.route_stale_tickets")
def route_stale_tickets(session: Session) -> int:
    """Re-queue routing for tickets whose routing job was lost."""
    older_than = datetime.now(UTC) - timedelta(minutes=2)
    ids = sweeps.list_unrouted_ticket_ids(session, older_than=older_than)
    for ticket_id in ids:
        enqueue(session, "feedback.route_ticket", ticket_id=ticket_id)
    return len(ids)


@db_task("feedback.refresh_kpis")
def refresh_kpis(session: Session) -> int:
    """Take the tickets changed since the last run into the KPI aggregates."""
    return kpi_aggregates.refresh(session).changed
