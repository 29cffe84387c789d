"""The dashboard's figures (feedback/kpis.py) and the SLA clock the queue shows."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from feedback import kpis
from feedback.models import Agency, SurveyResponse, Ticket, TicketStatus
from feedback.sla import get_calendar

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # 10:00 in Hồ Chí Minh City


def _ticket(db_session, *, created, status="assigned", resolved=None, due=None, first=None,
            category="ha_tang_do_thi", ward="25747", agency="SXD") -> Ticket:  # fmt: skip
    agency_id = db_session.scalar(select(Agency.id).where(Agency.code == agency))
    ticket = Ticket(
        code=f"PAT{random.randrange(10**7):07d}",
        description="Đèn đường hỏng",
        status=TicketStatus(status),
        category_code=category,
        ward_code=ward,
        agency_id=agency_id,
        created_at=created,
        updated_at=created,
        sla_due_at=due or created + timedelta(days=5),
        first_response_at=first,
        resolved_at=resolved,
        attachments=[],
    )
    db_session.add(ticket)
    db_session.flush()
    return ticket


def test_the_dashboard_counts_the_periods_tickets(db_session):
    start, end = NOW - timedelta(days=10), NOW
    day = NOW - timedelta(days=2)
    on_time = _ticket(
        db_session, created=day, status="resolved", resolved=day + timedelta(hours=10),
        first=day + timedelta(hours=2),
    )  # fmt: skip
    late = _ticket(
        db_session, created=day, status="resolved", resolved=day + timedelta(days=9),
        due=day + timedelta(days=1), first=day + timedelta(hours=4),
    )  # fmt: skip
    _ticket(db_session, created=day, due=NOW - timedelta(hours=1))  # open, overdue
    _ticket(db_session, created=NOW - timedelta(days=40))  # outside the period, still open
    db_session.add_all(
        [
            SurveyResponse(ticket_id=on_time.id, score=5, created_at=NOW),
            SurveyResponse(ticket_id=late.id, score=2, fixed=False, created_at=NOW),
            SurveyResponse(ticket_id=late.id, score=1, fixed=False, created_at=NOW),  # changed
        ]
    )
    db_session.flush()

    board = kpis.compute_dashboard(db_session, start=start, end=end, now=NOW)

    assert board.total == 3
    local_day = date(2026, 11, 18)
    assert [(r.day, r.key, r.count) for r in board.volume_by_category] == [
        (local_day, "ha_tang_do_thi", 3)
    ]
    assert [(r.agency, r.resolved, r.on_time) for r in board.on_time] == [("SXD", 2, 1)]
    assert board.csat.scores == {1: 1, 2: 0, 3: 0, 4: 0, 5: 1}
    assert (board.csat.responses, board.csat.resolved, board.csat.not_fixed) == (2, 2, 1)
    sxd = next(r for r in board.backlog if r.agency == "SXD")
    assert (sxd.open, sxd.overdue) >= (2, 1)
    times = next(r for r in board.times if r.agency == "SXD")
    assert times.first_response_median_h == 3.0
    assert times.resolution_median_h == (10 + 9 * 24) / 2
    assert [(h.ward_code, h.category, h.count) for h in board.hotspots] == [
        ("25747", "ha_tang_do_thi", 3)
    ]


def test_bounds_without_a_timezone_are_refused(db_session):
    import pytest

    with pytest.raises(ValueError):
        kpis.on_time(db_session, start=datetime(2026, 11, 1), end=datetime(2026, 12, 1))


def _day_by_day(calendar, start: datetime, end: datetime) -> float:
    """The definition: each day's office hours inside [start, end]."""
    total, day = 0.0, calendar._to_local(start).date()
    local_start, local_end = calendar._to_local(start), calendar._to_local(end)
    while day <= local_end.date():
        total += calendar._office_overlap(day, local_start, local_end)
        day += timedelta(days=1)
    return total


def test_the_working_time_between_two_moments_matches_counting_day_by_day():
    calendar = get_calendar()
    rng = random.Random(7)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    for _ in range(300):
        start = base + timedelta(minutes=rng.randrange(3 * 365 * 24 * 60))
        end = start + timedelta(minutes=rng.randrange(400 * 24 * 60))
        assert calendar.working_seconds(start, end) == _day_by_day(calendar, start, end)
        assert calendar.working_seconds(end, start) == -_day_by_day(calendar, start, end)


def test_a_holiday_week_counts_no_working_time():
    calendar = get_calendar()
    # Tết 2026: Monday 16 to Friday 20 February are days off.
    start = datetime(2026, 2, 16, 0, 0, tzinfo=UTC)
    end = datetime(2026, 2, 20, 12, 0, tzinfo=UTC)

    assert calendar.working_seconds(start, end) == 0
