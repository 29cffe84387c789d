"""The KPI aggregates, maintained incrementally: the tickets changed since the last refresh are
read, each one's contribution is recomputed, and the difference from what it contributed last
time is added to the daily sums (`feedback/kpi_models.py`).

A ticket contributes to the row of the local day it was *created* (its cohort: received,
resolved, on time, times, ratings ...) and, once finished (resolved, rejected, or closed as a
duplicate), one `finished` to the row of the local day it was finished. Every contribution goes
to one row per dimension: `all` (the whole province), `agency`, `category`, `ward` and
`channel` (an empty key: none yet, such as a ticket in triage without an agency); hotspots read
`ward_category` rows, which carry only the counts received and open.

Times are in working hours of the SLA calendar (`feedback/sla.py`). The medians and p90s come
from histograms whose buckets are 5% wide (0.25 h below a quarter of an hour), so an estimate is
within 5% of the ticket value at that rank.

Beat runs `feedback.refresh_kpis` every TIEPDAN_KPI_REFRESH_SECONDS; the figures say when they
were refreshed (`fresh_as_of`). Every change to a ticket stamps its `updated_at` (the history
does), which is what the refresh follows; a rating or a reopening is such a change. The refresh
starts again a little before where it stopped, so that a transaction that committed late is not
missed; reading a ticket twice adds nothing the second time. `rebuild()` recomputes everything
(after a bulk load, or after the working calendar changed for past days).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, select, text, tuple_
from sqlalchemy.orm import Session

from core.settings import get_settings
from feedback.kpi_models import KpiDaily, KpiRefreshState, KpiTicketFact
from feedback.models import (
    OPEN_STATUSES,
    Agency,
    SurveyResponse,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from feedback.sla import WorkingCalendar, current_calendar

DIMENSIONS = ("all", "agency", "category", "ward", "channel")
HOTSPOT_DIM = "ward_category"
COUNTERS = (
    "received",
    "resolved",
    "rejected",
    "open",
    "open_overdue",
    "on_time",
    "overdue",
    "ever_resolved",
    "reopened",
    "duplicates",
    "csat_1",
    "csat_2",
    "csat_3",
    "csat_4",
    "csat_5",
    "csat_not_fixed",
)
_HOTSPOT_COUNTERS = ("received", "open")
_STATE_ID = 1
# A refresh starts this far before its watermark: a transaction that stamped `updated_at` before
# the last refresh read, but committed after it, is read now.
OVERLAP = timedelta(minutes=2)
_BATCH = 2000
_FINISHED = (TicketStatus.RESOLVED, TicketStatus.CLOSED, TicketStatus.REJECTED)

# --- Histograms of working hours ------------------------------------------------------------

FIRST_EDGE_H = 0.25
GROWTH = 1.05
MAX_BUCKET = 260  # 0.25 h × 1.05^260 ≈ 80,000 h: no ticket waits longer


def bucket_of(hours: float) -> int:
    """The histogram bucket of a duration: 0 holds [0, 0.25 h], bucket k the k-th 5% step."""
    if hours <= FIRST_EDGE_H:
        return 0
    k = math.ceil(math.log(hours / FIRST_EDGE_H) / math.log(GROWTH) - 1e-9)
    return min(max(k, 1), MAX_BUCKET)


def bucket_bounds(k: int) -> tuple[float, float]:
    if k == 0:
        return 0.0, FIRST_EDGE_H
    return FIRST_EDGE_H * GROWTH ** (k - 1), FIRST_EDGE_H * GROWTH**k


def quantile(histogram: dict[int, int], q: float) -> float | None:
    """The q-quantile (nearest rank) of the durations counted in `histogram`, interpolated
    inside its bucket; None when it is empty."""
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank = max(math.ceil(q * total), 1)
    seen = 0
    for k in sorted(histogram):
        count = histogram[k]
        if count <= 0:
            continue
        if seen + count >= rank:
            low, high = bucket_bounds(k)
            return low + (high - low) * (rank - seen) / count
        seen += count
    low, high = bucket_bounds(max(histogram))
    return high


# --- One ticket's contribution --------------------------------------------------------------


@dataclass(frozen=True)
class _TicketRow:
    id: int
    created_at: datetime
    status: TicketStatus
    agency: str | None
    category: str | None
    ward: str | None
    channel: str | None
    sla_due_at: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    overdue_at: datetime | None
    duplicate_of_id: int | None
    updated_at: datetime


_COLUMNS = (
    Ticket.id,
    Ticket.created_at,
    Ticket.status,
    Agency.code,
    Ticket.category_code,
    Ticket.ward_code,
    Ticket.channel,
    Ticket.sla_due_at,
    Ticket.first_response_at,
    Ticket.resolved_at,
    Ticket.closed_at,
    Ticket.overdue_at,
    Ticket.duplicate_of_id,
    Ticket.updated_at,
)


def _select_tickets() -> Any:
    return select(*_COLUMNS).outerjoin(Agency, Agency.id == Ticket.agency_id)


def _local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def _fact(
    row: _TicketRow,
    *,
    calendar: WorkingCalendar,
    zone: ZoneInfo,
    survey: tuple[int, bool | None] | None,
    reopened: bool,
    rejected_at: datetime | None,
) -> dict[str, Any]:
    status = row.status
    is_open = status in OPEN_STATUSES
    resolved = row.resolved_at is not None and status in (
        TicketStatus.RESOLVED,
        TicketStatus.CLOSED,
    )
    counts: dict[str, int] = {"received": 1}

    def count(name: str, condition: bool) -> None:
        if condition:
            counts[name] = 1

    due = row.sla_due_at
    count("resolved", resolved)
    count("rejected", status == TicketStatus.REJECTED)
    count("open", is_open)
    count("open_overdue", is_open and row.overdue_at is not None)
    on_time = bool(resolved and due and row.resolved_at and row.resolved_at <= due)
    count("on_time", on_time)
    late = resolved and due is not None and not on_time
    count("overdue", late or (is_open and row.overdue_at is not None))
    count("ever_resolved", resolved or reopened)
    count("reopened", reopened)
    count("duplicates", row.duplicate_of_id is not None)
    if survey is not None:
        score, fixed = survey
        count(f"csat_{score}", 1 <= score <= 5)
        count("csat_not_fixed", fixed is False)

    finished_at: datetime | None = None
    if status in _FINISHED:
        if resolved:
            finished_at = row.resolved_at
        elif status == TicketStatus.REJECTED:
            finished_at = rejected_at or row.updated_at
        else:  # closed without a resolution: merged into another ticket
            finished_at = row.closed_at or row.updated_at

    def hours(end: datetime | None) -> float | None:
        if end is None:
            return None
        return max(calendar.working_seconds(row.created_at, end), 0.0) / 3600

    return {
        "day": _local_day(row.created_at, zone).isoformat(),
        "fin": _local_day(finished_at, zone).isoformat() if finished_at else None,
        "keys": {
            "all": "",
            "agency": row.agency or "",
            "category": row.category or "",
            "ward": row.ward or "",
            "channel": row.channel or "",
        },
        "c": counts,
        "fr": hours(row.first_response_at),
        "res": hours(row.resolved_at) if resolved else None,
    }


@dataclass
class _Delta:
    counts: Counter[str] = field(default_factory=Counter)
    finished: int = 0
    fr_count: int = 0
    fr_sum: float = 0.0
    fr_hist: Counter[int] = field(default_factory=Counter)
    res_count: int = 0
    res_sum: float = 0.0
    res_hist: Counter[int] = field(default_factory=Counter)


_Key = tuple[date, str, str]


def _add(deltas: dict[_Key, _Delta], fact: dict[str, Any], sign: int) -> None:
    day = date.fromisoformat(fact["day"])
    keys: dict[str, str] = fact["keys"]
    counts: dict[str, int] = fact["c"]
    for dim in DIMENSIONS:
        delta = deltas[(day, dim, keys[dim])]
        for name, value in counts.items():
            delta.counts[name] += sign * value
        if fact["fr"] is not None:
            delta.fr_count += sign
            delta.fr_sum += sign * fact["fr"]
            delta.fr_hist[bucket_of(fact["fr"])] += sign
        if fact["res"] is not None:
            delta.res_count += sign
            delta.res_sum += sign * fact["res"]
            delta.res_hist[bucket_of(fact["res"])] += sign
        if fact["fin"] is not None:
            deltas[(date.fromisoformat(fact["fin"]), dim, keys[dim])].finished += sign
    if keys["ward"] and keys["category"]:
        delta = deltas[(day, HOTSPOT_DIM, f"{keys['ward']}|{keys['category']}")]
        for name in _HOTSPOT_COUNTERS:
            delta.counts[name] += sign * counts.get(name, 0)


def _merge_hist(stored: dict[str, int] | None, change: Counter[int]) -> dict[str, int]:
    merged = Counter({int(k): v for k, v in (stored or {}).items()})
    merged.update(change)
    return {str(k): v for k, v in sorted(merged.items()) if v}


def _empty_row(day: date, dim: str, key: str) -> dict[str, Any]:
    row: dict[str, Any] = {"day": day, "dim": dim, "key": key}
    row.update(dict.fromkeys(COUNTERS, 0))
    row.update(
        fr_count=0, fr_sum_h=0.0, fr_hist={}, res_count=0, res_sum_h=0.0, res_hist={}, finished=0
    )
    return row


def _apply_to(row: dict[str, Any], delta: _Delta) -> None:
    for name, value in delta.counts.items():
        row[name] += value
    row["finished"] += delta.finished
    row["fr_count"] += delta.fr_count
    row["fr_sum_h"] += delta.fr_sum
    row["res_count"] += delta.res_count
    row["res_sum_h"] += delta.res_sum
    if delta.fr_hist:
        row["fr_hist"] = _merge_hist(row["fr_hist"], delta.fr_hist)
    if delta.res_hist:
        row["res_hist"] = _merge_hist(row["res_hist"], delta.res_hist)


_ROW_FIELDS = (*COUNTERS, "fr_count", "fr_sum_h", "fr_hist", "res_count", "res_sum_h", "res_hist",
               "finished")  # fmt: skip


def _write(session: Session, deltas: dict[_Key, _Delta]) -> None:
    """Add the deltas to the stored rows: read the rows touched, change them, write them."""
    keys = [key for key, delta in deltas.items() if not _is_zero(delta)]
    for chunk_start in range(0, len(keys), 500):
        chunk = keys[chunk_start : chunk_start + 500]
        stored = {
            (row.day, row.dim, row.key): row
            for row in session.scalars(
                select(KpiDaily).where(tuple_(KpiDaily.day, KpiDaily.dim, KpiDaily.key).in_(chunk))
            )
        }
        new_rows = []
        for key in chunk:
            delta = deltas[key]
            existing = stored.get(key)
            if existing is None:
                values = _empty_row(*key)
                _apply_to(values, delta)
                new_rows.append(values)
                continue
            values = {name: getattr(existing, name) for name in _ROW_FIELDS}
            _apply_to(values, delta)
            if values["received"] == 0 and values["finished"] == 0:
                session.delete(existing)  # every ticket it counted moved elsewhere
                continue
            for name in _ROW_FIELDS:
                setattr(existing, name, values[name])
        if new_rows:
            session.execute(insert(KpiDaily), new_rows)
    session.flush()


def _is_zero(delta: _Delta) -> bool:
    return (
        not any(delta.counts.values())
        and not delta.finished
        and not delta.fr_count
        and not delta.res_count
        and not any(delta.fr_hist.values())
        and not any(delta.res_hist.values())
    )


def _facts_for(
    session: Session, rows: Sequence[_TicketRow], calendar: WorkingCalendar, zone: ZoneInfo
) -> dict[int, dict[str, Any]]:
    ids = [row.id for row in rows]
    latest = (
        select(func.max(SurveyResponse.id))
        .where(SurveyResponse.ticket_id.in_(ids))
        .group_by(SurveyResponse.ticket_id)
    )
    surveys = {
        ticket_id: (score, fixed)
        for ticket_id, score, fixed in session.execute(
            select(SurveyResponse.ticket_id, SurveyResponse.score, SurveyResponse.fixed).where(
                SurveyResponse.id.in_(latest)
            )
        )
    }
    reopened = set(
        session.scalars(
            select(TicketEvent.ticket_id)
            .where(TicketEvent.ticket_id.in_(ids), TicketEvent.kind == "reopen")
            .distinct()
        )
    )
    rejected_at = dict(
        session.execute(  # type: ignore[arg-type]
            select(TicketEvent.ticket_id, func.max(TicketEvent.created_at))
            .where(TicketEvent.ticket_id.in_(ids), TicketEvent.to_status == "rejected")
            .group_by(TicketEvent.ticket_id)
        ).all()
    )
    return {
        row.id: _fact(
            row,
            calendar=calendar,
            zone=zone,
            survey=surveys.get(row.id),
            reopened=row.id in reopened or row.status == TicketStatus.REOPENED,
            rejected_at=_aware(rejected_at.get(row.id)),
        )
        for row in rows
    }


def _aware(moment: datetime | None) -> datetime | None:
    # A bare aggregate (max) skips the column type's conversion: SQLite returns naive UTC.
    if moment is None or isinstance(moment, str):
        return datetime.fromisoformat(moment).replace(tzinfo=UTC) if moment else None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _take_in(session: Session, rows: Sequence[_TicketRow], calendar: WorkingCalendar) -> int:
    """Recompute these tickets' contributions and add the changes; returns how many changed."""
    zone = ZoneInfo(get_settings().timezone)
    new = _facts_for(session, rows, calendar, zone)
    old = {
        fact.ticket_id: fact
        for fact in session.scalars(select(KpiTicketFact).where(KpiTicketFact.ticket_id.in_(new)))
    }
    deltas: dict[_Key, _Delta] = defaultdict(_Delta)
    changed = 0
    inserts = []
    for ticket_id, fact in new.items():
        stored = old.get(ticket_id)
        if stored is not None and stored.fact == fact:
            continue
        changed += 1
        if stored is not None:
            _add(deltas, stored.fact, -1)
            stored.fact = fact
        else:
            inserts.append({"ticket_id": ticket_id, "fact": fact})
        _add(deltas, fact, +1)
    if inserts:
        session.execute(insert(KpiTicketFact), inserts)
    _write(session, deltas)
    return changed


def _rows(result: Iterable[Any]) -> list[_TicketRow]:
    return [_TicketRow(*row) for row in result]


@dataclass(frozen=True)
class RefreshResult:
    read: int
    changed: int
    caught_up: bool
    refreshed_at: datetime | None


def _state(session: Session) -> KpiRefreshState:
    state = session.get(KpiRefreshState, _STATE_ID, with_for_update=True)
    if state is None:
        state = KpiRefreshState(id=_STATE_ID)
        session.add(state)
        session.flush()
    return state


def refresh(session: Session, *, now: datetime | None = None, limit: int = 50_000) -> RefreshResult:
    """Take in the tickets changed since the last refresh (at most `limit` of them)."""
    now = now or datetime.now(UTC)
    state = _state(session)  # a row lock: one refresh at a time
    calendar = current_calendar(session)
    read = changed = 0
    after: tuple[datetime, int] | None = None
    if state.watermark_at is not None:
        after = (state.watermark_at - OVERLAP, 0)
    caught_up = False
    while read < limit:
        query = _select_tickets().order_by(Ticket.updated_at, Ticket.id).limit(_BATCH)
        if after is not None:
            query = query.where(tuple_(Ticket.updated_at, Ticket.id) > tuple_(*after))
        rows = _rows(session.execute(query))
        if not rows:
            caught_up = True
            break
        read += len(rows)
        changed += _take_in(session, rows, calendar)
        after = (rows[-1].updated_at, rows[-1].id)
        if state.watermark_at is None or after > (state.watermark_at, state.watermark_id or 0):
            state.watermark_at, state.watermark_id = after
        if len(rows) < _BATCH:
            caught_up = True
            break
    if caught_up:
        state.refreshed_at = now
    session.flush()
    return RefreshResult(
        read=read, changed=changed, caught_up=caught_up, refreshed_at=state.refreshed_at
    )


def rebuild(session: Session, *, now: datetime | None = None, progress: Any = None) -> int:
    """Recompute every aggregate from the tickets; returns how many tickets were read."""
    now = now or datetime.now(UTC)
    state = _state(session)
    session.execute(delete(KpiDaily))
    session.execute(delete(KpiTicketFact))
    calendar = current_calendar(session)
    zone = ZoneInfo(get_settings().timezone)
    high_water = session.execute(
        select(Ticket.updated_at, Ticket.id).order_by(Ticket.updated_at.desc(), Ticket.id.desc())
    ).first()
    deltas: dict[_Key, _Delta] = defaultdict(_Delta)
    last_id = 0
    total = 0
    while True:
        rows = _rows(
            session.execute(
                _select_tickets().where(Ticket.id > last_id).order_by(Ticket.id).limit(10_000)
            )
        )
        if not rows:
            break
        facts = _facts_for(session, rows, calendar, zone)
        session.execute(
            insert(KpiTicketFact),
            [{"ticket_id": ticket_id, "fact": fact} for ticket_id, fact in facts.items()],
        )
        for fact in facts.values():
            _add(deltas, fact, +1)
        total += len(rows)
        last_id = rows[-1].id
        if progress is not None:
            progress(total)
    values = []
    for key, delta in deltas.items():
        if _is_zero(delta):
            continue
        row = _empty_row(*key)
        _apply_to(row, delta)
        values.append(row)
    for start in range(0, len(values), 5000):
        session.execute(insert(KpiDaily), values[start : start + 5000])
    if high_water is not None:
        state.watermark_at, state.watermark_id = high_water[0], high_water[1]
    state.refreshed_at = now
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        # The planner's statistics of tables just filled, before autovacuum gets to them.
        session.execute(text("ANALYZE kpi_daily"))
        session.execute(text("ANALYZE kpi_ticket_facts"))
    return total


def version(session: Session) -> tuple[Any, ...] | None:
    """What identifies the aggregates' present state: it changes with every refresh."""
    row = session.execute(
        select(
            KpiRefreshState.refreshed_at,
            KpiRefreshState.watermark_at,
            KpiRefreshState.watermark_id,
        ).where(KpiRefreshState.id == _STATE_ID)
    ).first()
    return None if row is None or row[0] is None else tuple(row)


def fresh_as_of(session: Session) -> datetime | None:
    """When the aggregates last took in every change (None: never refreshed)."""
    return session.scalar(
        select(KpiRefreshState.refreshed_at).where(KpiRefreshState.id == _STATE_ID)
    )
