"""The dashboards: charts drawn in the browser from aggregates counted on the server
(feedback/kpis.py), for a chosen period; every figure is also a CSV download."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from admin.deps import Staff
from admin.templating import render
from core.errors import Invalid, NotFound
from core.http import SessionDep
from core.settings import get_settings
from feedback import kpis
from feedback.monthly_report import build_monthly_report, parse_month
from feedback.policy import require_dashboard_reader
from feedback.report_files import FORMATS, MEDIA_TYPES, render_report

router = APIRouter()

TOP_SERIES = 6  # lines per volume chart: the busiest categories or wards
MAX_DAYS = 400


def period(day_from: str | None, day_to: str | None) -> tuple[date, date, datetime, datetime]:
    """[from, to] as local days (default: the last 30 days), and their UTC bounds."""
    zone = ZoneInfo(get_settings().timezone)
    today = datetime.now(zone).date()
    try:
        last = date.fromisoformat(day_to) if day_to else today
        first = date.fromisoformat(day_from) if day_from else last - timedelta(days=29)
    except ValueError:
        raise Invalid("Ngày không hợp lệ: dùng dạng năm-tháng-ngày.") from None
    if first > last:
        raise Invalid("'Từ ngày' phải trước 'đến ngày'.")
    if (last - first).days > MAX_DAYS:
        raise Invalid(f"Chọn khoảng thời gian tối đa {MAX_DAYS} ngày.")
    start = datetime.combine(first, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return first, last, start, end


def _series(
    rows: list[tuple[date, str, int]], first: date, last: date, label: Any
) -> dict[str, Any]:
    """The busiest keys' daily counts, every day of the period present (a quiet day is 0)."""
    totals: Counter[str] = Counter()
    for _day, key, count in rows:
        totals[key] += count
    top = [key for key, _ in totals.most_common(TOP_SERIES)]
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    counts: dict[str, dict[date, int]] = defaultdict(dict)
    for day, key, count in rows:
        counts[key][day] = count
    return {
        "labels": [d.strftime("%d/%m") for d in days],
        "datasets": [
            {"label": label(key), "data": [counts[key].get(d, 0) for d in days]} for key in top
        ],
    }


def _report_months() -> list[str]:
    """The months offered for the monthly report: this one and the twelve before, newest first."""
    today = kpis.local_today()
    year, month = today.year, today.month
    months = []
    for _ in range(13):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return months


def _on_time(board: kpis.Dashboard) -> list[kpis.Figures]:
    """Agencies with resolved tickets, the busiest first."""
    rows = [g for g in board.report.groups if g.key and g.resolved]
    return sorted(rows, key=lambda g: (-g.resolved, g.key))


def _times(board: kpis.Dashboard) -> list[kpis.Figures]:
    return sorted((g for g in board.report.groups if g.key), key=lambda g: g.key)


def _figures(board: kpis.Dashboard, first: date, last: date) -> dict[str, Any]:
    names = board.names
    on_time = _on_time(board)[:15]
    times = _times(board)[:15]
    csat = board.report.total.csat
    return {
        "by_category": _series(
            board.volume_by_category,
            first,
            last,
            lambda k: kpis.label(names, "category", k),
        ),
        "by_ward": _series(
            board.volume_by_ward, first, last, lambda k: kpis.label(names, "ward", k)
        ),
        "on_time": {
            "labels": [r.key for r in on_time],
            "datasets": [
                {
                    "label": "Tỉ lệ đúng hạn (%)",
                    "data": [round((r.on_time_rate or 0) * 100, 1) for r in on_time],
                }
            ],
        },
        "csat": {
            "labels": [f"{s} sao" for s in range(1, 6)],
            "datasets": [{"label": "Số đánh giá", "data": [csat.scores[s] for s in range(1, 6)]}],
        },
        "backlog": {
            "labels": [r.key for r in board.backlog[:15]],
            "datasets": [
                {"label": "Đang mở", "data": [r.open for r in board.backlog[:15]]},
                {"label": "Quá hạn", "data": [r.overdue for r in board.backlog[:15]]},
            ],
        },
        "times": {
            "labels": [r.key for r in times],
            "datasets": [
                {
                    "label": "Phản hồi đầu tiên (giờ làm việc, trung vị)",
                    "data": [round(r.first_response.median_h or 0, 1) for r in times],
                },
                {
                    "label": "Hoàn thành (giờ làm việc, trung vị)",
                    "data": [round(r.resolution.median_h or 0, 1) for r in times],
                },
            ],
        },
    }


def _board(
    session: Session, who: Any, day_from: str | None, day_to: str | None
) -> tuple[kpis.Dashboard, date, date]:
    require_dashboard_reader(who.principal)
    first, last, start, end = period(day_from, day_to)
    return kpis.dashboard(session, start=start, end=end), first, last


@router.get("/dashboard")
def dashboard(
    request: Request,
    session: SessionDep,
    who: Staff,
    day_from: Annotated[str | None, Query(alias="from")] = None,
    day_to: Annotated[str | None, Query(alias="to")] = None,
) -> Response:
    board, first, last = _board(session, who, day_from, day_to)
    return render(
        request,
        "dashboard.html",
        {
            "board": board,
            "first": first,
            "last": last,
            "figures": _figures(board, first, last),
            "on_time": _on_time(board)[:15],
            "times": _times(board)[:15],
            "csat": board.report.total.csat,
            "months": _report_months(),
            "period_query": f"from={first.isoformat()}&to={last.isoformat()}",
            "cache_minutes": get_settings().dashboard_cache_seconds // 60,
        },
        who=who,
    )


def _csv_rows(board: kpis.Dashboard, figure: str) -> tuple[list[str], list[list[Any]]]:
    names = board.names

    def rate(value: float | None) -> Any:
        return round(value, 4) if value is not None else ""

    def hours(value: float | None) -> Any:
        return round(value, 2) if value is not None else ""

    if figure == "volume-category":
        return ["ngay", "linh_vuc", "ten", "so_phan_anh"], [
            [day.isoformat(), key, kpis.label(names, "category", key), count]
            for day, key, count in board.volume_by_category
        ]
    if figure == "volume-ward":
        return ["ngay", "ma_phuong_xa", "ten", "so_phan_anh"], [
            [day.isoformat(), key, kpis.label(names, "ward", key), count]
            for day, key, count in board.volume_by_ward
        ]
    if figure == "on-time":
        return ["co_quan", "da_hoan_thanh", "dung_han", "ti_le_dung_han"], [
            [r.key, r.resolved, r.on_time, rate(r.on_time_rate)] for r in _on_time(board)
        ]
    if figure == "csat":
        c = board.report.total.csat
        rows: list[list[Any]] = [[f"{s} sao", n] for s, n in c.scores.items()]
        rows += [
            ["so_danh_gia", c.responses],
            ["diem_trung_binh", c.mean if c.mean is not None else ""],
            ["ti_le_hai_long_4_5", rate(c.satisfied_share)],
            ["ti_le_phan_hoi", rate(c.response_rate)],
            ["chua_duoc_xu_ly", c.not_fixed],
        ]
        return ["muc", "gia_tri"], rows
    if figure == "backlog":
        return ["co_quan", "dang_mo", "qua_han"], [
            [r.key, r.open, r.overdue] for r in board.backlog
        ]
    if figure == "times":
        return [
            "co_quan",
            "phan_hoi_dau_trung_vi_gio_lv",
            "phan_hoi_dau_p90_gio_lv",
            "phan_hoi_dau_tb_gio_lv",
            "hoan_thanh_trung_vi_gio_lv",
            "hoan_thanh_p90_gio_lv",
            "hoan_thanh_tb_gio_lv",
        ], [
            [
                r.key,
                *(
                    hours(v)
                    for v in (
                        r.first_response.median_h,
                        r.first_response.p90_h,
                        r.first_response.mean_h,
                        r.resolution.median_h,
                        r.resolution.p90_h,
                        r.resolution.mean_h,
                    )
                ),
            ]
            for r in _times(board)
        ]
    if figure == "hotspots":
        return [
            "ma_phuong_xa",
            "phuong_xa",
            "linh_vuc",
            "so_phan_anh_7_ngay",
            "trung_binh_truoc_do",
            "dang_mo",
            "vi_do_trung_tam",
            "kinh_do_trung_tam",
        ], [
            [
                h.ward_code,
                h.ward_name,
                h.category,
                h.count,
                h.baseline_mean,
                h.open,
                h.latitude,
                h.longitude,
            ]
            for h in board.hotspots
        ]
    raise NotFound(f"Không có số liệu '{figure}'.")


@router.get("/dashboard/{figure}.csv")
def dashboard_csv(
    session: SessionDep,
    who: Staff,
    figure: str,
    day_from: Annotated[str | None, Query(alias="from")] = None,
    day_to: Annotated[str | None, Query(alias="to")] = None,
) -> Response:
    board, first, last = _board(session, who, day_from, day_to)
    header, rows = _csv_rows(board, figure)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    # A BOM, so that Excel reads the Vietnamese names as UTF-8.
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{figure}_{first}_{last}.csv"'},
    )


@router.get("/report/monthly")
def monthly_report(
    session: SessionDep,
    who: Staff,
    month: str | None = None,
    fmt: Annotated[str, Query(alias="format")] = "pdf",
) -> Response:
    """The People's Committee's monthly report, the same file `tiepdan report monthly` writes."""
    require_dashboard_reader(who.principal)
    if fmt not in FORMATS:
        raise Invalid("Chọn định dạng pdf, xlsx hoặc csv.")
    first = parse_month(month) if month else kpis.local_today().replace(day=1)
    content = render_report(build_monthly_report(session, first=first), fmt)
    name = f"bao-cao-phan-anh-{first:%Y-%m}.{fmt}"
    return Response(
        content,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
