"""The monthly report's charts, drawn with matplotlib's Figure (no pyplot, no display: safe in a
server thread) as PNG images. Their labels are Vietnamese: matplotlib's DejaVu Sans has the
glyphs."""

from __future__ import annotations

import io
from typing import Any

from feedback.monthly_report import MonthlyReport


def charts(report: MonthlyReport) -> list[tuple[str, bytes]]:
    """The report's charts as PNG images, with their titles."""
    from matplotlib.figure import Figure

    def png(figure: Any) -> bytes:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=150, bbox_inches="tight")
        return buffer.getvalue()

    drawn = []
    figure = Figure(figsize=(8, 3.2))
    axes = figure.subplots()
    days = [d.key[8:] for d in report.days]
    axes.plot(days, [d.received for d in report.days], marker="o", label="Tiếp nhận")
    axes.plot(days, [d.resolved for d in report.days], marker="s", label="Đã xử lý (trong số đó)")
    axes.set_xlabel(f"Ngày (tháng {report.label})")
    axes.set_ylabel("Số phản ánh")
    axes.legend()
    axes.grid(alpha=0.3)
    drawn.append(("Số phản ánh tiếp nhận theo ngày", png(figure)))

    top = [a for a in report.agencies if a.on_time_rate is not None][:15]
    figure = Figure(figsize=(8, 0.35 * max(len(top), 3) + 1))
    axes = figure.subplots()
    axes.barh([a.name[:40] for a in reversed(top)],
              [(a.on_time_rate or 0) * 100 for a in reversed(top)], color="#2b7a3d")  # fmt: skip
    axes.set_xlabel("Tỉ lệ xử lý đúng hạn (%)")
    axes.set_xlim(0, 100)
    drawn.append(("Tỉ lệ đúng hạn của các cơ quan xếp đầu", png(figure)))

    cats = report.categories[:10]
    figure = Figure(figsize=(8, 0.45 * max(len(cats), 3) + 1))
    axes = figure.subplots()
    positions = list(range(len(cats)))
    axes.barh([p + 0.2 for p in positions], [c.figures.received for c in cats], height=0.4,
              label=f"Tháng {report.label}")  # fmt: skip
    axes.barh([p - 0.2 for p in positions], [c.previous for c in cats], height=0.4,
              label="Tháng trước")  # fmt: skip
    axes.set_yticks(positions, [c.figures.name[:40] for c in cats])
    axes.invert_yaxis()
    axes.legend()
    axes.set_xlabel("Số phản ánh")
    drawn.append(("Lĩnh vực tăng nhiều nhất so với tháng trước", png(figure)))

    figure = Figure(figsize=(8, 2.8))
    axes = figure.subplots()
    scores = report.total.csat.scores
    axes.bar([f"{s} sao" for s in range(1, 6)], [scores[s] for s in range(1, 6)],
             color=["#c0392b", "#e67e22", "#f1c40f", "#7dbb42", "#2b7a3d"])  # fmt: skip
    axes.set_ylabel("Số đánh giá")
    drawn.append(("Mức hài lòng của người dân", png(figure)))
    return drawn
