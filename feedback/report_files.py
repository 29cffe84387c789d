"""The monthly report as a file: a spreadsheet (openpyxl), a CSV, or a PDF ready to print.

The tables are built once (`tables`) and written three ways; the charts
(`feedback/report_charts.py`) are embedded in the spreadsheet and the PDF. The PDF embeds
DejaVu Sans, which matplotlib ships and which covers Vietnamese, so every diacritic prints
whatever fonts the machine has.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from core.errors import Invalid
from core.settings import get_settings
from feedback import kpis
from feedback.monthly_report import MonthlyReport
from feedback.report_charts import charts

Value = int | float | str | None
FORMATS = ("xlsx", "csv", "pdf")


# --- Numbers the Vietnamese way -------------------------------------------------------------


def _number(value: float, digits: int) -> str:
    text = f"{value:,.{digits}f}"
    return text.replace(",", " ").replace(".", ",").replace(" ", ".")


def fmt(value: Value, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "pct":
        return _number(float(value) * 100, 1) + "%"
    if kind in ("hours", "score"):
        return _number(float(value), 1 if kind == "hours" else 2)
    if kind == "int":
        return _number(float(value), 0)
    if kind == "signed":
        return ("+" if float(value) > 0 else "") + _number(float(value), 0)
    return str(value)


@dataclass(frozen=True)
class Table:
    title: str
    headers: list[str]
    kinds: list[str]  # text | int | pct | hours | score | signed, per column
    rows: list[list[Value]]
    widths: list[float]  # relative, for the PDF


def _summary(report: MonthlyReport) -> Table:
    t, p = report.total, report.previous_total

    def line(name: str, kind: str, get: Callable[[kpis.Figures], Value]) -> list[Value]:
        return [name, kind, get(t), get(p)]

    fr = "Phản hồi đầu tiên"
    hours = "(giờ làm việc)"
    rows = [
        line("Số phản ánh, kiến nghị tiếp nhận", "int", lambda f: f.received),
        line("Đã xử lý xong", "int", lambda f: f.resolved),
        line("Từ chối (không thuộc thẩm quyền, không đủ thông tin)", "int", lambda f: f.rejected),
        line("Đang xử lý (của số tiếp nhận trong tháng)", "int", lambda f: f.open),
        line("Tồn đọng cuối kỳ (mọi thời điểm tiếp nhận)", "int", lambda f: f.backlog_end),
        line("Tỉ lệ xử lý đúng hạn", "pct", lambda f: f.on_time_rate),
        line("Số phản ánh quá hạn", "int", lambda f: f.overdue),
        line(f"{fr}, trung vị {hours}", "hours", lambda f: f.first_response.median_h),
        line(f"{fr}, 90% trong vòng {hours}", "hours", lambda f: f.first_response.p90_h),
        line(f"Thời gian xử lý, trung vị {hours}", "hours", lambda f: f.resolution.median_h),
        line(f"Thời gian xử lý, 90% trong vòng {hours}", "hours", lambda f: f.resolution.p90_h),
        line("Điểm hài lòng trung bình (1–5)", "score", lambda f: f.csat.mean),
        line("Tỉ lệ hài lòng (4–5 sao)", "pct", lambda f: f.csat.satisfied_share),
        line("Tỉ lệ người dân đánh giá", "pct", lambda f: f.csat.response_rate),
        line("Tỉ lệ báo “chưa được xử lý”", "pct", lambda f: f.csat.not_fixed_share),
        line("Tỉ lệ mở lại", "pct", lambda f: f.reopen_rate),
        line("Tỉ lệ trùng lặp", "pct", lambda f: f.duplicate_share),
    ]
    return Table(
        "I. Tổng quan",
        ["Chỉ tiêu", "", f"Tháng {report.label}", "Tháng trước"],
        ["text", "text", "*", "*"],
        rows,
        [62, 0, 19, 19],
    )


def _agencies(report: MonthlyReport) -> Table:
    rows: list[list[Value]] = [
        [
            rank,
            f.name,
            f.received,
            f.resolved,
            f.on_time_rate,
            f.csat.mean,
            f.csat.satisfied_share,
            f.resolution.median_h,
            f.overdue,
        ]
        for rank, f in enumerate(report.agencies, start=1)
    ]
    return Table(
        "II. Xếp hạng cơ quan theo tỉ lệ đúng hạn và mức hài lòng",
        [
            "Hạng",
            "Cơ quan",
            "Tiếp nhận",
            "Đã xử lý",
            "Đúng hạn",
            "Điểm HL",
            "Hài lòng",
            "Xử lý (giờ LV)",
            "Quá hạn",
        ],
        ["int", "text", "int", "int", "pct", "score", "pct", "hours", "int"],
        rows,
        [6, 34, 9, 9, 9, 8, 9, 9, 7],
    )


def _categories(report: MonthlyReport) -> Table:
    rows: list[list[Value]] = [
        [
            c.figures.name,
            c.figures.received,
            c.previous,
            c.change,
            c.growth,
            c.figures.on_time_rate,
            "tăng" if c.change > 0 else ("giảm" if c.change < 0 else "như cũ"),
        ]
        for c in report.categories
    ]
    return Table(
        "III. Lĩnh vực: so với tháng trước (tăng nhiều nhất trước)",
        [
            "Lĩnh vực",
            f"Tháng {report.label}",
            "Tháng trước",
            "Chênh lệch",
            "Tăng, giảm",
            "Đúng hạn",
            "Xu hướng",
        ],
        ["text", "int", "int", "signed", "pct", "pct", "text"],
        rows,
        [34, 11, 11, 11, 11, 11, 11],
    )


def _hotspots(report: MonthlyReport) -> Table:
    rule = report.hotspot_rule
    rows: list[list[Value]] = [
        [h.ward_name, h.category_name, h.count, h.baseline_mean, h.ratio, h.open]
        for h in report.hotspots
    ]
    return Table(
        f"IV. Điểm nóng: phường, xã có số phản ánh một lĩnh vực cao bất thường so với "
        f"{rule.baseline_windows} tháng trước (ít nhất {rule.min_count} phản ánh, "
        f"xác suất ngẫu nhiên dưới {_number(rule.alpha * 100, 1)}%)",
        ["Phường, xã", "Lĩnh vực", "Số phản ánh", "TB các tháng trước", "Gấp", "Đang mở"],
        ["text", "text", "int", "hours", "hours", "int"],
        rows,
        [28, 28, 11, 13, 9, 11],
    )


def _channels(report: MonthlyReport) -> Table:
    rows: list[list[Value]] = [
        [f.name, f.received, f.on_time_rate, f.csat.mean] for f in report.channels
    ]
    return Table(
        "V. Kênh tiếp nhận",
        ["Kênh", "Tiếp nhận", "Đúng hạn", "Điểm hài lòng"],
        ["text", "int", "pct", "score"],
        rows,
        [40, 20, 20, 20],
    )


def _days(report: MonthlyReport) -> Table:
    rows: list[list[Value]] = [
        [f"{d.key[8:]}/{d.key[5:7]}", d.received, d.resolved, d.on_time_rate, d.backlog_end]
        for d in report.days
    ]
    return Table(
        "VI. Theo ngày",
        ["Ngày", "Tiếp nhận", "Đã xử lý", "Đúng hạn", "Tồn đọng cuối ngày"],
        ["text", "int", "int", "pct", "int"],
        rows,
        [20, 20, 20, 20, 20],
    )


def tables(report: MonthlyReport) -> list[Table]:
    return [
        _summary(report),
        _agencies(report),
        _categories(report),
        _hotspots(report),
        _channels(report),
        _days(report),
    ]


def _cell(table: Table, row: list[Value], column: int) -> str:
    kind = table.kinds[column]
    if kind == "*":  # the summary's values: the row says how to show them
        kind = str(row[1])
    return fmt(row[column], kind)


def _visible(table: Table) -> list[int]:
    return [i for i, width in enumerate(table.widths) if width > 0]


def _heading(report: MonthlyReport) -> list[str]:
    zone = ZoneInfo(get_settings().timezone)
    fresh = (
        report.fresh_as_of.astimezone(zone).strftime("%H:%M %d/%m/%Y")
        if report.fresh_as_of
        else "chưa tổng hợp"
    )
    return [
        f"BÁO CÁO TÌNH HÌNH TIẾP NHẬN, XỬ LÝ PHẢN ÁNH, KIẾN NGHỊ THÁNG {report.label}",
        f"Kỳ báo cáo: từ {report.first:%d/%m/%Y} đến {report.last:%d/%m/%Y} "
        f"(phản ánh tiếp nhận trong kỳ). Số liệu tổng hợp đến {fresh}.",
        "Thời gian tính theo giờ làm việc (7 giờ 30 đến 17 giờ các ngày làm việc, trừ ngày "
        "nghỉ lễ, Tết).",
    ]


# --- The three formats ----------------------------------------------------------------------


def render_csv(report: MonthlyReport) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    for line in _heading(report):
        writer.writerow([line])
    for table in tables(report):
        writer.writerow([])
        writer.writerow([table.title])
        columns = _visible(table)
        writer.writerow([table.headers[i] for i in columns])
        for row in table.rows:
            writer.writerow([_cell(table, row, i) for i in columns])
    # A BOM, so that Excel reads the Vietnamese as UTF-8.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def render_xlsx(report: MonthlyReport) -> bytes:
    from openpyxl import Workbook
    from openpyxl.drawing.image import Image
    from openpyxl.styles import Alignment, Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Báo cáo"
    names = ["Tổng quan", "Xếp hạng cơ quan", "Lĩnh vực", "Điểm nóng", "Kênh", "Theo ngày"]
    for index, (table, name) in enumerate(zip(tables(report), names, strict=True)):
        ws = sheet if index == 0 else book.create_sheet(name)
        if index == 0:
            for line in _heading(report):
                ws.append([line])
            ws["A1"].font = Font(bold=True, size=13)
            ws.append([])
        ws.append([table.title])
        ws.cell(ws.max_row, 1).font = Font(bold=True)
        columns = _visible(table)
        ws.append([table.headers[i] for i in columns])
        for cell in ws[ws.max_row]:
            cell.font = Font(bold=True)
            cell.alignment = Alignment(wrap_text=True, vertical="center")
        for row in table.rows:
            ws.append([row[i] for i in columns])
            for offset, i in enumerate(columns, start=1):
                kind = table.kinds[i] if table.kinds[i] != "*" else str(row[1])
                number_format = {"pct": "0.0%", "hours": "0.0", "score": "0.00"}.get(kind)
                if number_format:
                    ws.cell(ws.max_row, offset).number_format = number_format
        widths = [max(12, int(table.widths[i] * 0.9)) for i in columns]
        for offset, width in enumerate(widths, start=1):
            ws.column_dimensions[ws.cell(1, offset).column_letter].width = width
        ws.page_setup.orientation = "landscape"
        ws.page_setup.fitToWidth = 1
        ws.sheet_properties.pageSetUpPr.fitToPage = True
    chart_sheet = book.create_sheet("Biểu đồ")
    at = 1
    for title, image in charts(report):
        chart_sheet.cell(at, 1, title).font = Font(bold=True)
        picture = Image(io.BytesIO(image))
        picture.width, picture.height = picture.width * 0.5, picture.height * 0.5
        chart_sheet.add_image(picture, f"A{at + 1}")
        at += int(picture.height / 20) + 3
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


# fpdf2 leaves the cursor right of a multi_cell by default: each block starts a new line.
_NEXT_LINE: dict[str, Any] = {"new_x": "LMARGIN", "new_y": "NEXT"}
_CENTRED: dict[str, Any] = {"align": "C", **_NEXT_LINE}


def render_pdf(report: MonthlyReport) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font("DejaVu", "", str(_font_dir() / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(_font_dir() / "DejaVuSans-Bold.ttf"))
    pdf.set_title(f"Báo cáo phản ánh, kiến nghị tháng {report.label}")
    pdf.set_creator("Tiếp Dân")
    pdf.alias_nb_pages()

    def footer() -> None:
        pdf.set_y(-12)
        pdf.set_font("DejaVu", "", 8)
        pdf.cell(0, 5, f"Trang {pdf.page_no()}/{{nb}}", align="C")

    pdf.footer = footer  # type: ignore[method-assign]
    pdf.add_page()
    width = pdf.epw
    pdf.set_font("DejaVu", "B", 10)
    top = pdf.get_y()
    committee = "ỦY BAN NHÂN DÂN\n" + (report.province.upper() or "TỈNH")
    pdf.multi_cell(width * 0.42, 5, committee, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_xy(pdf.l_margin + width * 0.42, top)
    pdf.multi_cell(
        width * 0.58,
        5,
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nĐộc lập - Tự do - Hạnh phúc",
        **_CENTRED,
    )
    pdf.ln(8)
    heading = _heading(report)
    pdf.set_font("DejaVu", "B", 13)
    pdf.multi_cell(width, 7, heading[0], **_CENTRED)
    pdf.ln(2)
    pdf.set_font("DejaVu", "", 9)
    for line in heading[1:]:
        pdf.multi_cell(width, 5, line, **_CENTRED)
    pdf.ln(4)
    for table in tables(report):
        _pdf_table(pdf, table)
    for title, image in charts(report):
        if pdf.get_y() > pdf.h - 100:
            pdf.add_page()
        pdf.set_font("DejaVu", "B", 10)
        pdf.multi_cell(width, 6, title, **_NEXT_LINE)
        pdf.image(io.BytesIO(image), x=pdf.l_margin, w=width)
        pdf.ln(4)
    pdf.ln(6)
    pdf.set_font("DejaVu", "", 9)
    pdf.multi_cell(
        width,
        5,
        "Báo cáo do hệ thống Tiếp Dân lập tự động từ số liệu phản ánh, kiến nghị; không chứa "
        "thông tin cá nhân của người phản ánh.",
        **_NEXT_LINE,
    )
    return bytes(pdf.output())


def _pdf_table(pdf: Any, table: Table) -> None:
    from fpdf.fonts import FontFace

    if pdf.get_y() > pdf.h - 60:
        pdf.add_page()
    pdf.set_font("DejaVu", "B", 10)
    pdf.multi_cell(pdf.epw, 6, table.title, **_NEXT_LINE)
    pdf.ln(1)
    columns = _visible(table)
    pdf.set_font("DejaVu", "", 8)
    aligns = ["LEFT" if table.kinds[i] == "text" else "RIGHT" for i in columns]
    with pdf.table(
        col_widths=[table.widths[i] for i in columns],
        text_align=aligns,
        headings_style=FontFace(emphasis="BOLD", fill_color=(225, 232, 240)),
        line_height=4.6,
    ) as rendered:
        heading = rendered.row()
        for i in columns:
            heading.cell(table.headers[i])
        if not table.rows:
            empty = rendered.row()
            empty.cell("Không có số liệu.", colspan=len(columns))
        for row in table.rows:
            line = rendered.row()
            for i in columns:
                line.cell(_cell(table, row, i))
    pdf.ln(5)


def render_report(report: MonthlyReport, fmt_name: str) -> bytes:
    """The report as a file of this format."""
    if fmt_name == "csv":
        return render_csv(report)
    if fmt_name == "xlsx":
        return render_xlsx(report)
    if fmt_name == "pdf":
        return render_pdf(report)
    raise Invalid(f"Định dạng không hỗ trợ: {fmt_name} (chọn xlsx, csv hoặc pdf).")


MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
    "pdf": "application/pdf",
}
