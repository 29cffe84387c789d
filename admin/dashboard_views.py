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
from feedback.policy import require_dashboard_reader

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


def _series(rows: list[kpis.VolumeRow], first: date, last: date, label: Any) -> dict[str, Any]:
    """The busiest keys' daily counts, every day of the period present (a quiet day is 0)."""
    totals: Counter[str] = Counter()
    for row in rows:
        totals[row.key] += row.count
    top = [key for key, _ in totals.most_common(TOP_SERIES)]
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    counts: dict[str, dict[date, int]] = defaultdict(dict)
    for row in rows:
        counts[row.key][row.day] = row.count
    return {
        "labels": [d.strftime("%d/%m") for d in days],
        "datasets": [
            {"label": label(key), "data": [counts[key].get(d, 0) for d in days]} for key in top
        ],
    }


def _figures(board: kpis.Dashboard, first: date, last: date) -> dict[str, Any]:
    names = board.names
    return {
        "by_category": _series(
            board.volume_by_category, first, last, lambda k: names.get(k, k or "Chưa phân loại")
        ),
        "by_ward": _series(
            board.volume_by_ward, first, last, lambda k: names.get(f"ward:{k}", k or "Chưa rõ")
        ),
        "on_time": {
            "labels": [r.agency for r in board.on_time[:15]],
            "datasets": [
                {
                    "label": "Tỉ lệ đúng hạn (%)",
                    "data": [round((r.rate or 0) * 100, 1) for r in board.on_time[:15]],
                }
            ],
        },
        "csat": {
            "labels": [f"{s} sao" for s in range(1, 6)],
            "datasets": [
                {"label": "Số đánh giá", "data": [board.csat.scores[s] for s in range(1, 6)]}
            ],
        },
        "backlog": {
            "labels": [r.agency for r in board.backlog[:15]],
            "datasets": [
                {"label": "Đang mở", "data": [r.open for r in board.backlog[:15]]},
                {"label": "Quá hạn", "data": [r.overdue for r in board.backlog[:15]]},
            ],
        },
        "times": {
            "labels": [r.agency for r in board.times[:15]],
            "datasets": [
                {
                    "label": "Phản hồi đầu tiên (giờ, trung vị)",
                    "data": [round(r.first_response_median_h or 0, 1) for r in board.times[:15]],
                },
                {
                    "label": "Hoàn thành (giờ, trung vị)",
                    "data": [round(r.resolution_median_h or 0, 1) for r in board.times[:15]],
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
            "period_query": f"from={first.isoformat()}&to={last.isoformat()}",
            "cache_minutes": get_settings().dashboard_cache_seconds // 60,
        },
        who=who,
    )


def _csv_rows(board: kpis.Dashboard, figure: str) -> tuple[list[str], list[list[Any]]]:
    names = board.names
    if figure == "volume-category":
        return ["ngay", "linh_vuc", "ten", "so_phan_anh"], [
            [r.day.isoformat(), r.key, names.get(r.key, ""), r.count]
            for r in board.volume_by_category
        ]
    if figure == "volume-ward":
        return ["ngay", "ma_phuong_xa", "ten", "so_phan_anh"], [
            [r.day.isoformat(), r.key, names.get(f"ward:{r.key}", ""), r.count]
            for r in board.volume_by_ward
        ]
    if figure == "on-time":
        return ["co_quan", "da_hoan_thanh", "dung_han", "ti_le_dung_han"], [
            [r.agency, r.resolved, r.on_time, round(r.rate, 4) if r.rate is not None else ""]
            for r in board.on_time
        ]
    if figure == "csat":
        c = board.csat
        rows: list[list[Any]] = [[f"{s} sao", n] for s, n in c.scores.items()]
        rows += [
            ["so_danh_gia", c.responses],
            ["da_hoan_thanh", c.resolved],
            ["ti_le_phan_hoi", round(c.response_rate, 4) if c.response_rate is not None else ""],
            ["chua_duoc_xu_ly", c.not_fixed],
        ]
        return ["muc", "gia_tri"], rows
    if figure == "backlog":
        return ["co_quan", "dang_mo", "qua_han"], [
            [r.agency, r.open, r.overdue] for r in board.backlog
        ]
    if figure == "times":
        return [
            "co_quan",
            "phan_hoi_dau_trung_vi_gio",
            "phan_hoi_dau_tb_gio",
            "hoan_thanh_trung_vi_gio",
            "hoan_thanh_tb_gio",
        ], [
            [
                r.agency,
                *(
                    round(v, 2) if v is not None else ""
                    for v in (
                        r.first_response_median_h,
                        r.first_response_avg_h,
                        r.resolution_median_h,
                        r.resolution_avg_h,
                    )
                ),
            ]
            for r in board.times
        ]
    if figure == "hotspots":
        return [
            "ma_phuong_xa",
            "phuong_xa",
            "linh_vuc",
            "so_phan_anh",
            "dang_mo",
            "vi_do",
            "kinh_do",
        ], [
            [h.ward_code, h.ward_name, h.category, h.count, h.open, h.latitude, h.longitude]
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
