"""The KPIs (feedback/kpis.py) over the incremental aggregates (feedback/kpi_aggregates.py),
computed on generated tickets whose answers are known: Tết, overdue, reopened, unrated."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from feedback import kpi_aggregates, kpi_facts, kpis, service
from feedback.auth import SYSTEM
from feedback.kpi_models import KpiDaily
from feedback.models import Agency, SurveyResponse, Ticket, TicketStatus
from feedback.schemas import OptionalMessageBody
from feedback.sla import get_calendar

pytestmark = pytest.mark.usefixtures("empty_aggregates")

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # 10:00 in Hồ Chí Minh City


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=LOCAL).astimezone(UTC)  # type: ignore[misc]


def _ticket(db_session, *, created, status="assigned", resolved=None, due=None, first=None,
            category="ha_tang_do_thi", ward="25747", agency="SXD", channel="zalo",
            overdue=None, duplicate_of=None, closed=None) -> Ticket:  # fmt: skip
    agency_id = db_session.scalar(select(Agency.id).where(Agency.code == agency))
    ticket = Ticket(
        code=f"PAT{random.randrange(10**9):09d}",
        description="Đèn đường hỏng",
        status=TicketStatus(status),
        category_code=category,
        ward_code=ward,
        agency_id=agency_id,
        channel=channel,
        created_at=created,
        updated_at=max(m for m in (created, resolved, first, overdue, closed) if m is not None),
        sla_due_at=due or created + timedelta(days=5),
        first_response_at=first,
        resolved_at=resolved,
        closed_at=closed,
        overdue_at=overdue,
        duplicate_of_id=duplicate_of,
        attachments=[],
    )
    db_session.add(ticket)
    db_session.flush()
    return ticket


def _rate(db_session, ticket: Ticket, score: int, fixed: bool | None = None) -> None:
    db_session.add(SurveyResponse(ticket_id=ticket.id, score=score, fixed=fixed, created_at=NOW))
    ticket.updated_at = NOW
    db_session.flush()


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)), 1) - 1]


def test_the_kpis_of_a_period_with_tet_overdue_reopened_and_unrated_tickets(db_session):
    # A fortnight around Tết 2026 (16-20 February off, with the weekends 14-15 and 21-22).
    first, last = date(2026, 2, 12), date(2026, 2, 25)
    # Filed Friday 13/02 16:00, answered Monday 23/02 08:30 after the Tết break: 1 h on Friday
    # and 1 h on Monday are working hours; resolved Tuesday 24/02 09:30 (1 h + 9.5 h + 2 h).
    tet = _ticket(
        db_session, created=local(2026, 2, 13, 16), first=local(2026, 2, 23, 8, 30),
        resolved=local(2026, 2, 24, 9, 30), status="resolved", due=local(2026, 2, 25, 17),
    )  # fmt: skip
    # Resolved late, rated 2 and "chưa được xử lý".
    late = _ticket(
        db_session, created=local(2026, 2, 12, 8), first=local(2026, 2, 12, 12),
        resolved=local(2026, 2, 25, 9), status="closed", due=local(2026, 2, 13, 17),
        closed=local(2026, 2, 25, 10),
    )  # fmt: skip
    # Open and past its deadline (the sweep stamped it), never answered.
    _ticket(
        db_session, created=local(2026, 2, 23, 9), status="in_progress",
        due=local(2026, 2, 24, 17), overdue=local(2026, 2, 24, 17, 15),
    )  # fmt: skip
    # Resolved on time, then reopened (the citizen said it was not fixed): open again.
    reopened = _ticket(
        db_session, created=local(2026, 2, 24, 8), first=local(2026, 2, 24, 10),
        resolved=local(2026, 2, 24, 15), status="resolved", agency="SYT",
        category="giao_thong", channel="web",
    )  # fmt: skip
    service.perform_action(
        db_session, reopened, action="reopen", body=OptionalMessageBody(message=None),
        principal=SYSTEM, now=local(2026, 2, 25, 8),
    )  # fmt: skip
    # A duplicate, closed by the merge.
    _ticket(
        db_session, created=local(2026, 2, 24, 11), status="closed",
        closed=local(2026, 2, 24, 12), duplicate_of=late.id, channel="web",
    )  # fmt: skip
    # Rejected.
    _ticket(db_session, created=local(2026, 2, 25, 8), status="rejected", channel="telegram")
    # Outside the period on both sides.
    _ticket(db_session, created=local(2026, 2, 11, 16), status="assigned")
    _ticket(db_session, created=local(2026, 2, 26, 8), status="assigned")
    _rate(db_session, tet, 5)
    _rate(db_session, late, 4)
    _rate(db_session, late, 2, fixed=False)  # the latest answer counts
    # `reopened` was resolved and not rated: an unrated resolution.

    kpi_aggregates.refresh(db_session, now=NOW)
    report = kpis.service_kpis(db_session, first=first, last=last, group_by="agency")
    t = report.total

    assert (t.received, t.resolved, t.rejected, t.open) == (6, 2, 1, 2)
    assert (t.on_time, t.on_time_rate) == (1, 0.5)
    assert (t.overdue, t.open_overdue) == (2, 1)  # the late one and the open one
    assert t.first_response.count == 3
    assert t.first_response.median_h == pytest.approx(2.0, rel=0.05)  # the Tết one
    assert t.first_response.p90_h == pytest.approx(4.0, rel=0.05)
    assert t.resolution.count == 2
    assert t.resolution.median_h == pytest.approx(12.5, rel=0.05)
    assert t.resolution.p90_h == pytest.approx(39.0, rel=0.05)
    assert t.csat.scores == {1: 0, 2: 1, 3: 0, 4: 0, 5: 1}
    assert (t.csat.responses, t.csat.mean, t.csat.satisfied_share) == (2, 3.5, 0.5)
    assert t.csat.response_rate == 2 / 3  # 3 tickets were ever resolved, 2 rated
    assert (t.csat.not_fixed, t.csat.not_fixed_share) == (1, 0.5)
    assert (t.reopened, t.reopen_rate) == (1, 1 / 3)
    assert (t.duplicates, t.duplicate_share) == (1, 1 / 6)
    # At the end of 25/02: the open one, the reopened one and the one of 11/02 (outside the
    # period but filed before its end) are not finished.
    assert t.backlog_end == 3
    assert report.fresh_as_of == NOW

    by_agency = {g.key: g for g in report.groups}
    assert by_agency["SYT"].received == 1 and by_agency["SYT"].reopened == 1
    assert by_agency["SXD"].received == 5

    by_day = kpis.service_kpis(db_session, first=first, last=last, group_by="day")
    assert [g.key for g in by_day.groups][:2] == ["2026-02-12", "2026-02-13"]
    assert len(by_day.groups) == 14
    assert sum(g.received for g in by_day.groups) == 6
    assert by_day.groups[-1].backlog_end == t.backlog_end
    # The day 11/02's ticket is in the backlog from the start.
    assert by_day.groups[0].backlog_end == 2  # 11/02's and 12/02's (late, resolved 25/02)

    by_channel = {g.key: g.received for g in kpis.service_kpis(
        db_session, first=first, last=last, group_by="channel").groups}  # fmt: skip
    assert by_channel == {"zalo": 3, "web": 2, "telegram": 1}


def test_the_incremental_aggregates_equal_a_full_rebuild(db_session):
    rng = random.Random(11)
    base = datetime(2026, 9, 1, 1, 0, tzinfo=UTC)
    agencies = ["SXD", "SYT", "SNNMT"]
    tickets = []
    for n in range(120):
        created = base + timedelta(hours=rng.randrange(24 * 40))
        status = rng.choice(["assigned", "in_progress", "resolved", "closed", "rejected"])
        first = created + timedelta(hours=rng.uniform(1, 60)) if status != "assigned" else None
        resolved = (
            first + timedelta(hours=rng.uniform(1, 200))
            if first and status in ("resolved", "closed")
            else None
        )
        tickets.append(
            _ticket(
                db_session,
                created=created,
                status=status,
                first=first,
                resolved=resolved,
                agency=agencies[n % 3],
                ward=rng.choice(["25747", "25750", "25768"]),
                channel=rng.choice(["zalo", "web", None]),
            )
        )
    kpi_aggregates.refresh(db_session, now=NOW)
    # Changes after the first refresh: transfers, resolutions, ratings.
    later = NOW + timedelta(minutes=5)
    for ticket in rng.sample(tickets, 40):
        ticket.agency_id = db_session.scalar(select(Agency.id).where(Agency.code == "SXD"))
        if ticket.status == TicketStatus.RESOLVED:
            _rate(db_session, ticket, rng.randint(1, 5), fixed=rng.choice([True, False, None]))
        if ticket.status == TicketStatus.IN_PROGRESS:
            ticket.status = TicketStatus.RESOLVED
            ticket.resolved_at = later
        ticket.updated_at = later
    db_session.flush()
    kpi_aggregates.refresh(db_session, now=later)
    incremental = _rows(db_session)

    kpi_aggregates.rebuild(db_session, now=later)

    assert _rows(db_session) == incremental
    assert sum(r[3]["received"] for r in incremental if r[1] == "all") == 120


def _rows(db_session) -> list[tuple]:
    rows = db_session.scalars(select(KpiDaily).order_by(KpiDaily.day, KpiDaily.dim, KpiDaily.key))
    result = []
    for row in rows:
        values = {c: getattr(row, c) for c in kpi_facts.COUNTERS}
        values.update(finished=row.finished, fr=row.fr_count, res=row.res_count)
        # Sums of floats added in another order differ in the last digits.
        sums = (round(row.fr_sum_h, 3), round(row.res_sum_h, 3))
        result.append((row.day, row.dim, row.key, values, sums, row.fr_hist, row.res_hist))
    return result


def test_a_refresh_reads_nothing_twice_into_the_sums(db_session):
    _ticket(db_session, created=NOW - timedelta(days=1), status="assigned")
    kpi_aggregates.refresh(db_session, now=NOW)
    before = _rows(db_session)

    again = kpi_aggregates.refresh(db_session, now=NOW + timedelta(seconds=30))

    assert again.changed == 0 and again.read >= 1  # the overlap re-reads, and adds nothing
    assert _rows(db_session) == before


def test_percentiles_from_the_histograms_are_within_five_percent_of_the_nearest_rank():
    rng = random.Random(3)
    for _ in range(50):
        values = [rng.lognormvariate(math.log(20), 1.2) for _ in range(rng.randint(1, 400))]
        histogram: dict[int, int] = {}
        for value in values:
            k = kpi_facts.bucket_of(value)
            histogram[k] = histogram.get(k, 0) + 1
        for q in (0.5, 0.9):
            exact = nearest_rank(values, q)
            estimate = kpi_facts.quantile(histogram, q)
            assert estimate == pytest.approx(exact, rel=0.05, abs=0.25)


def test_the_dashboard_reads_the_aggregates(db_session):
    start, end = NOW - timedelta(days=10), NOW
    day = NOW - timedelta(days=2)
    _ticket(
        db_session, created=day, status="resolved", resolved=day + timedelta(hours=5),
        first=day + timedelta(hours=2),
    )  # fmt: skip
    _ticket(db_session, created=day, due=NOW - timedelta(hours=1), overdue=NOW)  # open, late
    kpi_aggregates.refresh(db_session, now=NOW)

    board = kpis.compute_dashboard(db_session, start=start, end=end, now=NOW)

    assert board.total == 2
    assert board.volume_by_category == [(date(2026, 11, 18), "ha_tang_do_thi", 2)]
    sxd = next(g for g in board.report.groups if g.key == "SXD")
    assert (sxd.resolved, sxd.on_time, sxd.open_overdue) == (1, 1, 1)
    backlog = next(b for b in board.backlog if b.key == "SXD")
    assert (backlog.open, backlog.overdue) == (1, 1)


def test_bounds_without_a_timezone_are_refused(db_session):
    with pytest.raises(ValueError):
        kpis.local_days(datetime(2026, 11, 1), datetime(2026, 12, 1))


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


def test_a_report_is_computed_once_per_state_of_the_aggregates(db_session):
    _ticket(db_session, created=NOW - timedelta(days=1))
    kpi_aggregates.refresh(db_session, now=NOW)
    first, last = date(2026, 11, 1), date(2026, 11, 30)

    once = kpis.service_kpis(db_session, first=first, last=last, group_by="ward")
    again = kpis.service_kpis(db_session, first=first, last=last, group_by="ward")
    _ticket(db_session, created=NOW - timedelta(days=1))
    kpi_aggregates.refresh(db_session, now=NOW + timedelta(minutes=1))
    refreshed = kpis.service_kpis(db_session, first=first, last=last, group_by="ward")

    assert again is once and once.total.received == 1
    assert refreshed.total.received == 2
