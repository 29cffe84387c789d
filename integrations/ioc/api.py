"""The IOC's pull API: KPIs, hotspots and a wards layer, for viewers and `ioc` API keys.

It lives here, beside the push and Open311, because it is one of the platform's faces to the
outside world: the pushed snapshot is built from the same schemas, and an IOC integrator finds
everything it may read in one package. The figures come from feedback/kpis.py.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from core.errors import Invalid
from core.http import SessionDep
from core.settings import get_settings
from feedback import kpis
from feedback.auth import CurrentPrincipal
from feedback.hotspots import HotspotRule, find_hotspots
from feedback.kpi_aggregates import fresh_as_of
from feedback.policy import require_ioc_reader
from integrations.ioc.schemas import (
    HotspotsOut,
    KpisOut,
    PointOut,
    WardFeatureOut,
    WardPropertiesOut,
    WardsGeoJsonOut,
)

router = APIRouter(prefix="/api/v1/ioc", tags=["ioc"])

MAX_DAYS = 366
DEFAULT_DAYS = 30
From = Annotated[
    str | None,
    Query(
        alias="from",
        description="First local day, YYYY-MM-DD (default: 29 days before `to`). A datetime "
        "is taken as the local day it falls on: the aggregates are per day.",
        examples=["2026-11-01"],
    ),
]
To = Annotated[
    str | None,
    Query(
        alias="to",
        description="Last local day, YYYY-MM-DD, included (default: today). A datetime is an "
        "end: the local day of the moment just before it.",
        examples=["2026-11-30"],
    ),
]


def _day(value: str | None, name: str, *, end: bool) -> date | None:
    """A local day from YYYY-MM-DD, or from an ISO datetime (naive: local time)."""
    if not value:
        return None
    try:
        if "T" not in value and " " not in value.strip():
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"'{name}' must be a date, YYYY-MM-DD (or an ISO datetime).") from None
    zone = ZoneInfo(get_settings().timezone)
    local = moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)
    if end:
        local -= timedelta(microseconds=1)
    return local.date()


def period(day_from: str | None, day_to: str | None) -> tuple[date, date]:
    """[from, to] as local days: the aggregates are per local day."""
    last = _day(day_to, "to", end=True) or kpis.local_today()
    first = _day(day_from, "from", end=False) or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise Invalid("'from' must not be after 'to'.")
    if (last - first).days >= MAX_DAYS:
        raise Invalid(f"Ask for at most {MAX_DAYS} days at a time.")
    return first, last


@router.get("/kpis", response_model=KpisOut, response_model_by_alias=True)
def get_kpis(
    session: SessionDep,
    principal: CurrentPrincipal,
    day_from: From = None,
    day_to: To = None,
    group_by: Annotated[
        Literal["agency", "category", "ward", "channel", "day"] | None,
        Query(description="Also give the figures per agency, category, ward, channel or day"),
    ] = None,
) -> KpisOut:
    """The KPIs of the tickets created on the local days [from, to], in total and per group."""
    require_ioc_reader(principal)
    first, last = period(day_from, day_to)
    report = kpis.service_kpis(session, first=first, last=last, group_by=group_by)
    return KpisOut.of(report, get_settings().timezone)


@router.get("/hotspots", response_model=HotspotsOut)
def get_hotspots(
    session: SessionDep,
    principal: CurrentPrincipal,
    day_to: To = None,
    window_days: Annotated[int, Query(ge=1, le=31, description="The recent window")] = 7,
    baseline_windows: Annotated[
        int, Query(ge=2, le=26, description="Windows of the baseline before it")
    ] = 8,
) -> HotspotsOut:
    """Wards whose volume in a category is unusually high against their own recent past
    (the rule: feedback/hotspots.py)."""
    require_ioc_reader(principal)
    last = _day(day_to, "to", end=True) or kpis.local_today()
    rule = HotspotRule(window_days=window_days, baseline_windows=baseline_windows)
    found = find_hotspots(session, last=last, rule=rule)
    return HotspotsOut.of(found, last=last, rule=rule, fresh=fresh_as_of(session))


@router.get(
    "/wards.geojson",
    response_model=WardsGeoJsonOut,
    response_model_by_alias=True,
    response_class=JSONResponse,
    responses={200: {"content": {"application/geo+json": {}}}},
)
def get_wards_geojson(
    session: SessionDep,
    principal: CurrentPrincipal,
    day_from: From = None,
    day_to: To = None,
) -> JSONResponse:
    """A GeoJSON point per ward at its centre, with the period's volume and on-time rate."""
    require_ioc_reader(principal)
    first, last = period(day_from, day_to)
    report, wards = kpis.ward_layer(session, first=first, last=last)
    features = []
    for ward in wards:
        f = ward.figures
        features.append(
            WardFeatureOut(
                id=ward.code,
                geometry=PointOut(coordinates=(ward.longitude, ward.latitude)),
                properties=WardPropertiesOut(
                    ward_code=ward.code,
                    ward_name=ward.name,
                    received=f.received if f else 0,
                    resolved=f.resolved if f else 0,
                    on_time=f.on_time if f else 0,
                    on_time_rate=f.on_time_rate if f else None,
                    open=f.open if f else 0,
                    backlog_end=ward.backlog_end,
                ),
            )
        )
    body = WardsGeoJsonOut(
        period_from=first, period_to=last, fresh_as_of=report.fresh_as_of, features=features
    )
    return JSONResponse(
        body.model_dump(mode="json", by_alias=True), media_type="application/geo+json"
    )
