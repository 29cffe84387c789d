"""What one ticket contributes to the KPIs, and the histograms of working hours.

A ticket's contribution (its "fact") is: the local day it was created, the day it was finished
(resolved, rejected, closed as a duplicate) if it was, its key in every dimension, its counters
(received, resolved, on time, rated 4 ...), and its working hours to the first response and to
the resolution. `feedback/kpi_aggregates.py` adds the facts up into daily rows.

Durations go into histograms whose buckets are 5% wide (0.25 h below a quarter of an hour): a
median or p90 read from one is within 5% of the ticket value at that rank.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from feedback.models import (
    OPEN_STATUSES,
    Agency,
    SurveyResponse,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from feedback.sla import WorkingCalendar

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
class TicketRow:
    """The columns of a ticket that its contribution depends on."""

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


def select_tickets() -> Any:
    """The query of `TicketRow`s (filter and order it)."""
    return select(*_COLUMNS).outerjoin(Agency, Agency.id == Ticket.agency_id)


def _local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def fact_of(
    row: TicketRow,
    *,
    calendar: WorkingCalendar,
    zone: ZoneInfo,
    survey: tuple[int, bool | None] | None,
    reopened: bool,
    rejected_at: datetime | None,
) -> dict[str, Any]:
    """One ticket's contribution: its days, its keys per dimension, its counters and its
    working hours to the first response and to the resolution."""
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


def facts_for(
    session: Session, rows: Sequence[TicketRow], calendar: WorkingCalendar, zone: ZoneInfo
) -> dict[int, dict[str, Any]]:
    """The contributions of these tickets, with their latest rating, whether they were ever
    reopened, and when they were rejected (read in three queries for the batch)."""
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
        row.id: fact_of(
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


def ticket_rows(result: Iterable[Any]) -> list[TicketRow]:
    """The rows of `select_tickets()` as `TicketRow`s."""
    return [TicketRow(*row) for row in result]
