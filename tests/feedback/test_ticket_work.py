"""The staff actions added for the admin panel, through the API that shares them: evidence
for a resolution, the citizen's rating in the ticket JSON, giving a ticket to a person,
correcting its category, and merging a duplicate into its original."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.settings import get_settings
from feedback import citizen
from feedback.auth import create_user
from feedback.citizen import Identity
from feedback.contacts import contacts_to_tell
from feedback.models import StaffRole, StaffUser, Ticket, TicketEvent
from feedback.queries import category_corrections
from tests.feedback.helpers import file_and_route
from tests.images import resolve_body, tiny_png

CITY_REPORT = {  # → SXD
    "description": "Đèn đường trước số 12 Yersin tắt cả tuần nay",
    "ward_code": "25747",
    "category": "ha_tang_do_thi",
}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _act(client, headers, code, action, body=None):
    return client.post(f"/api/v1/tickets/{code}/{action}", json=body or {}, headers=headers)


def _started(client, db_session, service_headers, staff, report=CITY_REPORT) -> str:
    code = file_and_route(client, db_session, service_headers, report)
    assert _act(client, staff, code, "start").status_code == 200
    return code


def _upload(client, headers, code, data, name="anh.png", kind="image/png"):
    return client.post(
        f"/api/v1/tickets/{code}/attachments", files={"file": (name, data, kind)}, headers=headers
    )


def test_a_resolution_without_evidence_is_refused_with_the_reason(
    client, db_session, service_headers, staff_token
):
    staff = staff_token("agency_staff", "SXD")
    code = _started(client, db_session, service_headers, staff)

    refused = _act(client, staff, code, "resolve", {"message": "Đã thay bóng đèn."})

    assert refused.status_code == 422
    assert "minh chứng" in refused.json()["detail"]
    assert client.get(f"/api/v1/tickets/{code}", headers=staff).json()["status"] == "in_progress"


def test_evidence_uploaded_then_resolved_is_recorded_for_the_citizen(
    client, db_session, service_headers, staff_token, sent_tasks
):
    staff = staff_token("agency_staff", "SXD")
    code = _started(client, db_session, service_headers, staff)

    photo = _upload(client, staff, code, tiny_png())
    document = _upload(client, staff, code, PDF, "bien-ban.pdf", "application/pdf")
    assert (photo.status_code, document.status_code) == (201, 201), photo.text
    urls = [document.json()["url"], photo.json()["url"]]
    resolved = _act(client, staff, code, "resolve", {"message": "Đã thay.", "attachments": urls})

    assert resolved.status_code == 200, resolved.text
    event = resolved.json()["events"][-1]
    # The photo first: the citizen's notice shows the first photo.
    assert event["data"]["attachments"] == [urls[1], urls[0]]
    assert event["public"] is True
    served = client.get(urls[0])
    assert served.status_code == 200 and served.content == PDF
    assert served.headers["content-type"] == "application/pdf"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-disposition"].startswith("attachment")


def test_an_upload_that_is_neither_a_photo_nor_a_pdf_is_refused(
    client, db_session, service_headers, staff_token
):
    staff = staff_token("agency_staff", "SXD")
    code = _started(client, db_session, service_headers, staff)

    refused = _upload(
        client, staff, code, b"<html><script>alert(1)</script>", "x.pdf", "application/pdf"
    )

    assert refused.status_code == 415
    assert "PDF" in refused.json()["detail"]


def test_evidence_that_was_never_uploaded_is_refused(
    client, db_session, service_headers, staff_token
):
    staff = staff_token("agency_staff", "SXD")
    code = _started(client, db_session, service_headers, staff)
    invented = "/api/v1/documents/" + "A" * 32 + ".pdf"

    refused = _act(client, staff, code, "resolve", {"message": "Xong", "attachments": [invented]})

    assert refused.status_code == 422
    assert "Không tìm thấy tệp minh chứng" in refused.json()["detail"]


def test_another_agencys_staff_cannot_upload_evidence_to_a_ticket(
    client, db_session, service_headers, staff_token
):
    code = file_and_route(client, db_session, service_headers, CITY_REPORT)
    ward_staff = staff_token("agency_staff", "UBND_25747")

    assert _upload(client, ward_staff, code, tiny_png()).status_code == 404


def test_the_ticket_json_shows_the_citizens_rating(
    client, db_session, service_headers, staff_token
):
    staff = staff_token("agency_staff", "SXD")
    report = {**CITY_REPORT, "contact": {"channel": "web", "channel_user_id": "rating-json"}}
    code = _started(client, db_session, service_headers, staff, report)
    assert _act(client, staff, code, "resolve", resolve_body()).status_code == 200
    citizen.rate(
        db_session, Identity("web", "rating-json"), code, score=2, fixed=False, comment="Vẫn tối"
    )
    db_session.commit()

    ticket = client.get(f"/api/v1/tickets/{code}", headers=staff).json()

    assert ticket["rating"]["score"] == 2
    assert ticket["rating"]["fixed"] is False
    assert ticket["rating"]["comment"] == "Vẫn tối"
    rating_event = next(e for e in ticket["events"] if e["kind"] == "rating")
    assert rating_event["data"] == {"score": 2, "fixed": False}
    assert ticket["status"] == "reopened"


def test_starting_a_ticket_gives_it_to_whoever_starts_it_or_to_a_colleague(
    client, db_session, service_headers, staff_token
):
    staff = staff_token("agency_staff", "SXD")
    colleague = create_user(
        db_session,
        username="sxd-colleague",
        password="password-123",
        role=StaffRole.AGENCY_STAFF,
        agency_code="SXD",
    )
    db_session.commit()
    code = _started(client, db_session, service_headers, staff)
    mine = client.get(f"/api/v1/tickets/{code}", headers=staff).json()
    assert mine["assignee"] is not None and mine["assignee"].startswith("agency_staff-SXD")

    moved = _act(client, staff, code, "assign_staff", {"assignee": colleague.username})
    assert moved.status_code == 200 and moved.json()["assignee"] == "sxd-colleague"

    outsider = create_user(
        db_session,
        username="ward-officer-x",
        password="password-123",
        role=StaffRole.AGENCY_STAFF,
        agency_code="UBND_25747",
    )
    db_session.commit()
    refused = _act(client, staff, code, "assign_staff", {"assignee": outsider.username})
    assert refused.status_code == 422


def test_a_corrected_category_moves_the_deadline_and_becomes_a_training_example(
    client, db_session, service_headers, staff_token
):
    staff = staff_token("agency_staff", "SXD")
    code = file_and_route(client, db_session, service_headers, CITY_REPORT)

    changed = _act(client, staff, code, "recategorize", {"category": "trat_tu_xay_dung"})

    assert changed.status_code == 200, changed.text
    assert changed.json()["category"] == "trat_tu_xay_dung"
    assert changed.json()["events"][-1]["data"] == {
        "category_from": "ha_tang_do_thi",
        "category_to": "trat_tu_xay_dung",
    }
    assert (CITY_REPORT["description"], "trat_tu_xay_dung") in list(
        category_corrections(db_session)
    )


def test_a_merged_duplicate_closes_and_its_citizen_follows_the_original(
    client, db_session, service_headers, staff_token, sent_tasks
):
    staff = staff_token("agency_staff", "SXD")
    first = {**CITY_REPORT, "contact": {"channel": "web", "channel_user_id": "first-citizen"}}
    second = {**CITY_REPORT, "contact": {"channel": "web", "channel_user_id": "second-citizen"}}
    original = file_and_route(client, db_session, service_headers, first)
    duplicate = file_and_route(client, db_session, service_headers, second)
    sent_tasks.clear()

    merged = _act(client, staff, duplicate, "merge", {"into": original})

    assert merged.status_code == 200, merged.text
    body = merged.json()
    assert (body["status"], body["duplicate_of"], body["merged"]) == ("closed", original, True)
    assert original in body["events"][-1]["message"]
    # The duplicate's citizen is told once, about the duplicate's own event.
    assert [name for name, _ in sent_tasks] == ["bot.notify_contact"]
    tickets = {
        t.code: t
        for t in db_session.scalars(select(Ticket).where(Ticket.code.in_([original, duplicate])))
    }
    assert contacts_to_tell(db_session, tickets[original]) == [
        tickets[original].contact_id,
        tickets[duplicate].contact_id,
    ]
    kinds = db_session.scalars(
        select(TicketEvent.kind).where(TicketEvent.ticket_id == tickets[original].id)
    ).all()
    assert kinds[-1] == "merged_in"
    # Into itself, or into the closed duplicate: refused.
    assert _act(client, staff, original, "merge", {"into": original}).status_code == 422
    assert _act(client, staff, original, "merge", {"into": duplicate}).status_code == 409


def test_repeated_wrong_passwords_lock_the_account_even_with_the_right_one(client, db_session):
    create_user(db_session, username="khoa-thu", password="dung-mat-khau-1", role=StaffRole.VIEWER)
    db_session.commit()
    attempts = get_settings().login_max_failures

    for _ in range(attempts):
        wrong = client.post("/api/v1/auth/token", data={"username": "khoa-thu", "password": "sai"})
        assert wrong.status_code == 401
    locked = client.post(
        "/api/v1/auth/token", data={"username": "khoa-thu", "password": "dung-mat-khau-1"}
    )

    assert locked.status_code == 401
    assert "locked" in locked.json()["detail"]
    user = db_session.scalars(select(StaffUser).where(StaffUser.username == "khoa-thu")).one()
    user.locked_until = datetime.now(UTC) - timedelta(seconds=1)  # the lock has run out
    db_session.commit()
    assert (
        client.post(
            "/api/v1/auth/token", data={"username": "khoa-thu", "password": "dung-mat-khau-1"}
        ).status_code
        == 200
    )


def test_an_account_with_two_factor_sign_in_needs_its_code_for_a_token(client, db_session):
    import pyotp

    user = create_user(
        db_session, username="hai-lop", password="dung-mat-khau-1", role=StaffRole.ADMIN
    )
    user.totp_secret = pyotp.random_base32()
    db_session.commit()
    form = {"username": "hai-lop", "password": "dung-mat-khau-1"}

    without = client.post("/api/v1/auth/token", data=form)
    wrong = client.post("/api/v1/auth/token", data={**form, "otp": "000000"})
    right = client.post(
        "/api/v1/auth/token", data={**form, "otp": pyotp.TOTP(user.totp_secret).now()}
    )

    assert (without.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert "otp" in without.json()["detail"]


def test_the_list_filters_by_channel_by_overdue_and_by_code_or_words(
    client, db_session, service_headers, staff_token
):
    staff = staff_token("agency_staff", "SXD")
    web = {**CITY_REPORT, "channel": "web", "description": "Ổ gà lớn giữa đường Yersin"}
    chat = file_and_route(client, db_session, service_headers, web)
    desk = file_and_route(client, db_session, service_headers, CITY_REPORT)

    def codes(query: str) -> set[str]:
        response = client.get(f"/api/v1/tickets?{query}", headers=staff)
        assert response.status_code == 200, response.text
        return {t["code"] for t in response.json()["items"]} & {chat, desk}

    assert codes("channel=web") == {chat}
    assert codes("q=ổ gà") == {chat}
    assert codes(f"q={desk.lower()}") == {desk}
    assert codes("overdue=true") == set()
    ticket = db_session.scalars(select(Ticket).where(Ticket.code == desk)).one()
    ticket.sla_due_at = datetime.now(UTC) - timedelta(hours=1)
    db_session.commit()
    assert codes("overdue=true") == {desk}
