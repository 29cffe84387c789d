"""The SLA watch: warnings before the deadline, overdue marks and escalations, lost routings.

The Celery tasks in feedback/tasks.py open their own session (core.database.session_scope), so
these tests call the service functions they wrap, inside the test's transaction, with `now`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from core.celery_app import celery_app
from feedback import service, sweeps
from feedback.auth import SERVICE, SYSTEM
from feedback.classifier import NoClassifier
from feedback.models import Notification, Ticket, TicketEvent, TicketStatus
from feedback.routing import route_ticket
from feedback.schemas import TicketCreate
from tests.images import resolve_body

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
# Monday 2 March 2026, 10:00: a 7-working-day ticket is due Wednesday 11 March, 17:00.
FILED = datetime(2026, 3, 2, 10, tzinfo=HCM)
DUE = datetime(2026, 3, 11, 17, tzinfo=HCM)
# After hours the evening before: the one-working-day window runs to Thursday 07:30.
DAY_BEFORE = datetime(2026, 3, 10, 17, 30, tzinfo=HCM)
WEEK_BEFORE = datetime(2026, 3, 4, 10, tzinfo=HCM)  # not yet
AFTER = datetime(2026, 3, 11, 17, 30, tzinfo=HCM)


def file_routed(db_session, *, filed=FILED, category="ha_tang_do_thi", **fields) -> Ticket:
    """A ticket filed at `filed` and routed (SXD for the default category)."""
    ticket = service.create_ticket(
        db_session,
        data=TicketCreate(description="Đèn đường tắt", category=category, **fields),
        actor=SERVICE,
        now=filed,
    )
    route_ticket(db_session, ticket_id=ticket.id, classifier=NoClassifier(), now=filed)
    return ticket


def move(db_session, ticket: Ticket, *actions: str) -> None:
    for action in actions:
        body = {"resolve": resolve_body("Xong"), "reject": {"reason": "Trùng"}}.get(action, {})
        service.apply_action(
            db_session,
            code=ticket.code,
            action=action,
            body=service.parse_action_body(action, body),
            principal=SYSTEM,
        )


def notifications(db_session, ticket: Ticket | None = None) -> list[Notification]:
    query = select(Notification).order_by(Notification.id)
    if ticket is not None:
        query = query.where(Notification.ticket_id == ticket.id)
    return list(db_session.scalars(query))


def events(db_session, ticket: Ticket, kind: str) -> list[TicketEvent]:
    return list(
        db_session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == kind)
        )
    )


def test_the_example_deadline_is_what_the_tests_assume(db_session):
    assert file_routed(db_session).sla_due_at == DUE


# Warnings -----------------------------------------------------------------------------------


def test_a_ticket_due_within_a_working_day_warns_its_agency_once(db_session):
    ticket = file_routed(db_session)

    assert sweeps.warn_due_tickets(db_session, now=DAY_BEFORE) == 1

    [notice] = notifications(db_session)
    assert (notice.kind, notice.recipient, notice.ticket_id) == (
        "due_warning",
        "agency:SXD",
        ticket.id,
    )
    assert ticket.code in notice.message and "17:00 11/03/2026" in notice.message
    assert notice.created_at == DAY_BEFORE
    [event] = events(db_session, ticket, "due_warning")
    assert (event.actor_type, event.from_status, event.to_status) == (
        "system",
        "assigned",
        "assigned",
    )
    assert event.agency_id == ticket.agency_id
    assert ticket.status == TicketStatus.ASSIGNED


def test_warning_twice_produces_nothing_more(db_session):
    ticket = file_routed(db_session)
    sweeps.warn_due_tickets(db_session, now=DAY_BEFORE)

    assert sweeps.warn_due_tickets(db_session, now=DAY_BEFORE + timedelta(minutes=15)) == 0

    assert len(notifications(db_session)) == 1
    assert len(events(db_session, ticket, "due_warning")) == 1


def test_a_ticket_not_yet_near_its_deadline_is_not_warned(db_session):
    file_routed(db_session)

    assert sweeps.warn_due_tickets(db_session, now=WEEK_BEFORE) == 0
    assert notifications(db_session) == []


def test_a_ticket_past_its_deadline_is_not_warned_but_escalated(db_session):
    file_routed(db_session)

    assert sweeps.warn_due_tickets(db_session, now=AFTER) == 0
    assert sweeps.mark_overdue_tickets(db_session, now=AFTER) == 1


def test_the_one_day_window_counts_working_days(db_session):
    """Due Monday 17:00: on the Friday before at 16:00 it is due within one working day."""
    ticket = file_routed(db_session, filed=datetime(2026, 3, 5, 10, tzinfo=HCM), category="y_te")
    assert ticket.sla_due_at == datetime(2026, 3, 12, 17, tzinfo=HCM)  # 5 working days
    friday = file_routed(
        db_session, filed=datetime(2026, 3, 2, 10, tzinfo=HCM), category="an_ninh_trat_tu"
    )
    assert friday.sla_due_at == datetime(2026, 3, 5, 17, tzinfo=HCM)  # Thursday

    # Wednesday 4 March 16:00: the window ends Thursday 16:00, before Thursday's close.
    assert sweeps.warn_due_tickets(db_session, now=datetime(2026, 3, 4, 16, tzinfo=HCM)) == 0
    # Wednesday 4 March 17:30, after hours: the window runs to Friday 07:30.
    assert sweeps.warn_due_tickets(db_session, now=datetime(2026, 3, 4, 17, 30, tzinfo=HCM)) == 1
    assert [n.ticket_id for n in notifications(db_session)] == [friday.id]


def test_a_new_deadline_gets_its_own_warning(db_session):
    ticket = file_routed(db_session)
    sweeps.warn_due_tickets(db_session, now=DAY_BEFORE)

    ticket.sla_due_at = datetime(2026, 3, 12, 17, tzinfo=HCM)  # say the category changed
    db_session.flush()

    assert sweeps.warn_due_tickets(db_session, now=AFTER) == 1
    assert len(notifications(db_session, ticket)) == 2


def test_more_due_tickets_than_one_batch_are_all_warned(db_session, monkeypatch):
    monkeypatch.setattr(sweeps, "_BATCH", 2)
    tickets = [file_routed(db_session) for _ in range(5)]

    warned = sweeps.warn_due_tickets(db_session, now=DAY_BEFORE)
    warned += sweeps.warn_due_tickets(db_session, now=DAY_BEFORE + timedelta(minutes=15))

    assert warned == 5
    assert {n.ticket_id for n in notifications(db_session)} == {t.id for t in tickets}


# Overdue ------------------------------------------------------------------------------------


def test_an_overdue_ticket_is_marked_and_escalated_to_the_dispatchers_once(
    db_session, client, staff_token
):
    ticket = file_routed(db_session)

    assert sweeps.mark_overdue_tickets(db_session, now=AFTER) == 1
    assert sweeps.mark_overdue_tickets(db_session, now=AFTER + timedelta(minutes=5)) == 0

    assert ticket.overdue_at == AFTER
    [notice] = notifications(db_session)
    assert (notice.kind, notice.recipient) == ("overdue_escalation", "role:dispatcher")
    assert ticket.code in notice.message and "17:00 11/03/2026" in notice.message
    assert len(events(db_session, ticket, "overdue_escalation")) == 1
    assert ticket.status == TicketStatus.ASSIGNED  # overdue is a mark, not a status
    shown = client.get(f"/api/v1/tickets/{ticket.code}", headers=staff_token("dispatcher"))
    assert shown.json()["overdue"] is True


def test_a_ticket_is_not_overdue_at_its_due_time_minus_a_moment(db_session):
    ticket = file_routed(db_session)

    assert sweeps.mark_overdue_tickets(db_session, now=DUE - timedelta(seconds=1)) == 0
    assert sweeps.mark_overdue_tickets(db_session, now=DUE) == 1
    assert ticket.overdue_at == DUE


def test_warning_then_overdue_are_two_notices(db_session):
    ticket = file_routed(db_session)

    sweeps.warn_due_tickets(db_session, now=DAY_BEFORE)
    sweeps.mark_overdue_tickets(db_session, now=AFTER)

    assert [n.kind for n in notifications(db_session, ticket)] == [
        "due_warning",
        "overdue_escalation",
    ]


@pytest.mark.parametrize(
    "actions, status",
    [
        (("start", "resolve"), "resolved"),
        (("start", "resolve", "close"), "closed"),
        (("reject",), "rejected"),
    ],
)
def test_finished_tickets_are_ignored(actions, status, db_session):
    ticket = file_routed(db_session)
    move(db_session, ticket, *actions)
    assert ticket.status.value == status

    assert sweeps.warn_due_tickets(db_session, now=DAY_BEFORE) == 0
    assert sweeps.mark_overdue_tickets(db_session, now=AFTER) == 0
    assert ticket.overdue_at is None
    assert notifications(db_session) == []


@pytest.mark.parametrize("actions", [(), ("start",), ("start", "resolve", "reopen")])
def test_open_tickets_in_every_open_status_are_watched(actions, db_session):
    ticket = file_routed(db_session)
    move(db_session, ticket, *actions)

    assert sweeps.warn_due_tickets(db_session, now=DAY_BEFORE) == 1
    assert sweeps.mark_overdue_tickets(db_session, now=AFTER) == 1


def test_a_triaged_ticket_has_no_deadline_to_watch(db_session):
    ticket = service.create_ticket(
        db_session, data=TicketCreate(description="Không rõ"), actor=SERVICE, now=FILED
    )
    route_ticket(db_session, ticket_id=ticket.id, classifier=NoClassifier(), now=FILED)
    assert ticket.status == TicketStatus.TRIAGE

    assert sweeps.warn_due_tickets(db_session, now=DAY_BEFORE) == 0
    assert sweeps.mark_overdue_tickets(db_session, now=AFTER) == 0


# Lost routings ------------------------------------------------------------------------------


def test_tickets_still_new_after_their_routing_should_have_run_are_found(db_session):
    def file(minutes_ago: int, *, routed: bool) -> Ticket:
        ticket = service.create_ticket(
            db_session,
            data=TicketCreate(description="Phản ánh"),
            actor=SERVICE,
            now=AFTER - timedelta(minutes=minutes_ago),
        )
        if routed:
            route_ticket(db_session, ticket_id=ticket.id, classifier=NoClassifier())
        return ticket

    lost = file(10, routed=False)
    file(10, routed=True)
    file(1, routed=False)  # its routing job may still be in the queue

    found = sweeps.list_unrouted_ticket_ids(db_session, older_than=AFTER - timedelta(minutes=2))

    assert found == [lost.id]


def test_the_tasks_are_registered_under_the_names_that_are_queued():
    import feedback.tasks  # noqa: F401  (registers the tasks)

    names = {
        "feedback.route_ticket",
        "feedback.warn_due_tickets",
        "feedback.mark_overdue_tickets",
        "feedback.route_stale_tickets",
    }
    assert names <= set(celery_app.tasks)


def test_counting_helpers_see_only_this_tests_rows(db_session):
    assert db_session.scalar(select(func.count()).select_from(Notification)) == 0
