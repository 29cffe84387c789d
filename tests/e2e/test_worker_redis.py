"""The production pipeline: PostgreSQL, Redis as the broker, and a real Celery worker process.
A ticket committed by the API's service layer is routed by the worker, and the beat sweeps run
as tasks on the same worker.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from core.database import session_scope
from feedback.auth import SERVICE
from feedback.models import Agency, Notification, Ticket, TicketEvent, TicketStatus
from feedback.schemas import TicketCreate
from feedback.service import create_ticket

pytestmark = pytest.mark.e2e


def _wait_for_status(code: str, timeout: float = 30) -> Ticket:
    deadline = time.monotonic() + timeout
    while True:
        with session_scope() as session:
            ticket = session.scalar(select(Ticket).where(Ticket.code == code))
            assert ticket is not None
            if ticket.status != TicketStatus.NEW or time.monotonic() > deadline:
                return ticket
        time.sleep(0.3)


def test_a_committed_ticket_is_routed_through_redis_by_a_real_worker(redis_worker: Path) -> None:
    with session_scope() as session:
        ticket = create_ticket(
            session,
            data=TicketCreate(
                description="Cột đèn giao thông ở ngã tư Bình Dương - Yersin bị hỏng.",
                ward_code="25747",
                category="giao_thong",
            ),
            actor=SERVICE,
        )
        code, ticket_id = ticket.code, ticket.id
    try:
        routed = _wait_for_status(code)
        assert routed.status == TicketStatus.ASSIGNED, redis_worker.read_text()[-3000:]
        assert routed.sla_due_at is not None
        with session_scope() as session:
            kinds = session.scalars(
                select(TicketEvent.kind)
                .where(TicketEvent.ticket_id == ticket_id)
                .order_by(TicketEvent.id)
            ).all()
        assert kinds == ["created", "routed"]

        # Make it overdue, then run the beat job by name on the same worker, twice.
        with session_scope() as session:
            row = session.get_one(Ticket, ticket_id)
            row.sla_due_at = datetime.now(UTC) - timedelta(hours=1)
        from tiepdan.worker import app

        for _ in range(2):
            app.send_task("feedback.mark_overdue_tickets")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with session_scope() as session:
                notices = session.scalars(
                    select(Notification).where(Notification.ticket_id == ticket_id)
                ).all()
                if notices:
                    break
            time.sleep(0.3)
        time.sleep(2)  # let the second run finish: it must not add another notice
        with session_scope() as session:
            notices = session.scalars(
                select(Notification).where(Notification.ticket_id == ticket_id)
            ).all()
            assert [(n.kind, n.recipient) for n in notices] == [
                ("overdue_escalation", "role:dispatcher")
            ]
            assert session.get_one(Ticket, ticket_id).overdue_at is not None
    finally:
        with session_scope() as session:
            session.execute(delete(Notification).where(Notification.ticket_id == ticket_id))
            session.execute(delete(TicketEvent).where(TicketEvent.ticket_id == ticket_id))
            session.execute(delete(Ticket).where(Ticket.id == ticket_id))


def test_an_uncategorised_ticket_is_routed_by_the_nlu_in_the_worker(
    redis_worker: Path, nlu_model: object
) -> None:
    """Only a description: the worker's NLU finds the category and the (pre-2025) ward."""
    with session_scope() as session:
        ticket = create_ticket(
            session,
            data=TicketCreate(
                description="Rác thải ứ đọng đầu hẻm 12, P. Phú Cường, TP Thủ Dầu Một, bốc mùi"
            ),
            actor=SERVICE,
        )
        code, ticket_id = ticket.code, ticket.id
    try:
        routed = _wait_for_status(code, timeout=60)
        assert routed.status == TicketStatus.ASSIGNED, redis_worker.read_text()[-3000:]
        assert routed.category_code == "moi_truong"
        assert routed.ward_code == "25747"
        with session_scope() as session:
            agency = session.scalar(
                select(Agency.code)
                .join(Ticket, Ticket.agency_id == Agency.id)
                .where(Ticket.id == ticket_id)
            )
        assert agency == "UBND_25747"
    finally:
        with session_scope() as session:
            session.execute(delete(TicketEvent).where(TicketEvent.ticket_id == ticket_id))
            session.execute(delete(Ticket).where(Ticket.id == ticket_id))
