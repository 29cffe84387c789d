"""The service's figures over a period: one module, so that the admin dashboards, the IOC API,
its push and the monthly report count the same way.

- The cohort of a period is the tickets *created* on its local days (Asia/Ho_Chi_Minh): how
  many were received, and of them how many are now resolved, rejected, open; on time (resolved
  by the SLA deadline) and overdue (resolved late, or open past the deadline); the working hours
  to the first response and to the resolution (median, p90, mean); the citizens' ratings (the
  latest answer per ticket); the reopened and the duplicates.
- The backlog at the period's end is a snapshot: every ticket created by then and not finished
  (resolved, rejected, closed as a duplicate) by then.
- Rates are shares of their denominators: on time of the resolved; the CSAT response rate and
  the reopen rate of the tickets that were ever resolved; "≥ 4" and "chưa được xử lý" of the
  ratings; duplicates of the received. A rate with an empty denominator is None.

Everything is read from the aggregates of `feedback/kpi_aggregates.py`, never from `tickets`,
and says how fresh they are. Hotspots are in `feedback/hotspots.py`.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select, text
from sqlalchemy.orm import Session

from core.settings import get_settings
from feedback.kpi_aggregates import fresh_as_of, version
from feedback.kpi_facts import COUNTERS, quantile
from feedback.kpi_models import KpiDaily
from feedback.models import Agency, Category, Ward

GroupBy = Literal["agency", "category", "ward", "channel", "day"]
GROUPS: tuple[GroupBy, ...] = ("agency", "category", "ward", "channel", "day")


# --- Sums of aggregate rows -----------------------------------------------------------------


@dataclass
class Sums:
    """Aggregate rows added up: the counters, and the working-hour histograms."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    fr_count: int = 0
    fr_sum: float = 0.0
    fr_hist: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    res_count: int = 0
    res_sum: float = 0.0
    res_hist: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, row: KpiDaily) -> None:
        for name in COUNTERS:
            self.counts[name] += getattr(row, name)
        self.fr_count += row.fr_count
        self.fr_sum += row.fr_sum_h
        for k, n in (row.fr_hist or {}).items():
            self.fr_hist[int(k)] += n
        self.res_count += row.res_count
        self.res_sum += row.res_sum_h
        for k, n in (row.res_hist or {}).items():
            self.res_hist[int(k)] += n


@dataclass(frozen=True)
class Durations:
    """Working hours (the SLA calendar) over the tickets that have the moment measured."""

    count: int
    median_h: float | None
    p90_h: float | None
    mean_h: float | None


@dataclass(frozen=True)
class CsatFigures:
    scores: dict[int, int]  # 1..5 → how many (latest) ratings
    responses: int
    mean: float | None
    satisfied_share: float | None  # scores ≥ 4, of the ratings
    response_rate: float | None  # ratings, of the tickets ever resolved
    not_fixed: int
    not_fixed_share: float | None  # "chưa được xử lý", of the ratings


@dataclass(frozen=True)
class Figures:
    """The KPIs of one group (an agency, a ward, a day ...) or of the whole period."""

    key: str
    name: str
    received: int
    resolved: int
    rejected: int
    open: int
    backlog_end: int
    on_time: int
    on_time_rate: float | None
    overdue: int
    open_overdue: int
    first_response: Durations
    resolution: Durations
    csat: CsatFigures
    reopened: int
    reopen_rate: float | None
    duplicates: int
    duplicate_share: float | None


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def figures(key: str, name: str, sums: Sums, backlog_end: int) -> Figures:
    c = sums.counts
    scores = {s: c[f"csat_{s}"] for s in range(1, 6)}
    responses = sum(scores.values())
    return Figures(
        key=key,
        name=name,
        received=c["received"],
        resolved=c["resolved"],
        rejected=c["rejected"],
        open=c["open"],
        backlog_end=backlog_end,
        on_time=c["on_time"],
        on_time_rate=_share(c["on_time"], c["resolved"]),
        overdue=c["overdue"],
        open_overdue=c["open_overdue"],
        first_response=Durations(
            sums.fr_count,
            _round(quantile(sums.fr_hist, 0.5)),
            _round(quantile(sums.fr_hist, 0.9)),
            _round(sums.fr_sum / sums.fr_count) if sums.fr_count else None,
        ),
        resolution=Durations(
            sums.res_count,
            _round(quantile(sums.res_hist, 0.5)),
            _round(quantile(sums.res_hist, 0.9)),
            _round(sums.res_sum / sums.res_count) if sums.res_count else None,
        ),
        csat=CsatFigures(
            scores=scores,
            responses=responses,
            mean=_round(sum(s * n for s, n in scores.items()) / responses) if responses else None,
            satisfied_share=_share(scores[4] + scores[5], responses),
            response_rate=_share(responses, c["ever_resolved"]),
            not_fixed=c["csat_not_fixed"],
            not_fixed_share=_share(c["csat_not_fixed"], responses),
        ),
        reopened=c["reopened"],
        reopen_rate=_share(c["reopened"], c["ever_resolved"]),
        duplicates=c["duplicates"],
        duplicate_share=_share(c["duplicates"], c["received"]),
    )


# --- Periods --------------------------------------------------------------------------------


def local_today() -> date:
    return datetime.now(ZoneInfo(get_settings().timezone)).date()


def local_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """The UTC moments where local day `first` starts and local day `last` ends."""
    zone = ZoneInfo(get_settings().timezone)
    start = datetime.combine(first, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return start, end.astimezone(UTC)


def local_days(start: datetime, end: datetime) -> tuple[date, date]:
    """The local days of [start, end): the inverse of `local_bounds`."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("pass timezone-aware bounds")
    zone = ZoneInfo(get_settings().timezone)
    return start.astimezone(zone).date(), (end - timedelta(microseconds=1)).astimezone(zone).date()


def names(session: Session) -> dict[str, dict[str, str]]:
    """Codes → names per dimension, for the labels."""
    return {
        "agency": dict(session.execute(select(Agency.code, Agency.name)).all()),
        "category": dict(session.execute(select(Category.code, Category.name)).all()),
        "ward": dict(session.execute(select(Ward.code, Ward.name)).all()),
        "channel": {"web": "Trang web", "telegram": "Telegram", "zalo": "Zalo", "": "Khác"},
    }


_UNKNOWN = {
    "agency": "Chưa giao cơ quan",
    "category": "Chưa phân loại",
    "ward": "Chưa rõ phường, xã",
    "channel": "Khác (nhập trực tiếp, Open311)",
}


def label(labels: dict[str, dict[str, str]], dim: str, key: str) -> str:
    if dim == "day":
        return key
    return labels.get(dim, {}).get(key) or key or _UNKNOWN.get(dim, key)


# --- The KPIs of a period -------------------------------------------------------------------


@dataclass(frozen=True)
class KpiReport:
    first: date
    last: date
    group_by: GroupBy | None
    total: Figures
    groups: list[Figures]
    fresh_as_of: datetime | None
    computed_at: datetime


def _backlog_until(session: Session, dim: str, last: date) -> dict[str, int]:
    rows = session.execute(
        select(KpiDaily.key, func.sum(KpiDaily.received) - func.sum(KpiDaily.finished))
        .where(KpiDaily.dim == dim, KpiDaily.day <= last)
        .group_by(KpiDaily.key)
    ).all()
    return {key: int(value or 0) for key, value in rows}


_SUMMED = (*COUNTERS, "fr_count", "fr_sum_h", "res_count", "res_sum_h")


def _sums_by_key(session: Session, dim: str, first: date, last: date) -> dict[str, Sums]:
    """Per key of `dim`, its rows of [first, last] added up by the database: the counters with
    SUM, the histograms by expanding their buckets (json_each), so that a month of a few
    thousand rows is never loaded row by row."""
    in_period = and_(KpiDaily.dim == dim, KpiDaily.day >= first, KpiDaily.day <= last)
    per_key: dict[str, Sums] = defaultdict(Sums)
    columns = [func.sum(getattr(KpiDaily, name)) for name in _SUMMED]
    for key, *values in session.execute(
        select(KpiDaily.key, *columns).where(in_period).group_by(KpiDaily.key)
    ):
        sums = per_key[key]
        for name, value in zip(COUNTERS, values, strict=False):
            sums.counts[name] = int(value or 0)
        fr_count, fr_sum, res_count, res_sum = values[len(COUNTERS) :]
        sums.fr_count, sums.fr_sum = int(fr_count or 0), float(fr_sum or 0)
        sums.res_count, sums.res_sum = int(res_count or 0), float(res_sum or 0)
    each = "json_each_text" if session.get_bind().dialect.name == "postgresql" else "json_each"
    for column, target in (("fr_hist", "fr_hist"), ("res_hist", "res_hist")):
        statement = text(
            f"SELECT d.key, b.key, sum(CAST(b.value AS INTEGER)) "
            f"FROM kpi_daily d, {each}(d.{column}) b "
            "WHERE d.dim = :dim AND d.day >= :first AND d.day <= :last "
            "GROUP BY d.key, b.key"
        )
        for key, bucket, count in session.execute(
            statement, {"dim": dim, "first": first, "last": last}
        ):
            getattr(per_key[key], target)[int(bucket)] += int(count)
    return per_key


# The figures only change when the aggregates are refreshed: a report is kept per process for
# as long as they have not been, so an IOC polling every few seconds costs one small query.
_reports: dict[tuple[Any, ...], KpiReport] = {}
_reports_lock = threading.Lock()


def service_kpis(
    session: Session, *, first: date, last: date, group_by: GroupBy | None = None
) -> KpiReport:
    """The KPIs of the tickets created on local days [first, last], in total and per group
    (computed once per state of the aggregates in this process)."""
    if first > last:
        raise ValueError("first must not be after last")
    state = version(session)
    key = (first, last, group_by, state)
    if state is not None:
        with _reports_lock:
            hit = _reports.get(key)
        if hit is not None:
            return hit
    report = _compute_kpis(session, first=first, last=last, group_by=group_by)
    if state is not None:
        with _reports_lock:
            if len(_reports) > 256:
                _reports.clear()
            _reports[key] = report
    return report


def _compute_kpis(
    session: Session, *, first: date, last: date, group_by: GroupBy | None
) -> KpiReport:
    computed_at = datetime.now(UTC)
    dim = "all" if group_by in (None, "day") else group_by
    # The province's rows: one a day, few enough to add up here.
    rows = session.scalars(
        select(KpiDaily).where(KpiDaily.dim == "all", KpiDaily.day >= first, KpiDaily.day <= last)
    ).all()
    total = Sums()
    for row in rows:
        total.add(row)
    backlog_total = _backlog_until(session, "all", last).get("", 0)
    groups: list[Figures] = []
    if group_by == "day":
        by_day = {row.day: row for row in rows}
        running = _backlog_until(session, "all", first - timedelta(days=1)).get("", 0)
        day = first
        while day <= last:
            sums = Sums()
            found = by_day.get(day)
            if found is not None:
                sums.add(found)
                running += found.received - found.finished
            groups.append(figures(day.isoformat(), day.isoformat(), sums, running))
            day += timedelta(days=1)
    elif group_by is not None:
        per_key = _sums_by_key(session, dim, first, last)
        backlog = _backlog_until(session, dim, last)
        labels = names(session)
        groups = [
            figures(key, label(labels, dim, key), sums, backlog.get(key, 0))
            for key, sums in per_key.items()
            if sums.counts["received"]
        ]
        groups.sort(key=lambda f: (-f.received, f.key))
    return KpiReport(
        first=first,
        last=last,
        group_by=group_by,
        total=figures("", "Toàn tỉnh", total, backlog_total),
        groups=groups,
        fresh_as_of=fresh_as_of(session),
        computed_at=computed_at,
    )


def volume_by_day(
    session: Session, *, first: date, last: date, dim: Literal["category", "ward", "agency"]
) -> list[tuple[date, str, int]]:
    """How many tickets were filed each local day, per key of `dim`."""
    return [
        (day, key, received)
        for day, key, received in session.execute(
            select(KpiDaily.day, KpiDaily.key, KpiDaily.received)
            .where(
                KpiDaily.dim == dim,
                KpiDaily.day >= first,
                KpiDaily.day <= last,
                KpiDaily.received > 0,
            )
            .order_by(KpiDaily.day, KpiDaily.key)
        )
    ]


@dataclass(frozen=True)
class Backlog:
    key: str
    open: int
    overdue: int


def backlog_now(session: Session, *, dim: str = "agency") -> list[Backlog]:
    """Per key, the tickets open now and how many of them are past their deadline."""
    rows = session.execute(
        select(KpiDaily.key, func.sum(KpiDaily.open), func.sum(KpiDaily.open_overdue))
        .where(KpiDaily.dim == dim)
        .group_by(KpiDaily.key)
    ).all()
    found = [Backlog(key, int(o or 0), int(d or 0)) for key, o, d in rows if key and o]
    return sorted(found, key=lambda b: (-b.open, b.key))


# --- The admin dashboard --------------------------------------------------------------------


@dataclass(frozen=True)
class Dashboard:
    first: date
    last: date
    computed_at: datetime
    fresh_as_of: datetime | None
    report: KpiReport  # the period by agency
    volume_by_category: list[tuple[date, str, int]]
    volume_by_ward: list[tuple[date, str, int]]
    backlog: list[Backlog]
    hotspots: list[Any]  # feedback.hotspots.Hotspot
    names: dict[str, dict[str, str]]

    @property
    def total(self) -> int:
        return self.report.total.received


def compute_dashboard(
    session: Session, *, start: datetime, end: datetime, now: datetime | None = None
) -> Dashboard:
    """Every figure of the dashboard for the local days of [start, end)."""
    from feedback.hotspots import find_hotspots

    first, last = local_days(start, end)
    report = service_kpis(session, first=first, last=last, group_by="agency")
    return Dashboard(
        first=first,
        last=last,
        computed_at=now or datetime.now(UTC),
        fresh_as_of=report.fresh_as_of,
        report=report,
        volume_by_category=volume_by_day(session, first=first, last=last, dim="category"),
        volume_by_ward=volume_by_day(session, first=first, last=last, dim="ward"),
        backlog=backlog_now(session),
        hotspots=find_hotspots(session, last=last),
        names=names(session),
    )


_cache: dict[tuple[datetime, datetime], tuple[float, Dashboard]] = {}
_cache_lock = threading.Lock()


def dashboard(session: Session, *, start: datetime, end: datetime) -> Dashboard:
    """The dashboard for [start, end), kept per process for TIEPDAN_DASHBOARD_CACHE_SECONDS
    (the aggregates are refreshed on their own schedule; this saves the queries)."""
    ttl = get_settings().dashboard_cache_seconds
    key = (start, end)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < ttl:
            return hit[1]
    result = compute_dashboard(session, start=start, end=end)
    with _cache_lock:
        if len(_cache) > 64:  # periods people chose once: keep the memory bounded
            _cache.clear()
        _cache[key] = (time.monotonic(), result)
    return result


def forget_dashboards() -> None:
    with _cache_lock:
        _cache.clear()
    with _reports_lock:
        _reports.clear()


@dataclass(frozen=True)
class WardPoint:
    code: str
    name: str
    latitude: float
    longitude: float
    figures: Figures | None  # None: no ticket in the period
    backlog_end: int  # open at the period's end, whenever filed


def ward_layer(session: Session, *, first: date, last: date) -> tuple[KpiReport, list[WardPoint]]:
    """Every ward with a known centre, with its period's figures, for a map layer."""
    report = service_kpis(session, first=first, last=last, group_by="ward")
    by_ward = {g.key: g for g in report.groups}
    backlog = _backlog_until(session, "ward", last)
    wards = session.execute(
        select(Ward.code, Ward.name, Ward.latitude, Ward.longitude).order_by(Ward.code)
    ).all()
    return report, [
        WardPoint(code, name, lat, lon, by_ward.get(code), backlog.get(code, 0))
        for code, name, lat, lon in wards
        if lat is not None and lon is not None
    ]
