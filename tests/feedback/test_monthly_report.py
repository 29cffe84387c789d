"""The monthly report: its figures on generated tickets, the spreadsheet opened with openpyxl,
the CSV read back, the PDF rendered with pdftoppm and its Vietnamese read with pdftotext; the
same report from the command line and from the admin panel."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from feedback import kpi_aggregates
from feedback.monthly_report import build_monthly_report, parse_month
from feedback.report_files import render_report
from tests.feedback.test_kpis import _ticket, local

pytestmark = pytest.mark.usefixtures("empty_aggregates")

NOVEMBER = date(2026, 11, 1)


def _month(db_session) -> None:
    """November 2026: SXD resolves 10 of 10 on time, SYT 5 of 10 on time; roads grow from 2 in
    October to 8 in November, the environment falls from 6 to 2."""
    for n in range(10):
        day = 2 + n
        _ticket(
            db_session, created=local(2026, 11, day, 9), status="resolved",
            resolved=local(2026, 11, day, 15), first=local(2026, 11, day, 10),
            category="ha_tang_do_thi" if n < 8 else "moi_truong", agency="SXD",
        )  # fmt: skip
        due_day = day + (1 if n % 2 == 0 else 5)  # every other one is late
        _ticket(
            db_session, created=local(2026, 11, day, 9), status="resolved",
            resolved=local(2026, 11, day + 3, 15), due=local(2026, 11, due_day, 17),
            category="giao_thong", agency="SYT",
        )  # fmt: skip
    for n in range(8):
        _ticket(
            db_session, created=local(2026, 10, 5 + n, 9),
            category="moi_truong" if n < 6 else "ha_tang_do_thi",
        )  # fmt: skip
    kpi_aggregates.refresh(db_session)


def test_the_reports_figures(db_session):
    _month(db_session)

    report = build_monthly_report(db_session, first=NOVEMBER)

    assert report.label == "11/2026" and report.last == date(2026, 11, 30)
    assert report.total.received == 20 and report.previous_total.received == 8
    assert [a.key for a in report.agencies] == ["SXD", "SYT"]  # 100% on time before 50%
    assert (report.agencies[0].on_time_rate, report.agencies[1].on_time_rate) == (1.0, 0.5)
    growth = {c.figures.key: (c.figures.received, c.previous, c.change) for c in report.categories}
    assert growth["ha_tang_do_thi"] == (8, 2, 6) and growth["moi_truong"] == (2, 6, -4)
    assert report.categories[0].figures.key == "giao_thong"  # 10 new: the largest growth
    assert len(report.days) == 30 and report.province


def test_the_spreadsheet_opens_with_openpyxl(db_session):
    _month(db_session)
    content = render_report(build_monthly_report(db_session, first=NOVEMBER), "xlsx")

    book = load_workbook(io.BytesIO(content))

    assert book.sheetnames == ["Báo cáo", "Xếp hạng cơ quan", "Lĩnh vực", "Điểm nóng", "Kênh",
                               "Theo ngày", "Biểu đồ"]  # fmt: skip
    summary = [[c.value for c in row] for row in book["Báo cáo"].iter_rows()]
    assert summary[0][0].startswith("BÁO CÁO TÌNH HÌNH TIẾP NHẬN, XỬ LÝ PHẢN ÁNH, KIẾN NGHỊ")
    received = next(r for r in summary if r[0] == "Số phản ánh, kiến nghị tiếp nhận")
    assert received[1:3] == [20, 8]
    ranking = [[c.value for c in row] for row in book["Xếp hạng cơ quan"].iter_rows()]
    assert [r[1] for r in ranking[2:]] == ["Sở Xây dựng", "Sở Y tế"]
    assert ranking[2][4] == 1.0 and ranking[3][4] == 0.5
    assert len(book["Biểu đồ"]._images) == 4  # the charts, as pictures


def test_the_csv_reads_back(db_session):
    _month(db_session)
    content = render_report(build_monthly_report(db_session, first=NOVEMBER), "csv")

    assert content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert ["II. Xếp hạng cơ quan theo tỉ lệ đúng hạn và mức hài lòng"] in rows
    sxd = next(r for r in rows if len(r) > 1 and r[1] == "Sở Xây dựng")
    assert sxd[0] == "1" and sxd[4] == "100,0%"


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils (.ci/run installs it)")
def test_the_pdf_renders_and_its_vietnamese_reads_back(db_session, tmp_path: Path):
    _month(db_session)
    pdf = tmp_path / "bao-cao.pdf"
    pdf.write_bytes(render_report(build_monthly_report(db_session, first=NOVEMBER), "pdf"))

    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 2 and all(p.stat().st_size > 5_000 for p in pages)
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    for phrase in (
        "ỦY BAN NHÂN DÂN",
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "BÁO CÁO TÌNH HÌNH TIẾP NHẬN, XỬ LÝ PHẢN ÁNH, KIẾN NGHỊ",
        "Xếp hạng cơ quan theo tỉ lệ đúng hạn và mức hài lòng",
        "Sở Xây dựng",
        "Hạ tầng đô thị",
    ):
        assert phrase in text, phrase


def test_the_command_line_writes_the_report(tmp_path: Path):
    from tiepdan.cli import main

    output = tmp_path / "bc.csv"
    result = CliRunner().invoke(
        main,
        ["report", "monthly", "--month", "2026-11", "--format", "csv", "--output", str(output)],
    )

    assert result.exit_code == 0, result.output
    assert str(output) in result.output
    assert "THÁNG 11/2026" in output.read_text(encoding="utf-8-sig")
    wrong = CliRunner().invoke(main, ["report", "monthly", "--month", "11-2026"])
    assert wrong.exit_code == 2 and "YYYY-MM" in wrong.output
    future = CliRunner().invoke(main, ["report", "monthly", "--month", "2999-01"])
    assert future.exit_code == 1 and "chưa bắt đầu" in future.output


def test_parse_month():
    assert parse_month("2026-02") == date(2026, 2, 1)
    with pytest.raises(Exception, match="YYYY-MM"):
        parse_month("2026-13")
