"""The admin panel in a real browser: headless Chromium driven by Playwright, against the real
server (`tiepdan serve`) and a real worker on Redis, with Rasa down (the gateway files web-chat
reports itself). One server and one worker serve the whole module.

The scenarios of issue 12: a web-chat report worked and resolved with a photo by the ward
officer of the routed agency, the citizen seeing the answer and the evidence; no access to
another agency's ticket by the UI or by URL; a citizen's markup shown as text with no dialog;
a resolution without evidence refused; a form without its CSRF token refused; the queue and the
ticket page used with the keyboard only; axe-core finding no serious or critical violation.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select

from core.database import session_scope
from core.settings import get_settings
from feedback.auth import create_user
from feedback.models import (
    Agency,
    AuditEntry,
    StaffRole,
    StaffSession,
    StaffUser,
    SurveyResponse,
    Ticket,
    TicketEvent,
)
from tests.e2e.processes import (
    CHROMIUM,
    free_port,
    launch_chromium,
    start,
    stop,
    wait_until_healthy,
)
from tests.images import tiny_png

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed"),
]

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
PASSWORD = "mat-khau-trinh-duyet-1"
REPORT = "Rác thải đổ trộm đầu hẻm 51 Lê Thánh Tôn, phường Bến Thành, bốc mùi cả tuần nay"
PREFIX = "browser-admin-"


@pytest.fixture(scope="module")
def stack(
    database: str, nlu_model: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The server and a worker (routing, notices), sharing a var folder for the uploads."""
    var = tmp_path_factory.mktemp("admin-e2e")
    env = {
        **os.environ,
        "TIEPDAN_VAR_DIR": str(var),
        "TIEPDAN_RASA_URL": f"http://127.0.0.1:{free_port()}",  # Rasa is down
    }
    subprocess.run(
        [sys.executable, "-m", "celery", "-A", "tiepdan.worker", "purge", "-f"],
        check=True,
        capture_output=True,
        env=env,
    )
    port = free_port()
    server_log, worker_log = var / "server.log", var / "worker.log"
    server = start(
        [sys.executable, "-m", "tiepdan", "serve", "--port", str(port)], server_log, env=env
    )
    worker = start([sys.executable, "-m", "tiepdan", "worker"], worker_log, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, server, server_log, timeout=60)
        deadline = time.monotonic() + 60
        while "ready." not in worker_log.read_text():
            assert worker.poll() is None, worker_log.read_text()
            assert time.monotonic() < deadline, "the worker did not start within 60 s"
            time.sleep(0.3)
        yield base
    finally:
        stop(worker)
        stop(server)
        _clean_up()


def _clean_up() -> None:
    """What the module made in the shared test database: its users and their tickets."""
    with session_scope() as session:
        users = select(StaffUser.id).where(StaffUser.username.startswith(PREFIX))
        tickets = select(Ticket.id).where(
            (Ticket.channel == "web") | Ticket.description.startswith("[e2e-admin]")
        )
        session.execute(delete(SurveyResponse).where(SurveyResponse.ticket_id.in_(tickets)))
        session.execute(
            delete(TicketEvent).where(
                TicketEvent.ticket_id.in_(tickets) | TicketEvent.actor_id.in_(users)
            )
        )
        session.execute(delete(Ticket).where(Ticket.id.in_(tickets)))
        session.execute(delete(StaffSession).where(StaffSession.user_id.in_(users)))
        session.execute(delete(AuditEntry).where(AuditEntry.actor_id.in_(users)))
        session.execute(delete(StaffUser).where(StaffUser.id.in_(users)))


def _user(role: StaffRole, agency: str | None = None) -> str:
    username = f"{PREFIX}{role.value}-{agency or 'all'}".lower()
    with session_scope() as session:
        if session.scalar(select(StaffUser.id).where(StaffUser.username == username)) is None:
            create_user(
                session, username=username, password=PASSWORD, role=role, agency_code=agency
            )
    return username


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser profile, that fails the test if the page opens any dialog."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")
    tab = context.new_page()
    tab.dialogs = []  # type: ignore[attr-defined]

    def on_dialog(dialog: Any) -> None:
        tab.dialogs.append(dialog.message)  # type: ignore[attr-defined]
        dialog.dismiss()

    tab.on("dialog", on_dialog)
    yield tab
    context.close()


def sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/admin/login")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(re.compile(r"/admin/(queue|dashboard)"))


def file_ticket(base: str, description: str, category: str = "ha_tang_do_thi") -> str:
    """A ticket filed as the bot files them, routed by the worker."""
    response = httpx.post(
        f"{base}/api/v1/tickets",
        json={
            "description": f"[e2e-admin] {description}",
            "ward_code": "25747",
            "category": category,
        },
        headers={"Authorization": f"Bearer {get_settings().service_token}"},
    )
    assert response.status_code == 201, response.text
    code: str = response.json()["code"]
    _wait_routed(code)
    return code


def _wait_routed(code: str, timeout: float = 60) -> Ticket:
    deadline = time.monotonic() + timeout
    while True:
        with session_scope() as session:
            ticket = session.scalar(select(Ticket).where(Ticket.code == code))
            if ticket is not None and ticket.status.value != "new":
                return ticket
        assert time.monotonic() < deadline, f"{code} was not routed"
        time.sleep(0.5)


def test_a_web_chat_report_is_resolved_by_the_ward_officer_and_the_citizen_sees_it(
    stack: str, browser: Any, page: Any
) -> None:
    from playwright.sync_api import expect

    # The citizen, on a phone.
    citizen = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    citizen.goto(stack + "/")
    citizen.get_by_role("button", name="Phản ánh, kiến nghị").click()
    box = citizen.get_by_label("Nhập tin nhắn")
    box.fill(REPORT)
    box.press("Enter")
    chat = citizen.get_by_role("log", name="Tin nhắn")
    expect(chat).to_contain_text("đã được ghi nhận với mã PA", timeout=20_000)
    found = re.search(r"mã (PA[0-9A-Z]{8})", chat.inner_text())
    assert found is not None
    code = found.group(1)
    ticket = _wait_routed(code)
    assert ticket.agency_id is not None, "the report went to triage, not to an agency"
    with session_scope() as session:
        agency = session.get_one(Agency, ticket.agency_id).code

    # The officer of the agency it was routed to.
    sign_in(page, stack, _user(StaffRole.AGENCY_STAFF, agency))
    page.get_by_role("link", name=code).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(code)
    expect(page.locator(".citizen-text").first).to_contain_text("hẻm 51 Lê Thánh Tôn")
    page.get_by_role("button", name="Nhận xử lý").click()
    expect(page.get_by_role("status")).to_contain_text("Đã nhận xử lý")
    page.get_by_label("Nội dung (người dân sẽ nhận được)").fill("Đội vệ sinh sẽ thu gom chiều nay.")
    page.get_by_role("button", name="Gửi trả lời").click()
    expect(page.get_by_role("status")).to_contain_text("Đã gửi trả lời")
    page.get_by_label("Kết quả xử lý (người dân sẽ nhận được)").fill("Đã thu gom sạch rác.")
    page.get_by_label("Minh chứng: ảnh hoặc tệp PDF (bắt buộc)").set_input_files(
        files=[{"name": "da-thu-gom.png", "mimeType": "image/png", "buffer": tiny_png()}]
    )
    page.get_by_role("button", name="Hoàn thành").click()
    expect(page.get_by_role("status")).to_contain_text("Đã hoàn thành phản ánh")
    expect(page.locator(".badge")).to_have_text("Đã hoàn thành")
    expect(page.get_by_alt_text("Minh chứng 1")).to_be_visible()

    # The citizen's chat shows the reply, then the answer with the evidence photo.
    expect(chat).to_contain_text("Đội vệ sinh sẽ thu gom chiều nay.", timeout=30_000)
    expect(chat).to_contain_text("Đã thu gom sạch rác.", timeout=30_000)
    evidence = chat.locator("img[src*='/api/v1/webchat/photos/']")
    expect(evidence).to_have_count(1, timeout=30_000)
    assert evidence.evaluate("img => img.complete && img.naturalWidth > 0")
    citizen.context.close()


def test_the_officer_cannot_open_another_agencys_ticket(stack: str, page: Any) -> None:
    from playwright.sync_api import expect

    city = file_ticket(stack, "Đèn đường hỏng trước số 12 Yersin")  # → SXD
    sign_in(page, stack, _user(StaffRole.AGENCY_STAFF, "UBND_25747"))

    page.get_by_label("Mã hoặc nội dung").fill(city)
    page.get_by_role("button", name="Lọc").click()
    expect(page.locator("table.queue")).to_contain_text("Không có phản ánh nào.")
    response = page.goto(f"{stack}/admin/tickets/{city}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("alert")).to_contain_text(f"Không tìm thấy phản ánh {city}")
    expect(page.locator("body")).not_to_contain_text("Yersin")


def test_a_citizens_markup_is_shown_as_text_and_opens_no_dialog(stack: str, page: Any) -> None:
    from playwright.sync_api import expect

    attack = "<img src=x onerror=alert(1)> <script>alert(2)</script>"
    code = file_ticket(stack, attack)
    sign_in(page, stack, _user(StaffRole.AGENCY_STAFF, "SXD"))

    expect(page.locator("table.queue")).to_contain_text("<img src=x onerror=alert(1)>")
    page.goto(f"{stack}/admin/tickets/{code}")
    expect(page.locator(".citizen-text").first).to_have_text(f"[e2e-admin] {attack}")
    assert page.locator("main img[src='x']").count() == 0
    assert page.locator("main script").count() == 0
    page.wait_for_timeout(500)
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_a_new_ticket_appears_in_the_open_queue_without_a_reload(stack: str, page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(page, stack, _user(StaffRole.AGENCY_STAFF, "SXD"))
    page.evaluate("window.notReloaded = true")
    code = file_ticket(stack, "Nắp cống bị mất trên đường Yersin")

    expect(page.get_by_role("link", name=code)).to_be_visible(timeout=20_000)  # polled every 10 s
    assert page.evaluate("window.notReloaded") is True


def test_a_resolution_without_evidence_is_refused_with_a_clear_message(
    stack: str, page: Any
) -> None:
    from playwright.sync_api import expect

    code = file_ticket(stack, "Vỉa hè bị vỡ trước chợ")
    sign_in(page, stack, _user(StaffRole.AGENCY_STAFF, "SXD"))
    page.goto(f"{stack}/admin/tickets/{code}")
    page.get_by_role("button", name="Nhận xử lý").click()
    page.get_by_label("Kết quả xử lý (người dân sẽ nhận được)").fill("Đã lát lại vỉa hè.")
    page.get_by_role("button", name="Hoàn thành").click()

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Cần đính kèm ít nhất một tệp minh chứng")
    expect(alert).to_be_focused()
    expect(page.get_by_label("Kết quả xử lý (người dân sẽ nhận được)")).to_have_value(
        "Đã lát lại vỉa hè."
    )
    expect(page.locator(".badge")).to_have_text("Đang xử lý")


def test_a_form_posted_without_its_csrf_token_is_refused(stack: str, page: Any) -> None:
    from playwright.sync_api import expect

    code = file_ticket(stack, "Cống thoát nước bị tắc")
    sign_in(page, stack, _user(StaffRole.AGENCY_STAFF, "SXD"))
    page.goto(f"{stack}/admin/tickets/{code}")
    form = page.locator("form[action$='/actions/note']")
    form.locator("input[name=csrf_token]").evaluate("input => input.remove()")
    form.get_by_label("Ghi chú (người dân không thấy)").fill("Không có mã bảo vệ")
    form.get_by_role("button", name="Lưu ghi chú").click()

    expect(page.get_by_role("alert")).to_contain_text("thiếu mã bảo vệ (CSRF)")
    with session_scope() as session:
        notes = session.scalars(
            select(TicketEvent.id)
            .join(Ticket)
            .where(Ticket.code == code, TicketEvent.kind == "note")
        ).all()
    assert notes == []


def test_a_dispatcher_answers_a_handed_off_chat_live_and_hands_it_back(
    stack: str, browser: Any, page: Any
) -> None:
    from playwright.sync_api import expect

    from bot.models import Conversation, Message

    citizen = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    citizen.goto(stack + "/")
    citizen.get_by_role("button", name="Phản ánh, kiến nghị").click()
    box = citizen.get_by_label("Nhập tin nhắn")
    box.fill("Tôi muốn hỏi cán bộ về giấy phép xây dựng nhà ở")
    box.press("Enter")
    chat = citizen.get_by_role("log", name="Tin nhắn")
    expect(chat).to_contain_text("Cảm ơn bạn", timeout=20_000)  # the message was stored
    with session_scope() as session:
        conversation = session.scalars(
            select(Conversation)
            .join(Message, Message.conversation_id == Conversation.id)
            .where(Message.text.contains("giấy phép xây dựng nhà ở"))
        ).one()
        sender = conversation.sender_id
    handed = httpx.post(
        f"{stack}/api/v1/bot/handoff",
        json={"sender": sender},
        headers={"Authorization": f"Bearer {get_settings().service_token}"},
    )
    assert handed.status_code == 200, handed.text

    sign_in(page, stack, _user(StaffRole.DISPATCHER))
    page.get_by_role("link", name="Trò chuyện trực tiếp").click()
    page.get_by_role("link", name=re.compile(f"#{handed.json()['id']} ")).click()
    expect(page.locator("#chat")).to_contain_text("giấy phép xây dựng")
    page.get_by_label("Tin nhắn gửi người dân").fill("Chào anh, hồ sơ nộp tại bộ phận một cửa.")
    page.get_by_role("button", name="Gửi", exact=True).click()  # sent by HTMX, with the CSRF header
    expect(page.locator("#chat")).to_contain_text("hồ sơ nộp tại bộ phận một cửa")
    expect(page.get_by_label("Tin nhắn gửi người dân")).to_have_value("")

    expect(chat).to_contain_text("Chào anh, hồ sơ nộp tại bộ phận một cửa.", timeout=30_000)
    page.get_by_role("button", name="Kết thúc, trả lại cho trợ lý tự động").click()
    expect(page.get_by_role("status")).to_contain_text("Đã trả cuộc trò chuyện")
    expect(chat).to_contain_text("Trợ lý tự động sẽ tiếp tục hỗ trợ bạn", timeout=30_000)
    citizen.context.close()


def _tab_to(page: Any, selector: str, limit: int = 80) -> None:
    """Press Tab until the element matching `selector` has the focus."""
    target = page.locator(selector).first
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"{selector} was not reached with the Tab key")


def test_the_queue_and_the_ticket_page_work_with_the_keyboard_alone(stack: str, page: Any) -> None:
    from playwright.sync_api import expect

    code = file_ticket(stack, "Biển báo giao thông bị đổ")
    page.goto(f"{stack}/admin/login")
    # The user name has the focus (autofocus, applied by the browser after the page loads).
    expect(page.locator("#username")).to_be_focused()
    page.keyboard.type(_user(StaffRole.AGENCY_STAFF, "SXD"))
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/admin/queue"))

    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Bỏ qua, đến nội dung chính")).to_be_focused()
    _tab_to(page, f"a[href='/admin/tickets/{code}']")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(code))
    _tab_to(page, "#reply-message")
    page.keyboard.type("Đã tiếp nhận, sẽ dựng lại biển báo.")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Gửi trả lời")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Đã gửi trả lời")
    expect(page.locator("#timeline")).to_contain_text("Đã tiếp nhận, sẽ dựng lại biển báo.")


SERIOUS = ("serious", "critical")


def _axe(page: Any) -> list[str]:
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in SERIOUS
    ]


def test_axe_finds_no_serious_violation_on_the_main_pages(stack: str, browser: Any) -> None:
    code = file_ticket(stack, "Đèn tín hiệu giao thông không hoạt động")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    # An init script is injected by the browser itself: the page's CSP still allows no other.
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    found: dict[str, list[str]] = {}
    page.goto(f"{stack}/admin/login")
    found["login"] = _axe(page)
    sign_in(page, stack, _user(StaffRole.AGENCY_STAFF, "SXD"))
    found["queue"] = _axe(page)
    page.goto(f"{stack}/admin/tickets/{code}")
    found["ticket"] = _axe(page)
    page.get_by_role("button", name="Đăng xuất").click()
    sign_in(page, stack, _user(StaffRole.DISPATCHER))
    page.goto(f"{stack}/admin/dashboard")
    page.wait_for_selector("canvas")
    found["dashboard"] = _axe(page)
    page.get_by_role("button", name="Đăng xuất").click()
    _sign_in_as_admin(page, stack)
    for name in ("templates", "faq"):
        page.goto(f"{stack}/admin/settings/{name}")
        found[name] = _axe(page)
    context.close()

    assert found == {
        "login": [],
        "queue": [],
        "ticket": [],
        "dashboard": [],
        "templates": [],
        "faq": [],
    }


def _sign_in_as_admin(page: Any, base: str) -> None:
    """Admins give a TOTP code after their password: the account gets a secret, the test its
    code."""
    import pyotp

    username = _user(StaffRole.ADMIN)
    secret = pyotp.random_base32()
    with session_scope() as session:
        user = session.scalars(select(StaffUser).where(StaffUser.username == username)).one()
        user.totp_secret = secret
    page.goto(f"{base}/admin/login")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.get_by_label("Mã 6 số trên ứng dụng xác thực").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Xác nhận").click()
    page.wait_for_url(re.compile(r"/admin/(queue|dashboard)"))
