"""The service's figures over a period: volume, on-time rate, satisfaction, backlog, response
times and hotspots. One module, so that the admin dashboards, and later the IOC API, its push
and the monthly report, count the same way.

The cohort of a period is the tickets *created* in [start, end); the backlog is a snapshot at
`now`. Days are local days (Asia/Ho_Chi_Minh). Medians are PostgreSQL's `percentile_cont`; on
SQLite (the embedded mode, small data) they are computed from the values.

A month over a million tickets takes a few hundred milliseconds to count, so `dashboard()`
keeps its result per process for TIEPDAN_DASHBOARD_CACHE_SECONDS and says when it was computed.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from core.settings import get_settings
from feedback.models import (
    OPEN_STATUSES,
    Agency,
    Category,
    SurveyResponse,
    Ticket,
    Ward,
)


@dataclass(frozen=True)
class VolumeRow:
    day: date
    key: str
    count: int


@dataclass(frozen=True)
class OnTimeRow:
    agency: str
    resolved: int
    on_time: int

    @property
    def rate(self) -> float | None:
        return self.on_time / self.resolved if self.resolved else None


@dataclass(frozen=True)
class Csat:
    scores: dict[int, int]  # 1..5 → how many answers
    responses: int
    resolved: int
    not_fixed: int

    @property
    def response_rate(self) -> float | None:
        return self.responses / self.resolved if self.resolved else None

    @property
    def average(self) -> float | None:
        total = sum(self.scores.values())
        return sum(s * n for s, n in self.scores.items()) / total if total else None


@dataclass(frozen=True)
class BacklogRow:
    agency: str
    open: int
    overdue: int


@dataclass(frozen=True)
class TimesRow:
    agency: str
    first_response_median_h: float | None
    first_response_avg_h: float | None
    resolution_median_h: float | None
    resolution_avg_h: float | None


@dataclass(frozen=True)
class Hotspot:
    ward_code: str
    ward_name: str
    category: str
    count: int
    open: int
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True)
class Dashboard:
    start: datetime
    end: datetime
    computed_at: datetime
    total: int
    volume_by_category: list[VolumeRow]
    volume_by_ward: list[VolumeRow]
    on_time: list[OnTimeRow]
    csat: Csat
    backlog: list[BacklogRow]
    times: list[TimesRow]
    hotspots: list[Hotspot]
    names: dict[str, str] = field(default_factory=dict)  # codes → names, for the labels


def _check(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("pass timezone-aware bounds")


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _local_day(session: Session) -> ColumnElement[Any]:
    timezone = get_settings().timezone
    if _postgres(session):
        return func.date(func.timezone(timezone, Ticket.created_at))
    # SQLite keeps UTC text; Vietnam has had no daylight saving time since 1975.
    return func.date(Ticket.created_at, "+7 hours")


def _hours_between(session: Session, later: Any, earlier: Any) -> ColumnElement[Any]:
    if _postgres(session):
        return func.extract("epoch", later - earlier) / 3600.0
    return (func.julianday(later) - func.julianday(earlier)) * 24.0


def _in_period(start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(Ticket.created_at >= start, Ticket.created_at < end)


def volume_by_day(
    session: Session, *, start: datetime, end: datetime, by: Literal["category", "ward"]
) -> list[VolumeRow]:
    """How many tickets were filed each local day, per category or per ward."""
    _check(start, end)
    key = Ticket.category_code if by == "category" else Ticket.ward_code
    day = _local_day(session).label("day")
    rows = session.execute(
        select(day, key, func.count())
        .where(_in_period(start, end))
        .group_by(day, key)
        .order_by(day)
    ).all()
    return [
        VolumeRow(
            day=d if isinstance(d, date) else date.fromisoformat(str(d)),
            key=k or "",
            count=n,
        )
        for d, k, n in rows
    ]


def on_time(session: Session, *, start: datetime, end: datetime) -> list[OnTimeRow]:
    """Per agency, the resolved tickets of the period and how many met their SLA deadline."""
    _check(start, end)
    rows = session.execute(
        select(
            Agency.code,
            func.count(Ticket.resolved_at),
            func.count(case((Ticket.resolved_at <= Ticket.sla_due_at, 1))),
        )
        .join(Agency, Agency.id == Ticket.agency_id)
        .where(_in_period(start, end))
        .group_by(Agency.code)
        .order_by(func.count(Ticket.resolved_at).desc(), Agency.code)
    ).all()
    return [OnTimeRow(agency=a, resolved=r, on_time=o) for a, r, o in rows if r]


def csat(session: Session, *, start: datetime, end: datetime) -> Csat:
    """The ratings of the period's tickets: the score distribution and the response rate."""
    _check(start, end)
    # The latest answer per ticket: a citizen may change their rating.
    latest = (
        select(func.max(SurveyResponse.id))
        .join(Ticket, Ticket.id == SurveyResponse.ticket_id)
        .where(_in_period(start, end))
        .group_by(SurveyResponse.ticket_id)
    )
    rows = session.execute(
        select(SurveyResponse.score, SurveyResponse.fixed, func.count())
        .where(SurveyResponse.id.in_(latest))
        .group_by(SurveyResponse.score, SurveyResponse.fixed)
    ).all()
    scores = dict.fromkeys(range(1, 6), 0)
    not_fixed = 0
    for score, fixed, count in rows:
        scores[score] += count
        if fixed is False:
            not_fixed += count
    resolved = session.scalar(
        select(func.count()).where(_in_period(start, end), Ticket.resolved_at.is_not(None))
    )
    return Csat(
        scores=scores,
        responses=sum(scores.values()),
        resolved=resolved or 0,
        not_fixed=not_fixed,
    )


def backlog(session: Session, *, now: datetime) -> list[BacklogRow]:
    """Per agency, the open tickets now and how many of them are past their deadline."""
    rows = session.execute(
        select(
            Agency.code,
            func.count(),
            func.count(case((Ticket.sla_due_at < now, 1))),
        )
        .join(Agency, Agency.id == Ticket.agency_id)
        .where(Ticket.status.in_(OPEN_STATUSES))
        .group_by(Agency.code)
        .order_by(func.count().desc(), Agency.code)
    ).all()
    return [BacklogRow(agency=a, open=o, overdue=d) for a, o, d in rows]


def response_times(session: Session, *, start: datetime, end: datetime) -> list[TimesRow]:
    """Per agency, the median and mean hours to the first response and to the resolution."""
    _check(start, end)
    first = _hours_between(session, Ticket.first_response_at, Ticket.created_at)
    resolution = _hours_between(session, Ticket.resolved_at, Ticket.created_at)
    base = (
        select(Agency.code)
        .join(Agency, Agency.id == Ticket.agency_id)
        .where(_in_period(start, end))
        .group_by(Agency.code)
        .order_by(Agency.code)
    )
    if _postgres(session):
        rows = session.execute(
            base.add_columns(
                func.percentile_cont(0.5).within_group(first),
                func.avg(first),
                func.percentile_cont(0.5).within_group(resolution),
                func.avg(resolution),
            )
        ).all()
        return [
            TimesRow(a, *(None if v is None else float(v) for v in values)) for a, *values in rows
        ]
    values: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for agency, hours_first, hours_resolution in session.execute(
        select(Agency.code, first, resolution)
        .join(Agency, Agency.id == Ticket.agency_id)
        .where(_in_period(start, end))
    ):
        if hours_first is not None:
            values[agency][0].append(float(hours_first))
        if hours_resolution is not None:
            values[agency][1].append(float(hours_resolution))
    return [
        TimesRow(
            agency,
            statistics.median(f) if f else None,
            statistics.fmean(f) if f else None,
            statistics.median(r) if r else None,
            statistics.fmean(r) if r else None,
        )
        for agency, (f, r) in sorted(values.items())
    ]


def hotspots(
    session: Session, *, start: datetime, end: datetime, now: datetime, limit: int = 10
) -> list[Hotspot]:
    """The (ward, category) pairs with the most tickets in the period, with those still open."""
    _check(start, end)
    still_open = func.count(case((Ticket.status.in_(OPEN_STATUSES), 1)))
    rows = session.execute(
        select(
            Ticket.ward_code,
            Ward.name,
            Ticket.category_code,
            func.count(),
            still_open,
            Ward.latitude,
            Ward.longitude,
        )
        .join(Ward, Ward.code == Ticket.ward_code)
        .where(_in_period(start, end), Ticket.category_code.is_not(None))
        .group_by(Ticket.ward_code, Ward.name, Ticket.category_code, Ward.latitude, Ward.longitude)
        .order_by(func.count().desc(), Ticket.ward_code)
        .limit(limit)
    ).all()
    return [
        Hotspot(w or "", n, c or "", count, o, lat, lon) for w, n, c, count, o, lat, lon in rows
    ]


def _names(session: Session) -> dict[str, str]:
    names = {code: name for code, name in session.execute(select(Category.code, Category.name))}
    names.update(
        {f"ward:{code}": name for code, name in session.execute(select(Ward.code, Ward.name))}
    )
    names.update(
        {f"agency:{code}": name for code, name in session.execute(select(Agency.code, Agency.name))}
    )
    return names


def compute_dashboard(
    session: Session, *, start: datetime, end: datetime, now: datetime | None = None
) -> Dashboard:
    """Every figure of the dashboard for [start, end), counted now."""
    now = now or datetime.now(UTC)
    by_category = volume_by_day(session, start=start, end=end, by="category")
    return Dashboard(
        start=start,
        end=end,
        computed_at=now,
        total=sum(row.count for row in by_category),
        volume_by_category=by_category,
        volume_by_ward=volume_by_day(session, start=start, end=end, by="ward"),
        on_time=on_time(session, start=start, end=end),
        csat=csat(session, start=start, end=end),
        backlog=backlog(session, now=now),
        times=response_times(session, start=start, end=end),
        hotspots=hotspots(session, start=start, end=end, now=now),
        names=_names(session),
    )


_cache: dict[tuple[datetime, datetime], tuple[float, Dashboard]] = {}
_cache_lock = threading.Lock()
_computing: dict[tuple[datetime, datetime], threading.Lock] = {}


def dashboard(session: Session, *, start: datetime, end: datetime) -> Dashboard:
    """The dashboard for [start, end), computed at most once per TIEPDAN_DASHBOARD_CACHE_SECONDS
    in this process; requests arriving while it is computed wait for that result."""
    ttl = get_settings().dashboard_cache_seconds
    key = (start, end)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < ttl:
            return hit[1]
        lock = _computing.setdefault(key, threading.Lock())
    with lock:
        with _cache_lock:
            hit = _cache.get(key)
            if hit is not None and time.monotonic() - hit[0] < ttl:
                return hit[1]
        result = compute_dashboard(session, start=start, end=end)
        with _cache_lock:
            if len(_cache) > 64:  # periods people chose once: keep the memory bounded
                _cache.clear()
            _cache[key] = (time.monotonic(), result)
            _computing.pop(key, None)
        return result


def forget_dashboards() -> None:
    with _cache_lock:
        _cache.clear()
