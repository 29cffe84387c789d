"""The production pipeline: PostgreSQL, Redis as the broker, and a real Celery worker process.
A ticket committed by the API's service layer is routed by the worker, and the beat sweeps run
as tasks on the same worker.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text

from core.database import get_engine, session_scope
from feedback.auth import SERVICE
from feedback.models import Agency, Notification, Ticket, TicketEvent, TicketStatus
from feedback.schemas import TicketCreate
from feedback.service import create_ticket
from tests.e2e.processes import file_a_ticket, start, stop

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


def _wait_for_log(log: Path, needle: str, process, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while needle not in (log.read_text(errors="replace") if log.exists() else ""):
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, f"no {needle!r} in {log}"
        time.sleep(0.1)


def test_a_job_of_a_worker_killed_mid_task_comes_back_after_the_visibility_timeout(
    database: str, tmp_path: Path
) -> None:
    """acks_late and reject_on_worker_lost keep the job in Redis's unacknowledged set while the
    worker runs it; when the worker dies, another takes it once TIEPDAN_BROKER_VISIBILITY_TIMEOUT
    has passed. The worker is caught mid-task for sure: the test holds the ticket's row."""
    env = {
        **os.environ,
        "TIEPDAN_VAR_DIR": str(tmp_path),
        "TIEPDAN_TASK_QUEUE": f"lost-job-{uuid.uuid4().hex[:8]}",  # not the shared stack's worker
        "TIEPDAN_BROKER_VISIBILITY_TIMEOUT": "5",
    }
    code = file_a_ticket(env)
    holder = get_engine().connect()
    holder.execute(text("SELECT id FROM tickets WHERE code = :code FOR UPDATE"), {"code": code})
    first_log = tmp_path / "worker-1.log"
    first = start([sys.executable, "-m", "tiepdan", "worker"], first_log, env=env)
    try:
        _wait_for_log(first_log, "feedback.route_ticket", first, timeout=60)
        time.sleep(1)  # into the task, waiting for the row
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            stop(first)
        holder.rollback()
        holder.close()
    assert _wait_for_status(code, timeout=0).status == TicketStatus.NEW  # died with the worker

    second_log = tmp_path / "worker-2.log"
    second = start([sys.executable, "-m", "tiepdan", "worker"], second_log, env=env)
    try:
        _wait_for_log(second_log, "ready.", second, timeout=60)
        started = time.monotonic()
        routed = _wait_for_status(code, timeout=40)
        assert routed.status == TicketStatus.ASSIGNED, second_log.read_text()[-3000:]
        taken = time.monotonic() - started
        with session_scope() as session:
            kinds = session.scalars(
                select(TicketEvent.kind)
                .where(TicketEvent.ticket_id == routed.id)
                .order_by(TicketEvent.id)
            ).all()
        assert kinds == ["created", "routed"]  # once
        assert taken < 30, f"taken back after {taken:.0f} s"
    finally:
        stop(second)
        with session_scope() as session:
            session.execute(delete(TicketEvent).where(TicketEvent.ticket_id == routed.id))
            session.execute(delete(Ticket).where(Ticket.code == code))
