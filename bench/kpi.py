"""Service KPIs per agency over a period, in one PostgreSQL query.

This is the measurement for the IOC KPI endpoint (`GET /api/v1/ioc/kpis?group_by=agency`).
The cohort is the tickets *created* in [start, end):

- created: how many;
- resolved: how many of them have a resolution time (closed tickets keep theirs; a reopened
  ticket loses it until it is resolved again);
- on-time rate: resolved by the SLA deadline, out of the resolved ones (None when none is);
- first response and resolution: median and mean, in hours from creation, over the tickets
  that have one.

Tickets without an agency (still in triage) belong to no agency and are left out.
`percentile_cont` is PostgreSQL's; an embedded (SQLite) IOC needs another way to get medians.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

KPI_BY_AGENCY = text(
    """
    SELECT
        a.code AS agency,
        count(*) AS created,
        count(t.resolved_at) AS resolved,
        count(*) FILTER (WHERE t.resolved_at <= t.sla_due_at) AS resolved_on_time,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM t.first_response_at - t.created_at))
            / 3600 AS first_response_median_h,
        avg(extract(epoch FROM t.first_response_at - t.created_at)) / 3600 AS first_response_avg_h,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM t.resolved_at - t.created_at))
            / 3600 AS resolution_median_h,
        avg(extract(epoch FROM t.resolved_at - t.created_at)) / 3600 AS resolution_avg_h
    FROM tickets t
    JOIN agencies a ON a.id = t.agency_id
    WHERE t.created_at >= :start AND t.created_at < :end
    GROUP BY a.code
    ORDER BY created DESC, a.code
    """  # noqa: E501
)


@dataclass(frozen=True)
class AgencyKpi:
    agency: str
    created: int
    resolved: int
    on_time_rate: float | None
    first_response_median_h: float | None
    first_response_avg_h: float | None
    resolution_median_h: float | None
    resolution_avg_h: float | None


def kpis_by_agency(db: Session | Connection, *, start: datetime, end: datetime) -> list[AgencyKpi]:
    """Per agency, the KPIs of the tickets created in [start, end) (timezone-aware bounds)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("pass timezone-aware bounds")
    rows = db.execute(KPI_BY_AGENCY, {"start": start, "end": end}).mappings()
    return [
        AgencyKpi(
            agency=row["agency"],
            created=row["created"],
            resolved=row["resolved"],
            on_time_rate=row["resolved_on_time"] / row["resolved"] if row["resolved"] else None,
            first_response_median_h=_float(row["first_response_median_h"]),
            first_response_avg_h=_float(row["first_response_avg_h"]),
            resolution_median_h=_float(row["resolution_median_h"]),
            resolution_avg_h=_float(row["resolution_avg_h"]),
        )
        for row in rows
    ]


def _float(value: object) -> float | None:
    # avg() of an extract() is a Decimal in PostgreSQL 14+; medians are floats already.
    return None if value is None else float(value)  # type: ignore[arg-type]
