"""Hotspots: wards whose volume in a category is unusually high against their own recent past.

The rule, for every (ward, category) pair:

- the *recent window* is the last `window_days` local days up to `last` (default 7);
- the *baseline* is the `baseline_windows` windows of the same length just before it (default 8,
  so the eight weeks before), and λ is the pair's mean count per window there;
- reports of one pair in one window are counted as a Poisson variable: the pair is a hotspot
  when it has at least `min_count` reports in the recent window (default 5: two or three
  reports are never a hotspot) and the chance of seeing that many or more, were the window like
  the baseline, is at most `alpha` (default 0.001);
- λ is floored at `min_expected` (default 0.5 per window), so a pair with no history needs
  `min_count` reports *and* an improbable count against that floor.

About 2,400 pairs are tested each time (170 wards × 14 categories), so `alpha` is small: a
quiet province shows about two false hotspots at 0.001, against about 24 at 0.01. Hotspots are
sorted by that chance (the most surprising first), then by count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from feedback.kpi_facts import HOTSPOT_DIM
from feedback.kpi_models import KpiDaily
from feedback.models import Category, Ward


@dataclass(frozen=True)
class HotspotRule:
    window_days: int = 7
    baseline_windows: int = 8
    min_count: int = 5
    alpha: float = 0.001
    min_expected: float = 0.5


@dataclass(frozen=True)
class Hotspot:
    ward_code: str
    ward_name: str
    category: str
    category_name: str
    count: int  # in the recent window
    open: int  # of those, still open
    baseline_mean: float  # per window of the same length
    ratio: float  # count / max(baseline_mean, min_expected)
    p_value: float
    latitude: float | None  # the ward's centre
    longitude: float | None


def poisson_tail(count: int, mean: float) -> float:
    """P(X ≥ count) for X ~ Poisson(mean), summed upward in log space (no overflow)."""
    if count <= 0:
        return 1.0
    log_mean = math.log(mean)
    total = 0.0
    k = count
    while True:
        term = math.exp(k * log_mean - mean - math.lgamma(k + 1))
        total += term
        if k > mean and term <= total * 1e-15:  # also when the terms underflow to 0
            return min(total, 1.0)
        k += 1


def find_hotspots(
    session: Session, *, last: date, rule: HotspotRule | None = None, limit: int = 20
) -> list[Hotspot]:
    """The (ward, category) pairs whose last window is improbably busy for them."""
    rule = rule or HotspotRule()
    recent_start = last - timedelta(days=rule.window_days - 1)
    baseline_start = recent_start - timedelta(days=rule.window_days * rule.baseline_windows)
    is_recent = KpiDaily.day >= recent_start
    rows = session.execute(
        select(
            KpiDaily.key,
            func.sum(case((is_recent, KpiDaily.received), else_=0)),
            func.sum(case((is_recent, 0), else_=KpiDaily.received)),
            func.sum(case((is_recent, KpiDaily.open), else_=0)),
        )
        .where(
            KpiDaily.dim == HOTSPOT_DIM,
            KpiDaily.day >= baseline_start,
            KpiDaily.day <= last,
        )
        .group_by(KpiDaily.key)
        .having(func.sum(case((is_recent, KpiDaily.received), else_=0)) >= rule.min_count)
    ).all()
    found = []
    for key, recent, before, still_open in rows:
        mean = int(before or 0) / rule.baseline_windows
        expected = max(mean, rule.min_expected)
        p_value = poisson_tail(int(recent), expected)
        if p_value <= rule.alpha:
            ward, _, category = key.partition("|")
            found.append(
                (ward, category, int(recent), int(still_open or 0), mean, expected, p_value)
            )
    if not found:
        return []
    wards = {
        code: (name, lat, lon)
        for code, name, lat, lon in session.execute(
            select(Ward.code, Ward.name, Ward.latitude, Ward.longitude).where(
                Ward.code.in_({f[0] for f in found})
            )
        )
    }
    categories = dict(session.execute(select(Category.code, Category.name)).all())
    hotspots = [
        Hotspot(
            ward_code=ward,
            ward_name=wards.get(ward, (ward, None, None))[0],
            category=category,
            category_name=categories.get(category, category),
            count=count,
            open=still_open,
            baseline_mean=round(mean, 2),
            ratio=round(count / expected, 2),
            p_value=p_value,
            latitude=wards.get(ward, ("", None, None))[1],
            longitude=wards.get(ward, ("", None, None))[2],
        )
        for ward, category, count, still_open, mean, expected, p_value in found
    ]
    hotspots.sort(key=lambda h: (h.p_value, -h.count, h.ward_code, h.category))
    return hotspots[:limit]
