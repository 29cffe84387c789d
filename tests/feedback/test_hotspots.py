"""Hotspots (feedback/hotspots.py) on generated data: steady Poisson traffic in many wards, one
ward × category that surges, one that is busy but always was, one that is new and small."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from feedback import kpi_aggregates
from feedback.hotspots import HotspotRule, find_hotspots, poisson_tail
from feedback.models import Ticket, TicketStatus

pytestmark = pytest.mark.usefixtures("empty_aggregates")

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
LAST = date(2026, 11, 15)
WARDS = ["25747", "25750", "25760", "25768", "25771", "25777", "25780", "25792", "25807", "25813"]
CATEGORIES = ["ha_tang_do_thi", "moi_truong", "giao_thong"]


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def _file(rows: list[dict], rng: random.Random, ward: str, category: str, day: date) -> None:
    created = datetime.combine(day, time(8), tzinfo=LOCAL).astimezone(UTC)
    created += timedelta(minutes=rng.randrange(600))
    rows.append(
        {
            "code": f"PAH{len(rows):07d}",
            "description": "x",
            "status": TicketStatus.ASSIGNED,
            "ward_code": ward,
            "category_code": category,
            "created_at": created,
            "updated_at": created,
            "attachments": [],
        }
    )


def test_a_surge_against_the_wards_own_past_is_a_hotspot_and_steady_traffic_is_not(db_session):
    rng = random.Random(2026)
    rows: list[dict] = []
    first = LAST - timedelta(days=7 * 9 - 1)  # eight baseline weeks and the recent one
    for ward in WARDS:
        for category in CATEGORIES:
            # About two reports a week in every pair, the busy pair about twelve.
            weekly = 12.0 if (ward, category) == ("25760", "moi_truong") else 2.0
            day = first
            while day <= LAST:
                for _ in range(_poisson(rng, weekly / 7)):
                    _file(rows, rng, ward, category, day)
                day += timedelta(days=1)
    # The surge: fourteen reports of flooding in one ward over the last week.
    for n in range(14):
        _file(rows, rng, "25807", "ha_tang_do_thi", LAST - timedelta(days=n % 7))
    # A new pair with four reports (under the minimum of five): not a hotspot.
    for n in range(4):
        _file(rows, rng, "25813", "y_te", LAST - timedelta(days=n))
    db_session.execute(insert(Ticket), rows)
    kpi_aggregates.refresh(db_session)

    found = find_hotspots(db_session, last=LAST)

    assert [(h.ward_code, h.category) for h in found] == [("25807", "ha_tang_do_thi")]
    hot = found[0]
    assert hot.count >= 14 and hot.ratio > 3 and hot.p_value <= 0.001
    assert hot.ward_name and hot.latitude is not None  # the ward's centre, for the map
    # A looser rule also flags the new small pair.
    loose = find_hotspots(db_session, last=LAST, rule=HotspotRule(min_count=3, alpha=0.05))
    assert ("25813", "y_te") in {(h.ward_code, h.category) for h in loose}


def test_the_poisson_tail():
    assert poisson_tail(0, 2.0) == 1.0
    assert poisson_tail(1, 2.0) == pytest.approx(1 - math.exp(-2))
    expected = 1 - sum(math.exp(-2) * 2**k / math.factorial(k) for k in range(5))
    assert poisson_tail(5, 2.0) == pytest.approx(expected)
    assert 0 < poisson_tail(400, 0.5) < 1e-300 or poisson_tail(400, 0.5) == 0.0
