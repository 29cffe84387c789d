"""The People's Committee's monthly report on feedback handling: what it says, as data.

Every figure comes from feedback/kpis.py (the month is the tickets created in its local days),
so the report, the dashboards and the IOC agree. `feedback/report_files.py` writes it as a
spreadsheet, a CSV or a PDF.

- Agencies are ranked by their on-time rate, then by their citizens' mean rating, then by how
  many tickets they resolved; an agency with nothing resolved in the month comes last.
- A category "grows" when it received more than in the month before; the table gives both
  months and the change.
- Hotspots take the month as the recent window, against the three months before.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from core.errors import Invalid
from core.settings import get_settings
from feedback import kpis
from feedback.hotspots import Hotspot, HotspotRule, find_hotspots


def parse_month(month: str) -> date:
    """'2026-11' → 1 November 2026."""
    try:
        year, number = (int(part) for part in month.split("-"))
        return date(year, number, 1)
    except ValueError:
        raise Invalid(
            f"Tháng không hợp lệ: '{month}' (dùng dạng YYYY-MM, ví dụ 2026-11)."
        ) from None


def month_bounds(first: date) -> tuple[date, date]:
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


@dataclass(frozen=True)
class CategoryGrowth:
    figures: kpis.Figures
    previous: int  # received in the month before

    @property
    def change(self) -> int:
        return self.figures.received - self.previous

    @property
    def growth(self) -> float | None:
        return self.change / self.previous if self.previous else None


@dataclass(frozen=True)
class MonthlyReport:
    first: date
    last: date
    province: str
    generated_at: datetime
    fresh_as_of: datetime | None
    total: kpis.Figures
    previous_total: kpis.Figures
    agencies: list[kpis.Figures]  # ranked
    categories: list[CategoryGrowth]  # the fastest growing first
    channels: list[kpis.Figures]
    days: list[kpis.Figures]
    hotspots: list[Hotspot]
    hotspot_rule: HotspotRule

    @property
    def label(self) -> str:
        return f"{self.first.month:02d}/{self.first.year}"


def _rank_key(figures: kpis.Figures) -> tuple[float, float, int, str]:
    on_time = figures.on_time_rate if figures.on_time_rate is not None else -1.0
    rating = figures.csat.mean if figures.csat.mean is not None else 0.0
    return (-on_time, -rating, -figures.resolved, figures.key)


def _province_name() -> str:
    from feedback.province import default_province_file, load_province

    settings = get_settings()
    try:
        return load_province(settings.province_file or default_province_file()).province.name
    except Exception:  # the report still goes out under a generic heading
        return ""


def build_monthly_report(
    session: Session, *, first: date, now: datetime | None = None
) -> MonthlyReport:
    """Every figure of the report for the month that starts on `first`."""
    first, last = month_bounds(first.replace(day=1))
    if first > kpis.local_today():
        raise Invalid(f"Tháng {first.month:02d}/{first.year} chưa bắt đầu.")
    previous_first, previous_last = month_bounds((first - timedelta(days=1)).replace(day=1))
    by_agency = kpis.service_kpis(session, first=first, last=last, group_by="agency")
    by_category = kpis.service_kpis(session, first=first, last=last, group_by="category")
    before = kpis.service_kpis(
        session, first=previous_first, last=previous_last, group_by="category"
    )
    previous = {g.key: g.received for g in before.groups}
    categories = [CategoryGrowth(g, previous.get(g.key, 0)) for g in by_category.groups]
    categories.sort(key=lambda c: (-c.change, -c.figures.received, c.figures.key))
    rule = HotspotRule(window_days=(last - first).days + 1, baseline_windows=3)
    return MonthlyReport(
        first=first,
        last=last,
        province=_province_name(),
        generated_at=now or datetime.now(UTC),
        fresh_as_of=by_agency.fresh_as_of,
        total=by_agency.total,
        previous_total=before.total,
        agencies=sorted(by_agency.groups, key=_rank_key),
        categories=categories,
        channels=kpis.service_kpis(session, first=first, last=last, group_by="channel").groups,
        days=kpis.service_kpis(session, first=first, last=last, group_by="day").groups,
        hotspots=find_hotspots(session, last=last, rule=rule),
        hotspot_rule=rule,
    )
