"""Nothing personal leaves: every IOC output is scanned for the contact fields and the words of
generated tickets, for exact coordinates, and for anything shaped like a phone number."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook

from feedback import kpi_aggregates, kpis
from feedback.citizen import Identity, rate
from feedback.monthly_report import build_monthly_report
from feedback.report_files import render_report
from integrations.ioc import push
from tests.feedback.helpers import route

pytestmark = pytest.mark.usefixtures("empty_aggregates")

PEOPLE = [
    # name, phone, tax code, company, what they wrote
    ("Trịnh Thị Quỳnh Như", "0903111222", None, None,
     "Cống trước nhà Trịnh Thị Quỳnh Như ở hẻm 7 Bạch Đằng bị nghẹt"),
    ("Lương Văn Khải", "0987000111", "0312345673", "Công ty TNHH Sen Vàng Khải",
     "Xưởng Sen Vàng Khải bị mất điện ba ngày, gọi 0987 000 111"),
    ("Âu Dương Phong", "0933555777", None, None,
     "Rác thải ùn ứ ở chợ Âu Dương, số nhà 88 Lạc Long Quân"),
]  # fmt: skip
EXACT_POINT = (10.987654, 106.654321)
RATING_COMMENT = "Cảm ơn anh cán bộ Hoàng Bảo Ngọc rất nhiệt tình"
PHONE_SHAPES = re.compile(r"(?<![\d.])(?:\+?84|0)\s?\d{2,3}[\s.]?\d{3}[\s.]?\d{3,4}(?![\d])")


def _forbidden() -> list[str]:
    words = [RATING_COMMENT, "Hoàng Bảo Ngọc", "hẻm 7 Bạch Đằng", "Lạc Long Quân"]
    for name, phone, tax, company, text in PEOPLE:
        words += [name, phone, phone[1:], text]
        words += [w for w in (tax, company) if w]
    words += [f"{EXACT_POINT[0]}", f"{EXACT_POINT[1]}", "10.98765", "106.65432"]
    words += ["zalo-user-", "tg-user-"]
    return words


def _check(label: str, text: str) -> None:
    for word in _forbidden():
        assert word not in text, f"{label} leaks {word!r}"
    found = PHONE_SHAPES.search(text)
    assert found is None, f"{label} has a phone-shaped number {found.group(0)!r}"


def test_no_output_carries_personal_data(
    client, db_session, service_headers, staff_token, tmp_path: Path, monkeypatch
):
    codes = []
    for n, (name, phone, tax, company, text) in enumerate(PEOPLE):
        contact = {"name": name, "phone": phone, "phone_consent": True,
                   "channel": "zalo", "channel_user_id": f"zalo-user-{n}"}  # fmt: skip
        if tax:
            contact.update(kind="business", tax_code=tax, company_name=company)
        body = {"description": text, "ward_code": "25747", "category": "moi_truong",
                "channel": "zalo", "contact": contact, "address": f"88 {name}"}  # fmt: skip
        if n == 0:
            body.update(latitude=EXACT_POINT[0], longitude=EXACT_POINT[1])
        response = client.post("/api/v1/tickets", json=body, headers=service_headers)
        assert response.status_code == 201, response.text
        codes.append(response.json()["code"])
        route(db_session, codes[-1])
    dispatcher = staff_token("dispatcher")
    for action, payload in (("start", {}), ("reply", {"message": f"Đã gọi {PEOPLE[0][1]}"})):
        done = client.post(f"/api/v1/tickets/{codes[0]}/{action}", json=payload, headers=dispatcher)
        assert done.status_code == 200, done.text
    upload = client.post(
        f"/api/v1/tickets/{codes[0]}/attachments",
        files={
            "file": (
                "minh-chung.pdf",
                b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n%%EOF\n",
                "application/pdf",
            )
        },
        headers=dispatcher,
    )
    assert upload.status_code == 201, upload.text
    resolved = client.post(
        f"/api/v1/tickets/{codes[0]}/resolve",
        json={"message": "Đã thông cống", "attachments": [upload.json()["url"]]},
        headers=dispatcher,
    )
    assert resolved.status_code == 200, resolved.text
    rate(db_session, Identity("zalo", "zalo-user-0"), codes[0], score=5, comment=RATING_COMMENT)
    db_session.commit()
    kpi_aggregates.refresh(db_session)

    viewer = staff_token("viewer")
    today = kpis.local_today()
    outputs: dict[str, str] = {}
    for group in ("agency", "category", "ward", "channel", "day"):
        outputs[f"kpis by {group}"] = client.get(
            f"/api/v1/ioc/kpis?group_by={group}", headers=viewer
        ).text
    outputs["hotspots"] = client.get("/api/v1/ioc/hotspots", headers=viewer).text
    outputs["wards.geojson"] = client.get("/api/v1/ioc/wards.geojson", headers=viewer).text
    monkeypatch.setattr(push.get_settings(), "ioc_push_interval", 300)
    outputs["push body"] = push.create_snapshot(db_session).body
    outputs["/metrics"] = client.get("/metrics").text
    for path in ("services", "requests", "discovery"):
        for fmt in ("json", "xml"):
            outputs[f"open311 {path}.{fmt}"] = client.get(f"/open311/v2/{path}.{fmt}").text
    ids = [r["service_request_id"] for r in client.get("/open311/v2/requests.json").json()]
    assert ids
    for fmt in ("json", "xml"):
        outputs[f"open311 request.{fmt}"] = client.get(f"/open311/v2/requests/{ids[0]}.{fmt}").text
    report = build_monthly_report(db_session, first=today.replace(day=1))
    outputs["report.csv"] = render_report(report, "csv").decode("utf-8-sig")
    book = load_workbook(io.BytesIO(render_report(report, "xlsx")))
    outputs["report.xlsx"] = "\n".join(
        str(cell.value) for sheet in book for row in sheet.iter_rows() for cell in row if cell.value
    )
    if shutil.which("pdftotext"):
        pdf = tmp_path / "report.pdf"
        pdf.write_bytes(render_report(report, "pdf"))
        outputs["report.pdf"] = subprocess.run(
            ["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True
        ).stdout

    assert '"received":3' in outputs["kpis by agency"].replace(" ", "")  # the tickets are there
    # The scan would see a leak: the staff view of a ticket does carry these words.
    staff_view = client.get(f"/api/v1/tickets/{codes[1]}", headers=dispatcher).text
    assert PEOPLE[1][4] in staff_view
    with pytest.raises(AssertionError):
        _check("the staff view", staff_view)
    assert all(text for text in outputs.values())
    for label, text in outputs.items():
        _check(label, text)
    # And the ticket codes, the citizens' keys to their own reports, are not published either.
    for label, text in outputs.items():
        for code in codes:
            assert code not in text, f"{label} leaks the ticket code {code}"
