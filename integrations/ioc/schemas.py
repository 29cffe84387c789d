"""The IOC's JSON: the KPIs, the hotspots, the wards layer and the pushed snapshot.

Every field is a count, a rate, a duration, a code or an official name: nothing a citizen wrote,
no contact, and no location finer than a ward's centre.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from feedback import kpis
from feedback.hotspots import Hotspot, HotspotRule


class DurationsOut(BaseModel):
    count: int = Field(description="Tickets that have the moment measured")
    median_h: float | None = Field(description="Median, in working hours (SLA calendar)")
    p90_h: float | None = Field(description="90th percentile, in working hours")
    mean_h: float | None = Field(description="Mean, in working hours")


class CsatOut(BaseModel):
    responses: int = Field(description="Tickets rated (the latest answer of each)")
    mean: float | None = Field(description="Mean score, 1 to 5")
    satisfied_share: float | None = Field(description="Share of scores ≥ 4")
    response_rate: float | None = Field(description="Ratings per ticket ever resolved")
    not_fixed: int = Field(description="Answers 'chưa được xử lý' (not fixed)")
    not_fixed_share: float | None = Field(description="Share of ratings that said not fixed")
    scores: dict[str, int] = Field(description="'1'..'5' → how many ratings")


class FiguresOut(BaseModel):
    key: str = Field(description="The group: agency code, category code, ward code, channel or day")
    name: str = Field(description="Its official name")
    received: int
    resolved: int = Field(description="Of the received: resolved or closed after a resolution")
    rejected: int
    open: int = Field(description="Of the received: still open now")
    backlog_end: int = Field(description="Open at the end of the period (any creation date)")
    on_time: int = Field(description="Resolved by the SLA deadline")
    on_time_rate: float | None = Field(description="on_time / resolved")
    overdue: int = Field(description="Resolved late, or open past the deadline")
    open_overdue: int = Field(description="Open past the deadline")
    first_response: DurationsOut
    resolution: DurationsOut
    csat: CsatOut
    reopened: int
    reopen_rate: float | None = Field(description="Reopened, of the tickets ever resolved")
    duplicates: int
    duplicate_share: float | None = Field(description="Duplicates, of the received")

    @classmethod
    def of(cls, f: kpis.Figures) -> FiguresOut:
        return cls(
            key=f.key,
            name=f.name,
            received=f.received,
            resolved=f.resolved,
            rejected=f.rejected,
            open=f.open,
            backlog_end=f.backlog_end,
            on_time=f.on_time,
            on_time_rate=f.on_time_rate,
            overdue=f.overdue,
            open_overdue=f.open_overdue,
            first_response=DurationsOut(**vars(f.first_response)),
            resolution=DurationsOut(**vars(f.resolution)),
            csat=CsatOut(
                responses=f.csat.responses,
                mean=f.csat.mean,
                satisfied_share=f.csat.satisfied_share,
                response_rate=f.csat.response_rate,
                not_fixed=f.csat.not_fixed,
                not_fixed_share=f.csat.not_fixed_share,
                scores={str(s): n for s, n in f.csat.scores.items()},
            ),
            reopened=f.reopened,
            reopen_rate=f.reopen_rate,
            duplicates=f.duplicates,
            duplicate_share=f.duplicate_share,
        )


class KpisOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    period_from: date = Field(alias="from", description="First local day (Asia/Ho_Chi_Minh)")
    period_to: date = Field(alias="to", description="Last local day, included")
    group_by: Literal["agency", "category", "ward", "channel", "day"] | None
    timezone: str
    fresh_as_of: datetime | None = Field(
        description="The aggregates include every change made before this moment"
    )
    computed_at: datetime
    total: FiguresOut
    groups: list[FiguresOut]

    @classmethod
    def of(cls, report: kpis.KpiReport, timezone: str) -> KpisOut:
        return cls(
            period_from=report.first,
            period_to=report.last,
            group_by=report.group_by,
            timezone=timezone,
            fresh_as_of=report.fresh_as_of,
            computed_at=report.computed_at,
            total=FiguresOut.of(report.total),
            groups=[FiguresOut.of(g) for g in report.groups],
        )


class HotspotOut(BaseModel):
    ward_code: str
    ward_name: str
    category: str
    category_name: str
    count: int = Field(description="Reports in the recent window")
    open: int = Field(description="Of those, still open")
    baseline_mean: float = Field(description="The pair's mean per window over the baseline")
    ratio: float = Field(description="count / max(baseline_mean, min_expected)")
    p_value: float = Field(description="P(count or more | Poisson(baseline)); small = unusual")
    latitude: float | None = Field(description="The ward's centre")
    longitude: float | None = Field(description="The ward's centre")

    @classmethod
    def of(cls, h: Hotspot) -> HotspotOut:
        return cls(**vars(h))


class HotspotRuleOut(BaseModel):
    window_days: int
    baseline_windows: int
    min_count: int
    alpha: float
    min_expected: float


class HotspotsOut(BaseModel):
    window_from: date
    window_to: date
    baseline_from: date
    baseline_to: date
    rule: HotspotRuleOut
    fresh_as_of: datetime | None
    hotspots: list[HotspotOut]

    @classmethod
    def of(
        cls, hotspots: list[Hotspot], *, last: date, rule: HotspotRule, fresh: datetime | None
    ) -> HotspotsOut:
        from datetime import timedelta

        window_from = last - timedelta(days=rule.window_days - 1)
        baseline_from = window_from - timedelta(days=rule.window_days * rule.baseline_windows)
        return cls(
            window_from=window_from,
            window_to=last,
            baseline_from=baseline_from,
            baseline_to=window_from - timedelta(days=1),
            rule=HotspotRuleOut(**vars(rule)),
            fresh_as_of=fresh,
            hotspots=[HotspotOut.of(h) for h in hotspots],
        )


class PointOut(BaseModel):
    type: Literal["Point"] = "Point"
    coordinates: tuple[float, float] = Field(description="[longitude, latitude] of the centre")


class WardPropertiesOut(BaseModel):
    ward_code: str
    ward_name: str
    received: int
    resolved: int
    on_time: int
    on_time_rate: float | None
    open: int
    backlog_end: int


class WardFeatureOut(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: PointOut
    properties: WardPropertiesOut


class WardsGeoJsonOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    type: Literal["FeatureCollection"] = "FeatureCollection"
    period_from: date = Field(alias="from")
    period_to: date = Field(alias="to")
    fresh_as_of: datetime | None
    features: list[WardFeatureOut]


class SnapshotOut(BaseModel):
    """What the push sends: the last 30 days in total and by agency, category and ward, today
    so far, and the hotspots."""

    snapshot_id: str = Field(description="Also the Idempotency-Key header")
    generated_at: datetime
    source: str = "tiepdan"
    last_30_days: KpisOut
    by_agency: list[FiguresOut]
    by_category: list[FiguresOut]
    by_ward: list[FiguresOut]
    today: FiguresOut
    hotspots: HotspotsOut
