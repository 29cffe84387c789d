"""The demo tickets (`tiepdan seed --demo-tickets N`): a story told through the domain's own
functions, consistent with the SLA calendar, and removable without touching real tickets.

They are generated with the real NLU (as `tiepdan run` does) at a fixed moment, in the test's
transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from feedback import attachments, sweeps
from feedback.auth import SERVICE
from feedback.classifier import NluClassifier
from feedback.demo import create_demo_tickets, remove_demo_tickets
from feedback.models import (
    OPEN_STATUSES,
    Category,
    Contact,
    ContactIdentity,
    Notification,
    StaffUser,
    SurveyResponse,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from feedback.schemas import ContactIn, TicketCreate
from feedback.seed import DEMO_USERS, seed_demo
from feedback.service import create_ticket
from feedback.sla import current_calendar
from nlu.wards import former_names

NOW = datetime(2026, 11, 20, 3, 30, tzinfo=UTC)  # 10:30 on a Friday in Hồ Chí Minh City
LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
RESTING = {s for s in TicketStatus if s != TicketStatus.NEW}  # new lasts seconds


def demo_tickets(db_session: Session) -> list[Ticket]:
    return list(
        db_session.scalars(
            select(Ticket)
            .options(selectinload(Ticket.events), selectinload(Ticket.survey_responses))
            .where(Ticket.demo.is_(True))
            .order_by(Ticket.created_at)
        )
    )


@pytest.fixture
def classifier(nlu_model: object) -> NluClassifier:
    return NluClassifier()


def test_the_demo_tells_the_whole_story(db_session: Session, classifier: NluClassifier) -> None:
    seed_demo(db_session)
    report = create_demo_tickets(db_session, count=150, classifier=classifier, seed=7, now=NOW)
    tickets = demo_tickets(db_session)

    assert len(tickets) == report.count == 150
    first_day = NOW.astimezone(LOCAL).date() - timedelta(days=90)
    days = {t.created_at.astimezone(LOCAL).date() for t in tickets}
    assert min(days) >= first_day and max(days) < NOW.astimezone(LOCAL).date()
    categories = set(db_session.scalars(select(Category.code)))
    assert {t.category_code for t in tickets} - {None} == categories
    wards = {t.ward_code for t in tickets if t.ward_code}
    assert len(wards) >= 40
    assert any("Tỉnh Bình Dương" in name for code in wards for name in former_names(code))
    assert report.old_names > 0  # some reports name the place as it was before 2025
    assert {t.status for t in tickets} == RESTING
    assert report.statuses == {s.value: n for s in RESTING if (n := _count(tickets, s))}
    overdue = [
        t for t in tickets if t.status in OPEN_STATUSES and t.sla_due_at and t.sla_due_at < NOW
    ]
    assert len(overdue) == report.overdue > 0
    late = [t for t in tickets if t.resolved_at and t.sla_due_at and t.resolved_at > t.sla_due_at]
    assert late  # the on-time rate is not a flat 100 %
    rated = [t for t in tickets if t.survey_responses]
    assert len(rated) == report.rated > 0
    assert {s.score for t in rated for s in t.survey_responses} >= {1, 5}

    calendar = current_calendar(db_session)
    sla = dict(db_session.execute(select(Category.code, Category.sla_working_days)).all())
    demo_staff = set(
        db_session.scalars(
            select(StaffUser.id).where(StaffUser.username.in_([u[0] for u in DEMO_USERS]))
        )
    )
    for ticket in tickets:
        moments = [e.created_at for e in ticket.events]
        assert moments == sorted(moments) and moments[-1] < NOW, ticket.code
        assert moments[0] == ticket.created_at
        if ticket.category_code and ticket.sla_due_at:
            expected = calendar.due_at(ticket.created_at, sla[ticket.category_code])
            assert ticket.sla_due_at == expected, ticket.code
        for event in ticket.events:
            if event.actor_type == "staff":
                # The demo speaks as its own logins or as an unnamed official, never a real one.
                assert event.actor_id is None or event.actor_id in demo_staff
                local = event.created_at.astimezone(LOCAL).time()
                assert local.hour >= 7 and local.hour < 17, (ticket.code, event.kind, local)
            if event.kind == "resolve":
                [evidence] = event.data["attachments"]
                assert attachments.stored_file_exists(evidence)
        if ticket.status == TicketStatus.CLOSED:
            assert ticket.closed_at and ticket.resolved_at and ticket.closed_at > ticket.resolved_at
    assert any(e.actor_id in demo_staff for t in tickets for e in t.events)
    reopened = [t for t in tickets if any(e.kind == "reopen" for e in t.events)]
    assert reopened and all(
        any(e.kind == "rating" and e.data["fixed"] is False for e in t.events) for t in reopened
    )


def _count(tickets: list[Ticket], status: TicketStatus) -> int:
    return sum(t.status == status for t in tickets)


def test_the_same_seed_tells_the_same_story(db_session: Session, classifier: NluClassifier) -> None:
    def story() -> list[tuple[object, ...]]:
        create_demo_tickets(db_session, count=30, classifier=classifier, seed=11, now=NOW)
        told = [
            (t.created_at, t.description, t.status, t.ward_code, [e.kind for e in t.events])
            for t in demo_tickets(db_session)
        ]
        remove_demo_tickets(db_session)
        return told

    first = story()
    assert story() == first
    create_demo_tickets(db_session, count=30, classifier=classifier, seed=12, now=NOW)
    assert [t.description for t in demo_tickets(db_session)] != [d for _, d, *_ in first]


def test_removing_the_demo_leaves_real_tickets_and_contacts(
    db_session: Session, classifier: NluClassifier
) -> None:
    real = create_ticket(
        db_session,
        data=TicketCreate(
            description="Cây xanh ngã đổ chắn ngang đường Yersin.",
            ward_code="25747",
            category="ha_tang_do_thi",
            contact=ContactIn(name="Trần Thị Bình", channel="zalo", channel_user_id="84123"),
        ),
        actor=SERVICE,
    )
    before = {
        "contacts": db_session.scalar(select(func.count()).select_from(Contact)),
        "events": db_session.scalar(select(func.count()).select_from(TicketEvent)),
    }
    create_demo_tickets(db_session, count=40, classifier=classifier, seed=3, now=NOW)
    sweeps.mark_overdue_tickets(db_session, now=NOW)  # as beat would: notices for demo tickets
    assert db_session.scalar(select(func.count()).select_from(Notification)) > 0

    removal = remove_demo_tickets(db_session)
    assert removal.tickets == 40 and removal.contacts > 0 and removal.files
    assert all(path.exists() for path in removal.files)  # until the caller has committed
    removal.delete_files()

    assert not any(path.exists() for path in removal.files)
    assert db_session.scalars(select(Ticket)).all() == [real]
    assert db_session.scalar(select(func.count()).select_from(Contact)) == before["contacts"]
    assert db_session.scalar(select(func.count()).select_from(TicketEvent)) == before["events"]
    assert db_session.scalar(select(func.count()).select_from(SurveyResponse)) == 0
    assert db_session.scalar(select(func.count()).select_from(Notification)) == 0
    identities = db_session.scalars(select(ContactIdentity.channel_user_id)).all()
    assert identities == ["84123"]
