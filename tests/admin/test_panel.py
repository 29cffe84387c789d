"""The panel over HTTP: signing in and its protections, who sees which tickets, the actions,
the desks, the dashboards and the admins' pages. (The browser scenarios are in
tests/e2e/test_admin_browser.py.)"""

from __future__ import annotations

import re
from datetime import date

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from admin.sessions import COOKIE
from core.settings import get_settings
from feedback import kpi_aggregates
from feedback.auth import create_user
from feedback.models import AuditEntry, FaqEntry, RoutingRule, StaffRole, Ticket, TicketEvent
from feedback.routing import choose_agency
from feedback.sla import current_calendar, forget_calendar
from tests.admin.conftest import PASSWORD, sign_in
from tests.feedback.helpers import file_and_route, route
from tests.images import same_picture, tiny_png

CITY_REPORT = {  # → SXD
    "description": "Đèn đường trước số 12 Yersin tắt cả tuần nay",
    "ward_code": "25747",
    "category": "ha_tang_do_thi",
    "contact": {"name": "Nguyễn Văn An", "phone": "0912345678", "phone_consent": True},
}
WARD_REPORT = {  # → UBND_25747
    "description": "Rác thải không được thu gom 3 ngày nay ở hẻm 45",
    "ward_code": "25747",
    "category": "moi_truong",
}


def _audit(db_session, action: str) -> list[AuditEntry]:
    return list(db_session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


# --- Signing in -------------------------------------------------------------------------------


def test_the_session_cookie_is_httponly_and_lax_and_pages_carry_the_csp(app_client, db_session):
    create_user(db_session, username="cookie-test", password=PASSWORD, role=StaffRole.VIEWER)
    db_session.commit()

    signed = sign_in(app_client, "cookie-test")

    assert signed.status_code == 303 and signed.headers["location"] == "/admin/"
    cookie = next(h for h in signed.headers.get_list("set-cookie") if h.startswith(COOKIE))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/admin" in cookie
    page = app_client.get("/admin/dashboard")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["x-frame-options"] == "DENY"


def test_a_page_asked_for_without_signing_in_leads_to_the_sign_in_form(app_client):
    response = app_client.get("/admin/queue?tab=open")

    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login?next=/admin/queue%3Ftab%3Dopen"


def test_a_form_posted_without_its_csrf_token_is_refused(
    app_client, db_session, panel, service_headers
):
    code = file_and_route(app_client, db_session, service_headers, CITY_REPORT)
    staff = panel("agency_staff", "SXD")

    refused = app_client.post(
        f"/admin/tickets/{code}/actions/note", data={"message": "không có mã bảo vệ"}
    )
    forged = app_client.post(
        f"/admin/tickets/{code}/actions/note", data={"message": "x", "csrf_token": "forged"}
    )

    assert (refused.status_code, forged.status_code) == (403, 403)
    assert "CSRF" in refused.text
    accepted = staff.post(f"/admin/tickets/{code}/actions/note", {"message": "có mã"})
    assert accepted.status_code == 303
    notes = db_session.scalars(
        select(TicketEvent.message)
        .join(Ticket)
        .where(Ticket.code == code, TicketEvent.kind == "note")
    ).all()
    assert notes == ["có mã"]


def test_the_login_form_needs_its_own_csrf_token(app_client, db_session):
    create_user(db_session, username="login-csrf", password=PASSWORD, role=StaffRole.VIEWER)
    db_session.commit()

    response = app_client.post(
        "/admin/login", data={"username": "login-csrf", "password": PASSWORD, "csrf_token": "x"}
    )

    assert response.status_code == 403
    assert COOKIE not in response.headers.get("set-cookie", "")


def test_wrong_passwords_lock_the_panel_sign_in_too(app_client, db_session):
    create_user(db_session, username="lock-panel", password=PASSWORD, role=StaffRole.VIEWER)
    db_session.commit()

    for _ in range(get_settings().login_max_failures):
        assert sign_in(app_client, "lock-panel", "sai-mat-khau").status_code == 401
    locked = sign_in(app_client, "lock-panel")

    assert locked.status_code == 401
    assert "Tài khoản tạm khóa" in locked.text


def test_logging_out_ends_the_session(app_client, panel):
    viewer = panel("viewer")

    assert viewer.post("/admin/logout").status_code == 303
    assert app_client.get("/admin/dashboard").status_code == 303


def test_changing_ones_password_keeps_this_session_and_ends_the_others(
    app_client, db_session, panel
):
    staff = panel("agency_staff", "SXD")
    other_browser = TestClient(app_client.app, follow_redirects=False)
    assert sign_in(other_browser, staff.username).status_code == 303
    assert other_browser.get("/admin/queue").status_code == 200
    changed = staff.post(
        "/admin/password",
        {"current": PASSWORD, "new": "mat-khau-moi-12345", "confirm": "mat-khau-moi-12345"},
    )

    assert changed.status_code == 303
    assert staff.get("/admin/password?done=password").status_code == 200
    assert other_browser.get("/admin/queue").status_code == 303
    assert _audit(db_session, "user.change_password")


def test_an_admin_sets_up_totp_then_must_give_a_code_at_each_sign_in(app_client, db_session):
    create_user(db_session, username="admin-totp", password=PASSWORD, role=StaffRole.ADMIN)
    db_session.commit()

    first = sign_in(app_client, "admin-totp")
    assert first.headers["location"] == "/admin/login/totp"
    assert app_client.get("/admin/settings/users").status_code == 303  # not before the code
    setup = app_client.get("/admin/login/totp/setup")
    secret = setup.text.split('name="secret" value="')[1].split('"')[0]
    csrf = setup.text.split('name="csrf_token" value="')[1].split('"')[0]
    wrong = app_client.post(
        "/admin/login/totp/setup", data={"secret": secret, "code": "000000", "csrf_token": csrf}
    )
    assert wrong.status_code == 422
    done = app_client.post(
        "/admin/login/totp/setup",
        data={"secret": secret, "code": pyotp.TOTP(secret).now(), "csrf_token": csrf},
    )
    assert done.status_code == 303
    assert app_client.get("/admin/settings/users").status_code == 200

    app_client.cookies.clear()
    again = sign_in(app_client, "admin-totp")
    assert again.headers["location"] == "/admin/login/totp"
    page = app_client.get("/admin/login/totp")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    ok = app_client.post(
        "/admin/login/totp", data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf}
    )
    assert ok.status_code == 303
    assert app_client.get("/admin/settings/users").status_code == 200


def test_wrong_totp_codes_lock_the_account_like_wrong_passwords(app_client, db_session):
    user = create_user(db_session, username="totp-guess", password=PASSWORD, role=StaffRole.ADMIN)
    user.totp_secret = pyotp.random_base32()
    db_session.commit()

    for _ in range(get_settings().login_max_failures):
        if sign_in(app_client, "totp-guess").status_code != 303:
            break
        page = app_client.get("/admin/login/totp")
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        app_client.post("/admin/login/totp", data={"code": "000000", "csrf_token": csrf})

    locked = sign_in(app_client, "totp-guess")
    assert locked.status_code == 401 and "Tài khoản tạm khóa" in locked.text


# --- Tickets ----------------------------------------------------------------------------------


def test_agency_staff_see_their_agencys_tickets_only(
    app_client, db_session, panel, service_headers
):
    city = file_and_route(app_client, db_session, service_headers, CITY_REPORT)
    ward = file_and_route(app_client, db_session, service_headers, WARD_REPORT)
    officer = panel("agency_staff", "UBND_25747")

    queue = officer.get("/admin/queue")

    assert ward in queue.text and city not in queue.text
    assert officer.get(f"/admin/tickets/{ward}").status_code == 200
    other = officer.get(f"/admin/tickets/{city}")
    assert other.status_code == 404
    assert f"Không tìm thấy phản ánh {city}" in other.text
    assert CITY_REPORT["description"] not in other.text
    assert officer.post(f"/admin/tickets/{city}/actions/note", {"message": "x"}).status_code == 404
    assert f'href="/admin/tickets/{city}"' not in officer.get(f"/admin/queue?q={city}").text


def test_what_a_citizen_wrote_is_shown_as_text(app_client, db_session, panel, service_headers):
    attack = "<img src=x onerror=alert(1)> <script>alert(2)</script>"
    code = file_and_route(
        app_client, db_session, service_headers, {**CITY_REPORT, "description": attack}
    )
    staff = panel("agency_staff", "SXD")

    page = staff.get(f"/admin/tickets/{code}").text
    queue = staff.get("/admin/queue").text

    for html in (page, queue):
        assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt; &lt;script&gt;alert(2)&lt;/script&gt;" in page


def test_an_english_report_is_marked_beside_its_original_text(
    app_client, db_session, panel, service_headers
):
    english = "The street light near VSIP 1 gate is broken since last week"
    code = file_and_route(
        app_client, db_session, service_headers, {**CITY_REPORT, "description": english}
    )
    vietnamese = file_and_route(app_client, db_session, service_headers, CITY_REPORT)
    staff = panel("agency_staff", "SXD")

    page = staff.get(f"/admin/tickets/{code}").text
    queue = staff.get(f"/admin/queue?q={code.lower()}").text

    for html in (page, queue):
        assert english in html and '<span class="lang-tag"' in html and "Tiếng Anh" in html
    assert '<p class="citizen-text" lang="en">' in page
    assert "Tiếng Anh" not in staff.get(f"/admin/tickets/{vietnamese}").text
    ticket = db_session.scalar(select(Ticket).where(Ticket.code == code))
    assert ticket is not None and ticket.language == "en"


def test_the_queue_filters_and_searches(app_client, db_session, panel, service_headers):
    city = file_and_route(app_client, db_session, service_headers, CITY_REPORT)
    other = file_and_route(
        app_client, db_session, service_headers, {**CITY_REPORT, "description": "Cống bị vỡ"}
    )
    staff = panel("agency_staff", "SXD")

    by_code = staff.get(f"/admin/queue?q={city.lower()}").text
    by_words = staff.get("/admin/queue?q=cống bị").text
    overdue = staff.get("/admin/queue?overdue=true").text

    assert city in by_code and other not in by_code
    assert other in by_words and city not in by_words
    assert city not in overdue  # due in days, not past due
    rows = staff.get("/admin/queue/rows").text
    assert rows.startswith("<tbody") and city in rows and "<html" not in rows


def test_resolving_without_evidence_is_refused_and_keeps_what_was_typed(
    app_client, db_session, panel, service_headers
):
    code = file_and_route(app_client, db_session, service_headers, CITY_REPORT)
    staff = panel("agency_staff", "SXD")
    assert staff.post(f"/admin/tickets/{code}/actions/start").status_code == 303

    refused = staff.post(
        f"/admin/tickets/{code}/actions/resolve", {"message": "Đã thay bóng đèn mới"}
    )

    assert refused.status_code == 422
    assert "Cần đính kèm ít nhất một tệp minh chứng" in refused.text
    assert "Đã thay bóng đèn mới</textarea>" in refused.text
    db_session.expire_all()
    assert db_session.scalars(select(Ticket).where(Ticket.code == code)).one().status.value == (
        "in_progress"
    )


def test_resolving_with_a_photo_records_the_evidence(
    app_client, db_session, panel, service_headers
):
    code = file_and_route(app_client, db_session, service_headers, CITY_REPORT)
    staff = panel("agency_staff", "SXD")
    staff.post(f"/admin/tickets/{code}/actions/start")

    done = staff.client.post(
        f"/admin/tickets/{code}/actions/resolve",
        data={"message": "Đã thay bóng đèn mới", "csrf_token": staff.csrf},
        files={"evidence": ("den.png", tiny_png(), "image/png")},
    )

    assert done.status_code == 303 and done.headers["location"].endswith("?done=resolve")
    page = staff.get(f"/admin/tickets/{code}?done=resolve").text
    assert "Đã hoàn thành phản ánh" in page and 'alt="Minh chứng 1"' in page
    evidence = db_session.scalars(
        select(TicketEvent.data)
        .join(Ticket)
        .where(Ticket.code == code, TicketEvent.kind == "resolve")
    ).one()["attachments"]
    assert len(evidence) == 1 and evidence[0].startswith("/api/v1/webchat/photos/")
    assert same_picture(app_client.get(evidence[0]).content, tiny_png())  # the chat shows it


def test_the_contact_is_masked_until_revealed_and_the_reveal_is_logged(
    app_client, db_session, panel, service_headers
):
    code = file_and_route(app_client, db_session, service_headers, CITY_REPORT)
    staff = panel("agency_staff", "SXD")

    masked = staff.get(f"/admin/tickets/{code}").text
    assert "0912345678" not in masked and "091•••••78" in masked and "N. V. An" in masked
    revealed = staff.post(f"/admin/tickets/{code}/contact")

    assert revealed.status_code == 200 and "0912345678" in revealed.text
    entries = _audit(db_session, "contact.reveal")
    assert [(e.actor, e.target) for e in entries] == [(staff.username, code)]


def test_triage_is_confirmed_in_one_click(app_client, db_session, panel, service_headers):
    response = app_client.post(
        "/api/v1/tickets",
        json={"description": "Cây đổ chắn ngang đường", "ward_code": "25747"},
        headers=service_headers,
    )
    code = response.json()["code"]
    route(db_session, code)  # no classifier: triage
    ticket = db_session.scalars(select(Ticket).where(Ticket.code == code)).one()
    ticket.category_candidates = [
        {"category": "ha_tang_do_thi", "confidence": 0.41},
        {"category": "moi_truong", "confidence": 0.33},
    ]
    db_session.commit()
    dispatcher = panel("dispatcher")

    page = dispatcher.get("/admin/triage").text
    assert code in page and "Hạ tầng đô thị (41%)" in page and "Sở Xây dựng" in page
    confirmed = dispatcher.post(
        f"/admin/tickets/{code}/actions/assign",
        {"agency": "SXD", "category": "ha_tang_do_thi", "back": "triage"},
    )

    assert confirmed.headers["location"] == "/admin/triage?done=assign"
    db_session.expire_all()
    stored = db_session.scalars(select(Ticket).where(Ticket.code == code)).one()
    assert (stored.status.value, stored.category_code) == ("assigned", "ha_tang_do_thi")


@pytest.mark.usefixtures("empty_aggregates")
def test_viewers_see_the_dashboards_and_no_ticket(app_client, db_session, panel, service_headers):
    code = file_and_route(app_client, db_session, service_headers, CITY_REPORT)
    kpi_aggregates.refresh(db_session)  # beat's feedback.refresh_kpis, as the worker runs it
    viewer = panel("viewer")

    assert viewer.get("/admin/dashboard").status_code == 200
    assert viewer.get("/admin/queue").status_code == 403
    assert viewer.get(f"/admin/tickets/{code}").status_code == 403
    csv = viewer.get("/admin/dashboard/backlog.csv")
    assert csv.status_code == 200 and csv.text.startswith("\ufeffco_quan,dang_mo,qua_han")
    assert "SXD" in csv.text
    assert panel("agency_staff", "SXD").get("/admin/dashboard").status_code == 403


# --- Admins -----------------------------------------------------------------------------------


def test_a_routing_rule_added_in_the_panel_is_what_routing_reads(app_client, db_session, panel):
    admin = panel("admin")
    before = choose_agency(db_session, category_code="giao_thong", ward_code="25747")

    added = admin.post(
        "/admin/settings/routing",
        {"category": "giao_thong", "ward": "25747", "agency": "UBND_25747", "priority": "5"},
    )

    assert added.status_code == 303
    after = choose_agency(db_session, category_code="giao_thong", ward_code="25747")
    assert after is not None and after.code == "UBND_25747" and after != before
    rule = db_session.scalars(
        select(RoutingRule).where(
            RoutingRule.category_code == "giao_thong", RoutingRule.ward_code == "25747"
        )
    ).one()
    assert _audit(db_session, "routing_rule.create")
    admin.post(f"/admin/settings/routing/{rule.id}", {"delete": "true"})
    assert _audit(db_session, "routing_rule.delete")


def test_users_are_created_and_locked_out_by_admins_and_audited(app_client, db_session, panel):
    admin = panel("admin")

    created = admin.post(
        "/admin/settings/users",
        {
            "username": "can-bo-moi",
            "password": "mat-khau-dai-123",
            "role": "agency_staff",
            "agency": "SXD",
        },
    )
    refused = admin.post(
        "/admin/settings/users",
        {"username": "khong-co-co-quan", "password": "mat-khau-dai-123", "role": "agency_staff"},
    )

    assert created.status_code == 303
    assert refused.status_code == 422 and "Cán bộ cơ quan cần thuộc một cơ quan" in refused.text
    assert [e.target for e in _audit(db_session, "user.create")] == ["can-bo-moi"]
    assert panel("dispatcher").get("/admin/settings/users").status_code == 403


def test_a_day_off_set_by_an_admin_moves_new_deadlines(app_client, db_session, panel):
    admin = panel("admin")
    day = date(2027, 3, 10)  # a Wednesday
    assert current_calendar(db_session).is_working_day(day)
    try:
        saved = admin.post(
            "/admin/settings/calendar", {"day": day.isoformat(), "name": "Nghỉ đột xuất"}
        )
        assert saved.status_code == 303
        assert not current_calendar(db_session).is_working_day(day)
        weekday = admin.post(
            "/admin/settings/calendar",
            {"day": day.isoformat(), "name": "Làm bù", "working": "true"},
        )
        assert weekday.status_code == 422
    finally:
        forget_calendar()  # the day is rolled back with the test; so is this process's copy


def test_the_conversations_desk_replies_and_hands_back(app_client, db_session, panel):
    from bot.models import Conversation, Message

    conversation = Conversation(channel="web", channel_user_id="desk-test", handed_off=True)
    db_session.add(conversation)
    db_session.commit()
    dispatcher = panel("dispatcher")

    assert f"#{conversation.id}" in dispatcher.get("/admin/conversations").text
    dispatcher.get(f"/admin/conversations/{conversation.id}")
    sent = dispatcher.post(
        f"/admin/conversations/{conversation.id}/reply", {"text": "Chào anh, tôi là cán bộ."}
    )
    back = dispatcher.post(f"/admin/conversations/{conversation.id}/handback")

    assert (sent.status_code, back.status_code) == (303, 303)
    texts = db_session.scalars(
        select(Message.text).where(Message.conversation_id == conversation.id).order_by(Message.id)
    ).all()
    assert texts[0] == "Chào anh, tôi là cán bộ."
    db_session.refresh(conversation)
    assert conversation.handed_off is False
    assert panel("agency_staff", "SXD").get("/admin/conversations").status_code == 403


def test_an_english_conversation_is_marked_and_handed_back_in_english(
    app_client, db_session, panel
):
    from bot.handoff import HANDED_BACK_EN
    from bot.models import Conversation, Message

    conversation = Conversation(
        channel="web", channel_user_id="desk-english", handed_off=True, language="en"
    )
    db_session.add(conversation)
    db_session.commit()
    dispatcher = panel("dispatcher")

    listed = dispatcher.get("/admin/conversations").text
    assert f"#{conversation.id}" in listed and "Tiếng Anh" in listed
    assert dispatcher.post(f"/admin/conversations/{conversation.id}/handback").status_code == 303
    said = db_session.scalars(
        select(Message.text).where(Message.conversation_id == conversation.id)
    ).all()
    assert said == [HANDED_BACK_EN]


def test_the_transcript_shows_this_reports_part_of_the_chat_only(
    app_client, db_session, panel, service_headers
):
    from datetime import UTC, datetime, timedelta

    from bot.models import Conversation, Direction, Message, MessageState

    contact = {"channel": "web", "channel_user_id": "two-reports"}
    city = file_and_route(
        app_client, db_session, service_headers, {**CITY_REPORT, "contact": contact}
    )
    ward = file_and_route(
        app_client, db_session, service_headers, {**WARD_REPORT, "contact": contact}
    )
    start = datetime.now(UTC) - timedelta(hours=2)
    tickets = {
        t.code: t for t in db_session.scalars(select(Ticket).where(Ticket.code.in_([city, ward])))
    }
    tickets[city].created_at = start + timedelta(minutes=5)
    tickets[ward].created_at = start + timedelta(minutes=50)
    conversation = Conversation(channel="web", channel_user_id="two-reports")
    db_session.add(conversation)
    db_session.flush()
    for minutes, text in (
        (1, "Đèn đường hỏng trước nhà"),
        (40, "Thêm nữa: rác ở hẻm 45 chưa thu gom"),
    ):
        db_session.add(
            Message(
                conversation_id=conversation.id,
                direction=Direction.INBOUND,
                text=text,
                state=MessageState.ANSWERED,
                created_at=start + timedelta(minutes=minutes),
            )
        )
    db_session.commit()

    department = panel("agency_staff", "SXD").get(f"/admin/tickets/{city}").text
    ward_office = panel("agency_staff", "UBND_25747").get(f"/admin/tickets/{ward}").text

    assert "Đèn đường hỏng trước nhà" in department
    assert "rác ở hẻm 45" not in department  # another agency's report
    assert "rác ở hẻm 45" in ward_office and "Đèn đường hỏng trước nhà" not in ward_office


def test_staff_see_whether_a_reply_reached_the_citizen_and_why_not(
    app_client, db_session, panel, service_headers
):
    from bot.models import Conversation, Direction, Message, MessageState

    contact = {"channel": "telegram", "channel_user_id": "5550777"}
    code = file_and_route(
        app_client, db_session, service_headers, {**CITY_REPORT, "contact": contact}
    )
    conversation = Conversation(channel="telegram", channel_user_id="5550777")
    db_session.add(conversation)
    db_session.flush()
    for text, state, reason in (
        ("Cảm ơn bạn, đã ghi nhận.", MessageState.SEEN, None),
        ("Phản ánh đang được xử lý.", MessageState.FAILED, "Telegram refused: bot was blocked"),
    ):
        db_session.add(
            Message(
                conversation_id=conversation.id,
                direction=Direction.OUTBOUND,
                text=text,
                state=state,
                failure_reason=reason,
                ticket_code=code,
            )
        )
    db_session.commit()

    page = panel("agency_staff", "SXD").get(f"/admin/tickets/{code}").text

    assert "người dân đã xem" in page
    assert "không gửi được: Telegram refused: bot was blocked" in page


def test_the_dashboard_links_to_the_monthly_report(panel):
    viewer = panel("viewer")

    page = viewer.get("/admin/dashboard")
    assert 'action="/admin/report/monthly"' in page.text
    report = viewer.get("/admin/report/monthly?month=2026-11&format=xlsx")
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert 'filename="bao-cao-phan-anh-2026-11.xlsx"' in report.headers["content-disposition"]
    assert viewer.get("/admin/report/monthly?month=2026-11&format=doc").status_code == 422
    assert panel("agency_staff", "SXD").get("/admin/report/monthly").status_code == 403


def test_admins_create_show_once_list_and_revoke_api_keys(panel, db_session, app_client):
    from feedback.apikeys import hash_key
    from feedback.models import ApiKey

    admin = panel("admin")
    admin.get("/admin/settings/apikeys")

    created = admin.post("/admin/settings/apikeys", {"name": "IOC tỉnh", "scope": "ioc"})

    assert created.status_code == 200 and "no-store" in created.headers["cache-control"]
    secret = re.search(r'id="new-secret" readonly value="(tdk_ioc_[^"]+)"', created.text).group(1)
    key = db_session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(secret)))
    assert key is not None and key.name == "IOC tỉnh"
    listed = admin.get("/admin/settings/apikeys")
    assert key.prefix in listed.text and secret not in listed.text  # shown once only
    headers = {"Authorization": f"Bearer {secret}"}
    assert app_client.get("/api/v1/ioc/hotspots", headers=headers).status_code == 200

    revoked = admin.post(f"/admin/settings/apikeys/{key.id}/revoke")

    assert revoked.status_code == 303
    assert app_client.get("/api/v1/ioc/hotspots", headers=headers).status_code == 401
    actions = set(
        db_session.scalars(select(AuditEntry.action).where(AuditEntry.target == f"apikey:{key.id}"))
    )
    assert actions == {"apikey.create", "apikey.revoke"}
    assert admin.post("/admin/settings/apikeys", {"name": "x", "scope": "all"}).status_code == 422
    viewer = panel("viewer")
    assert viewer.get("/admin/settings/apikeys").status_code == 403


def test_an_faq_entry_keeps_its_english_answer_from_the_panel(app_client, db_session, panel):
    admin = panel("admin")

    saved = admin.post(
        "/admin/settings/faq",
        {
            "entry_id": "gio_tiep_dan",
            "question": "Trụ sở tiếp công dân làm việc giờ nào?",
            "answer": "Từ 7 giờ 30 đến 17 giờ, thứ Hai đến thứ Sáu.",
            "answer_en": "From 7:30 to 17:00, Monday to Friday.",
            "alternatives": "mấy giờ tiếp dân\nopening hours of the reception office",
            "active": "true",
        },
    )

    assert saved.status_code == 303
    entry = db_session.get(FaqEntry, "gio_tiep_dan")
    assert entry is not None and entry.answer_en == "From 7:30 to 17:00, Monday to Friday."
    assert "From 7:30 to 17:00" in admin.get("/admin/settings/faq").text


def test_an_faq_code_with_diacritics_is_refused_with_the_reason(app_client, db_session, panel):
    admin = panel("admin")

    refused = admin.post(
        "/admin/settings/faq",
        {
            "entry_id": "giờ_tiếp_dân",
            "question": "Trụ sở tiếp công dân làm việc giờ nào?",
            "answer": "Từ 7 giờ 30 đến 17 giờ, thứ Hai đến thứ Sáu.",
            "active": "true",
        },
    )

    assert refused.status_code == 422
    assert "chữ không dấu" in refused.text
    assert db_session.get(FaqEntry, "giờ_tiếp_dân") is None


def test_a_reply_template_fills_the_form_in_the_citizens_language(
    app_client, db_session, panel, service_headers
):
    english = "The street light near VSIP 1 gate is broken since last week"
    code = file_and_route(
        app_client, db_session, service_headers, {**CITY_REPORT, "description": english}
    )
    vietnamese = file_and_route(app_client, db_session, service_headers, CITY_REPORT)
    staff = panel("agency_staff", "SXD")

    page = staff.get(f"/admin/tickets/{code}")
    assert "Mẫu (gửi bằng tiếng Anh)" in page.text and "?mau=da_tiep_nhan" in page.text

    filled = staff.get(f"/admin/tickets/{code}?mau=da_tiep_nhan").text
    assert f"has received your report {code} and is handling it." in filled
    assert f"Nghĩa tiếng Việt của mẫu: Sở Xây dựng đã tiếp nhận phản ánh {code}" in filled

    in_vietnamese = staff.get(f"/admin/tickets/{vietnamese}?mau=da_tiep_nhan").text
    assert f"đã tiếp nhận phản ánh {vietnamese} và đang xử lý." in in_vietnamese
    assert "has received your report" not in in_vietnamese
    assert "Nghĩa tiếng Việt của mẫu" not in in_vietnamese

    unknown = staff.get(f"/admin/tickets/{code}?mau=khong_co")
    assert unknown.status_code == 200 and "has received your report" not in unknown.text


def test_an_admin_edits_a_reply_template_and_staff_are_offered_the_new_text(
    app_client, db_session, panel, service_headers
):
    code = file_and_route(app_client, db_session, service_headers, CITY_REPORT)
    admin = panel("admin")  # one browser: each panel() signs the next user in on it
    assert "Chạy <code>tiepdan seed</code>" in admin.get("/admin/settings/templates").text
    broken = admin.post(
        "/admin/settings/templates",
        {"template_id": "x", "action": "reply", "title": "X", "vi": "{ten}", "en": "y"},
    )
    assert broken.status_code == 422 and "không dùng được: {ten}" in broken.text

    saved = admin.post(
        "/admin/settings/templates",
        {
            "template_id": "hen_lich",
            "action": "reply",
            "title": "Hẹn lịch làm việc",
            "vi": "Mời bạn đến {agency} sáng thứ Hai để làm việc về phản ánh {code}.",
            "en": "Please come to {agency} on Monday morning about report {code}.",
            "active": "true",
        },
    )
    assert saved.status_code == 303
    assert "Hẹn lịch làm việc" in admin.get("/admin/settings/templates").text

    staff = panel("agency_staff", "SXD")
    page = staff.get(f"/admin/tickets/{code}").text
    # Once admins keep templates, only theirs are offered.
    assert "?mau=hen_lich" in page and "?mau=da_tiep_nhan" not in page
    filled = staff.get(f"/admin/tickets/{code}?mau=hen_lich").text
    assert f"Mời bạn đến Sở Xây dựng sáng thứ Hai để làm việc về phản ánh {code}." in filled
    assert staff.get("/admin/settings/templates").status_code == 403
    refused = staff.post(
        "/admin/settings/templates",
        {"template_id": "y", "action": "reply", "title": "Y", "vi": "a", "en": "b"},
    )
    assert refused.status_code == 403

    admin = panel("admin")
    assert admin.post("/admin/settings/templates/hen_lich/delete", {}).status_code == 303
    staff = panel("agency_staff", "SXD")
    assert "?mau=hen_lich" not in staff.get(f"/admin/tickets/{code}").text
