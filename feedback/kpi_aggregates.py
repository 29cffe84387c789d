"""The KPI aggregates, maintained incrementally: the tickets changed since the last refresh are
read, each one's contribution is recomputed, and the difference from what it contributed last
time is added to the daily sums (`feedback/kpi_models.py`).

A ticket contributes to the row of the local day it was *created* (its cohort: received,
resolved, on time, times, ratings ...) and, once finished (resolved, rejected, or closed as a
duplicate), one `finished` to the row of the local day it was finished. Every contribution goes
to one row per dimension: `all` (the whole province), `agency`, `category`, `ward` and
`channel` (an empty key: none yet, such as a ticket in triage without an agency); hotspots read
`ward_category` rows, which carry only the counts received and open.

What one ticket contributes, and the histograms of working hours (the SLA calendar's) that
give the medians and p90s, are in `feedback/kpi_facts.py`.

Beat runs `feedback.refresh_kpis` every TIEPDAN_KPI_REFRESH_SECONDS; the figures say when they
were refreshed (`fresh_as_of`). Every change to a ticket stamps its `updated_at` (the history
does), which is what the refresh follows; a rating or a reopening is such a change. The refresh
starts again a little before where it stopped, so that a transaction that committed late is not
missed; reading a ticket twice adds nothing the second time. `rebuild()` recomputes everything
(after a bulk load, or after the working calendar changed for past days).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, select, text, tuple_
from sqlalchemy.orm import Session

from core.settings import get_settings
from feedback.kpi_facts import (
    COUNTERS,
    DIMENSIONS,
    HOTSPOT_DIM,
    TicketRow,
    bucket_of,
    facts_for,
    select_tickets,
    ticket_rows,
)
from feedback.kpi_models import KpiDaily, KpiRefreshState, KpiTicketFact
from feedback.models import (
    Ticket,
)
from feedback.sla import WorkingCalendar, current_calendar

_HOTSPOT_COUNTERS = ("received", "open")
_STATE_ID = 1
# A refresh starts this far before its watermark: a transaction that stamped `updated_at` before
# the last refresh read, but committed after it, is read now.
OVERLAP = timedelta(minutes=2)
_BATCH = 2000


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


def _take_in(session: Session, rows: Sequence[TicketRow], calendar: WorkingCalendar) -> int:
    """Recompute these tickets' contributions and add the changes; returns how many changed."""
    zone = ZoneInfo(get_settings().timezone)
    new = facts_for(session, rows, calendar, zone)
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
        query = select_tickets().order_by(Ticket.updated_at, Ticket.id).limit(_BATCH)
        if after is not None:
            query = query.where(tuple_(Ticket.updated_at, Ticket.id) > tuple_(*after))
        rows = ticket_rows(session.execute(query))
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
        rows = ticket_rows(
            session.execute(
                select_tickets().where(Ticket.id > last_id).order_by(Ticket.id).limit(10_000)
            )
        )
        if not rows:
            break
        facts = facts_for(session, rows, calendar, zone)
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
