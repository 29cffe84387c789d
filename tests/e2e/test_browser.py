"""The web chat in a real browser: headless Chromium driven by Playwright.

The real server (`tiepdan serve`) and a real worker run against the test database. Rasa is
not running (its port is closed), so the gateway files the report itself and answers with the
tracking code. A staff reply over the staff API then appears in the page without a reload,
through the worker (bot.notify_contact) and the chat's WebSocket.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, select

from core.database import session_scope
from feedback.auth import create_user
from feedback.models import StaffRole, StaffUser, Ticket, TicketEvent
from tests.e2e.processes import (
    CHROMIUM,
    free_port,
    launch_chromium,
    start,
    stop,
    wait_until_healthy,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(database: str, tmp_path: Path, nlu_model: object) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "TIEPDAN_VAR_DIR": str(tmp_path),
        "TIEPDAN_RASA_URL": f"http://127.0.0.1:{free_port()}",  # Rasa is down
    }
    log_path = tmp_path / "server.log"
    process = start(
        [sys.executable, "-m", "tiepdan", "serve", "--port", str(port)], log_path, env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, process, log_path, timeout=60)
        yield base
    finally:
        stop(process)


@pytest.fixture
def dispatcher() -> Iterator[tuple[str, str]]:
    with session_scope() as session:
        create_user(
            session,
            username="browser-dispatcher",
            password="browser-pass-123",
            role=StaffRole.DISPATCHER,
        )
    yield "browser-dispatcher", "browser-pass-123"
    with session_scope() as session:
        user_id = session.scalar(
            select(StaffUser.id).where(StaffUser.username == "browser-dispatcher")
        )
        web_tickets = select(Ticket.id).where(Ticket.channel == "web")
        session.execute(
            delete(TicketEvent).where(
                TicketEvent.ticket_id.in_(web_tickets) | (TicketEvent.actor_id == user_id)
            )
        )
        session.execute(delete(Ticket).where(Ticket.channel == "web"))
        session.execute(delete(StaffUser).where(StaffUser.id == user_id))


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")
def test_a_complaint_typed_in_the_widget_gets_a_code_and_a_staff_reply_appears(
    server: str, redis_worker: Path, dispatcher: tuple[str, str]
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
        page.goto(server + "/")
        page.get_by_role("button", name="Phản ánh, kiến nghị").click()
        dialog = page.get_by_role("dialog", name="Tiếp Dân – Gửi phản ánh")
        expect(dialog).to_be_visible()
        box = page.get_by_label("Nhập tin nhắn")
        box.fill("Rác thải đổ trộm đầu hẻm 51 Lê Thánh Tôn, phường Bến Thành, bốc mùi cả tuần nay")
        box.press("Enter")
        log = page.get_by_role("log", name="Tin nhắn")
        expect(log).to_contain_text("đã được ghi nhận với mã PA", timeout=20_000)
        code = re.search(r"mã (PA[0-9A-Z]{8})", log.inner_text())
        assert code is not None
        code_text = code.group(1)

        # The worker routes the ticket; then a dispatcher replies through the staff API.
        token = httpx.post(
            f"{server}/api/v1/auth/token",
            data={"username": dispatcher[0], "password": dispatcher[1]},
        ).json()["access_token"]
        staff = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + 60
        while (
            httpx.get(f"{server}/api/v1/tickets/{code_text}", headers=staff).json()["status"]
            == "new"
        ):
            assert time.monotonic() < deadline, redis_worker.read_text()[-3000:]
            time.sleep(0.5)
        reply = httpx.post(
            f"{server}/api/v1/tickets/{code_text}/reply",
            json={"message": "Đội vệ sinh sẽ thu gom trong chiều nay."},
            headers=staff,
        )
        assert reply.status_code == 200, reply.text
        expect(log).to_contain_text(
            f"Phản hồi về phản ánh {code_text}: Đội vệ sinh sẽ thu gom trong chiều nay.",
            timeout=30_000,
        )
        browser.close()
