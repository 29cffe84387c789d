"""The tables behind the KPIs: each ticket's contribution, and the daily sums they add up to.

The IOC's figures must answer in well under a second over a million tickets, and a live
dashboard must not scan `tickets` on every request. So `feedback/kpi_aggregates.py` keeps:

- `kpi_ticket_facts`: what each ticket last contributed (its keys, counters and working hours),
  so that a changed ticket's old contribution can be taken out before the new one goes in;
- `kpi_daily`: per local day, per dimension (all, agency, category, ward, channel, and
  ward × category for the hotspots) and key, the sums of those contributions, with histograms
  of the working hours to first response and to resolution for the medians and p90s;
- `kpi_refresh_state`: how far the refresh has read (the tickets' `updated_at`), and when.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.database import Base, BigId, UTCDateTime


class KpiTicketFact(Base):
    __tablename__ = "kpi_ticket_facts"

    ticket_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    # {"day", "finished_day", "keys": {dimension: key}, "counts": {...}, "fr_h", "res_h"}
    fact: Mapped[dict[str, Any]] = mapped_column(JSON)


class KpiDaily(Base):
    __tablename__ = "kpi_daily"
    __table_args__ = (Index("ix_kpi_daily_dim_day", "dim", "day"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    dim: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    # The tickets created this day (the day's cohort), as they stand now.
    received: Mapped[int] = mapped_column(Integer, default=0)
    resolved: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    open: Mapped[int] = mapped_column(Integer, default=0)
    open_overdue: Mapped[int] = mapped_column(Integer, default=0)
    on_time: Mapped[int] = mapped_column(Integer, default=0)
    overdue: Mapped[int] = mapped_column(Integer, default=0)
    ever_resolved: Mapped[int] = mapped_column(Integer, default=0)
    reopened: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    csat_1: Mapped[int] = mapped_column(Integer, default=0)
    csat_2: Mapped[int] = mapped_column(Integer, default=0)
    csat_3: Mapped[int] = mapped_column(Integer, default=0)
    csat_4: Mapped[int] = mapped_column(Integer, default=0)
    csat_5: Mapped[int] = mapped_column(Integer, default=0)
    csat_not_fixed: Mapped[int] = mapped_column(Integer, default=0)
    fr_count: Mapped[int] = mapped_column(Integer, default=0)
    fr_sum_h: Mapped[float] = mapped_column(Float, default=0.0)
    fr_hist: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    res_count: Mapped[int] = mapped_column(Integer, default=0)
    res_sum_h: Mapped[float] = mapped_column(Float, default=0.0)
    res_hist: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # Tickets of any day that were finished (resolved, rejected, closed as duplicates) on this
    # day: the backlog at the end of a day is every day's `received` minus `finished` so far.
    finished: Mapped[int] = mapped_column(Integer, default=0)


class KpiRefreshState(Base):
    __tablename__ = "kpi_refresh_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # The last ticket read, in (updated_at, id) order.
    watermark_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    watermark_id: Mapped[int | None] = mapped_column(BigId)
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
