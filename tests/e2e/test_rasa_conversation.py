"""Conversations through the web chat with everything real: the platform, a Celery worker,
the Rasa server and its action server (both in Rasa's Python 3.10 environment), as the shared
`stack` of tests/e2e/conftest.py runs them.

The model is trained once per machine and cached by the hash of bot/rasa/ (about 30 s).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.models import Conversation, Message, MessageState, WebchatSession
from core.database import session_scope
from feedback.auth import create_user
from feedback.models import (
    StaffRole,
    SurveyResponse,
    Ticket,
    TicketEvent,
)
from tests.e2e.processes import CHROMIUM, launch_chromium, listening_on
from tests.e2e.stack import STAFF_PREFIX, Stack
from tests.images import tiny_png

pytestmark = pytest.mark.e2e

CODE = re.compile(r"\bPA[0-9A-Z]{8}\b")
STAFF = (f"{STAFF_PREFIX}rasa-dispatcher", "rasa-e2e-pass-123")


class Chat:
    def __init__(self, base: str) -> None:
        self.base = base
        opened = httpx.post(f"{base}/api/v1/webchat/sessions", timeout=10)
        assert opened.status_code == 201, opened.text
        self.session_id = opened.json()["session_id"]

    def say(self, text: str | None = None, payload: str | None = None) -> list[dict[str, Any]]:
        body = {"session_id": self.session_id, "text": text, "payload": payload}
        response = httpx.post(f"{self.base}/api/v1/webchat/messages", json=body, timeout=30)
        assert response.status_code == 200, response.text
        messages: list[dict[str, Any]] = response.json()["messages"]
        return messages

    def history(self) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{self.base}/api/v1/webchat/sessions/{self.session_id}/messages", timeout=10
        )
        items: list[dict[str, Any]] = response.json()["messages"]
        return items


def _text(replies: list[dict[str, Any]]) -> str:
    return "\n".join(r.get("text") or "" for r in replies)


def _eventually(check: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def _ticket(code: str) -> Ticket:
    with session_scope() as session:
        ticket = session.scalar(select(Ticket).where(Ticket.code == code))
        assert ticket is not None
        session.expunge(ticket)
        return ticket


def _file_one_message_complaint(chat: Chat) -> str:
    first = chat.say("Đèn đường trước số 12 Yersin, phường Thủ Dầu Một tắt cả tuần nay")
    assert "ảnh" in _text(first), first  # what and where are known: the photo is next
    assert "điện thoại" in _text(chat.say("bỏ qua"))
    summary = chat.say("không")
    assert "Thủ Dầu Một" in _text(summary)
    assert {b["payload"] for b in summary[-1]["buttons"]} == {"/affirm", "/deny"}
    filed = chat.say(payload="/affirm")
    match = CODE.search(_text(filed))
    assert match, filed
    return match.group(0)


@pytest.fixture(scope="module")
def staff(stack: Stack) -> dict[str, str]:
    with session_scope() as session:
        create_user(session, username=STAFF[0], password=STAFF[1], role=StaffRole.DISPATCHER)
    token = httpx.post(
        f"{stack.platform}/api/v1/auth/token",
        data={"username": STAFF[0], "password": STAFF[1]},
        timeout=10,
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_rasa_and_its_action_server_listen_on_loopback_only(stack: Stack) -> None:
    """In development nothing but this machine may reach them: the action server would run
    any action for anyone who can post to it."""
    assert listening_on(stack.rasa_port) == {"127.0.0.1"}
    assert listening_on(stack.actions_port) == {"127.0.0.1"}


def test_a_one_message_complaint_is_filed_routed_and_looked_up(stack: Stack) -> None:
    chat = Chat(stack.platform)

    code = _file_one_message_complaint(chat)

    ticket = _eventually(lambda: (t := _ticket(code)).status.value != "new" and t)
    assert ticket.ward_code == "25747"
    assert ticket.predicted_category_code == "ha_tang_do_thi"
    assert ticket.status.value == "assigned"
    by_code = _text(chat.say(f"phản ánh {code.lower()} tới đâu rồi"))
    assert code in by_code and "đã được chuyển đến" in by_code
    mine = _text(chat.say("phản ánh của tôi"))
    assert code in mine
    # Another chat does not see it.
    assert code not in _text(Chat(stack.platform).say("phản ánh của tôi"))


def test_staff_resolve_the_chat_is_told_and_the_rating_is_recorded(
    stack: Stack, staff: dict[str, str]
) -> None:
    chat = Chat(stack.platform)
    code = _file_one_message_complaint(chat)
    _eventually(lambda: _ticket(code).status.value == "assigned")
    evidence = httpx.post(
        f"{stack.platform}/api/v1/tickets/{code}/attachments",
        files={"file": ("den.png", tiny_png(), "image/png")},
        headers=staff,
    )
    assert evidence.status_code == 201, evidence.text
    resolve = {"message": "Đã thay bóng đèn mới.", "attachments": [evidence.json()["url"]]}
    for action, body in (("start", {}), ("resolve", resolve)):
        done = httpx.post(
            f"{stack.platform}/api/v1/tickets/{code}/{action}", json=body, headers=staff
        )
        assert done.status_code == 200, done.text

    notice = _eventually(
        lambda: next((m for m in chat.history() if "xử lý xong" in (m["text"] or "")), None)
    )
    assert notice["pushed"] and "Đã thay bóng đèn mới." in notice["text"]
    four_stars = next(b for b in notice["buttons"] if b["title"] == "⭐⭐⭐⭐")
    thanks = chat.say(payload=four_stars["payload"])
    assert "4/5" in _text(thanks) and "góp ý thêm" in _text(thanks)
    assert "Cảm ơn góp ý" in _text(chat.say("cán bộ xử lý nhanh, cảm ơn"))

    with session_scope() as session:
        ticket_id = session.scalar(select(Ticket.id).where(Ticket.code == code))
        survey = session.scalars(
            select(SurveyResponse).where(SurveyResponse.ticket_id == ticket_id)
        ).one()
        assert (survey.score, survey.comment) == (4, "cán bộ xử lý nhanh, cảm ơn")
        kinds = session.scalars(
            select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket_id)
        ).all()
        assert "rating" in kinds

    # "Chưa được xử lý" reopens it.
    not_fixed = next(b for b in notice["buttons"] if b["title"] == "Chưa được xử lý")
    assert "mở lại" in _text(chat.say(payload=not_fixed["payload"]))
    assert _ticket(code).status.value == "reopened"


def test_an_english_conversation_is_answered_in_english_at_each_turn(stack: Stack) -> None:
    """A manager of a foreign-invested firm writes in English: every answer, and every button's
    title, is English; the payloads are the Vietnamese chat's. The next chat is Vietnamese."""
    chat = Chat(stack.platform)

    greeting = chat.say("Hello")
    assert _text(greeting).startswith("Hello! I am the Tiếp Dân assistant"), greeting
    assert [(b["title"], b["payload"]) for b in greeting[-1]["buttons"]] == [
        ("Send a report", "/file_complaint"),
        ("Check a report", "/ask_status"),
        ("Talk to an official", "/request_human"),
    ]
    asked = _text(chat.say("The street light near VSIP 1 gate is broken"))
    if asked.startswith("Where did it happen?"):  # the NLU found no ward in the message
        asked = _text(chat.say("Near gate 3 of VSIP 1, Thu Dau Mot ward"))
    assert asked.startswith("Do you have a photo of the place?"), asked
    phone = chat.say("skip")  # shows no language: the chat stays English
    assert _text(phone).startswith("Would you like to leave a phone number"), phone
    assert phone[-1]["buttons"] == [{"title": "No", "payload": "/deny"}]
    summary = chat.say("no")
    assert _text(summary).startswith("Please check your report:"), summary
    assert "• What: The street light near VSIP 1 gate is broken" in _text(summary)
    assert summary[-1]["buttons"] == [
        {"title": "Yes, send it", "payload": "/affirm"},
        {"title": "Start again", "payload": "/deny"},
    ]
    filed = _text(chat.say("yes"))
    assert filed.startswith("Thank you. Your report has been received with the code"), filed
    match = CODE.search(filed)
    assert match, filed
    ticket = _ticket(match.group(0))
    assert ticket.language == "en"
    assert ticket.description == "The street light near VSIP 1 gate is broken"
    with session_scope() as session:
        conversation = session.scalar(
            select(Conversation)
            .join(WebchatSession, WebchatSession.conversation_id == Conversation.id)
            .where(WebchatSession.id == chat.session_id)
        )
        assert conversation is not None and conversation.language == "en"

    vietnamese = Chat(stack.platform).say("xin chào")
    assert _text(vietnamese).startswith("Xin chào! Tôi là trợ lý Tiếp Dân"), vietnamese
    assert vietnamese[-1]["buttons"][0] == {"title": "Gửi phản ánh", "payload": "/file_complaint"}


def test_a_question_is_answered_from_the_faq_and_an_official_takes_over(stack: Stack) -> None:
    chat = Chat(stack.platform)
    assert "7 giờ 30" in _text(chat.say("giờ làm việc của UBND phường"))

    assert "chuyển cuộc trò chuyện đến cán bộ" in _text(chat.say("cho tôi gặp cán bộ"))
    assert chat.say("alo, có ai không?") == []  # the bot stays quiet for the official
    with session_scope() as session:
        conversation = session.get_one(
            Conversation, session.get_one(WebchatSession, chat.session_id).conversation_id
        )
        assert conversation.handed_off
        last = session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation.id, Message.direction == "in")
            .order_by(Message.id.desc())
        ).first()
        assert last is not None and last.state == MessageState.HANDED_OFF


def test_bad_input_gets_a_polite_answer(stack: Stack) -> None:
    chat = Chat(stack.platform)

    assert "nhập nội dung" in _text(chat.say("   "))
    assert "5000 ký tự" in _text(chat.say("a" * 5001))
    forged = chat.say(payload='/rate{"ticket_code": "PA00000000", "score": 9}')
    assert "Không tìm thấy" in _text(forged) or "chưa có" in _text(forged)
    unknown = chat.say(payload="/drop_tables")  # an intent the assistant does not have
    assert "không còn hiệu lực" in _text(unknown)
    assert chat.say("xin chào")[0]["buttons"]  # the conversation goes on


def test_rasa_stopped_mid_conversation_loses_nothing(stack: Stack) -> None:
    chat = Chat(stack.platform)
    assert "mô tả" in _text(chat.say("tôi muốn phản ánh"))

    stack.stop_rasa()
    try:
        report = "Cống thoát nước trước nhà số 5 đường Lê Lợi bị vỡ, nước thải tràn ra đường"
        replies = chat.say(report)
        assert "tạm gián đoạn" in _text(replies)
        code = CODE.search(_text(replies))
        assert code, replies
        assert _ticket(code.group(0)).description == report
    finally:
        stack.start_rasa()

    assert "Tiếp Dân" in _text(chat.say("xin chào"))
    with session_scope() as session:
        conversation_id = session.get_one(WebchatSession, chat.session_id).conversation_id
        states = session.scalars(
            select(Message.state).where(
                Message.conversation_id == conversation_id, Message.direction == "in"
            )
        ).all()
    assert states == [MessageState.ANSWERED, MessageState.FALLBACK, MessageState.ANSWERED]


def test_an_intake_rasa_kept_while_it_hung_is_ended_once_the_report_is_a_ticket(
    stack: Stack,
) -> None:
    """Rasa hangs in the middle of an intake and keeps its state. The report becomes a ticket
    from the raw text, while Rasa's form still waits for it. Before Rasa's next turn the gateway
    restarts that conversation, so the person is not asked again for a report already filed,
    and it is not filed twice."""
    chat = Chat(stack.platform)
    sender = f"web:{chat.session_id}"
    assert "mô tả" in _text(chat.say("tôi muốn phản ánh"))

    report = "Cống thoát nước trước nhà số 9 đường Lê Lợi bị vỡ, nước thải tràn ra đường"
    stack.pause_rasa()
    try:
        replies = chat.say(report)  # the gateway waits out its read timeout (10 s)
    finally:
        stack.resume_rasa()
    assert "tạm gián đoạn" in _text(replies)
    code = CODE.search(_text(replies))
    assert code, replies

    # Rasa still holds the intake it had begun (whether or not it also read the late message).
    assert stack.tracker(sender)["active_loop"].get("name") == "complaint_form"

    greeting = _text(chat.say("xin chào"))
    assert "Tiếp Dân" in greeting and "mô tả" not in greeting and "ảnh" not in greeting
    assert not stack.tracker(sender)["active_loop"]
    assert set(CODE.findall(_text(chat.say("phản ánh của tôi")))) == {code.group(0)}


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")
def test_the_widget_files_a_report_with_a_photo_through_rasa_with_buttons(
    stack: Stack, staff: dict[str, str]
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
        page.goto(stack.platform + "/")
        page.get_by_role("button", name="Phản ánh, kiến nghị").click()
        box = page.get_by_label("Nhập tin nhắn")
        box.fill("Đèn đường trước số 12 Yersin, phường Thủ Dầu Một tắt cả tuần nay")
        box.press("Enter")
        log = page.get_by_role("log", name="Tin nhắn")
        expect(log).to_contain_text("ảnh chụp hiện trường", timeout=20_000)
        photo = stack.tmp / "den-duong.png"
        photo.write_bytes(tiny_png())
        page.get_by_label("Chọn ảnh để gửi").set_input_files(str(photo))
        expect(log).to_contain_text("Đã gửi ảnh", timeout=20_000)
        expect(log).to_contain_text("số điện thoại", timeout=20_000)
        page.get_by_role("button", name="Không", exact=True).click()
        expect(log).to_contain_text("Bạn kiểm tra lại", timeout=20_000)
        page.get_by_role("button", name="Đồng ý, gửi đi").click()
        expect(log).to_contain_text("được ghi nhận với mã PA", timeout=20_000)
        code = CODE.search(log.inner_text())
        assert code is not None

        expect(log).to_contain_text("Ảnh: đã đính kèm")
        ticket = _eventually(lambda: (t := _ticket(code.group(0))).status.value == "assigned" and t)
        [attached] = ticket.attachments
        assert attached["url"].startswith("/api/v1/webchat/photos/")
        # The widget re-encodes photos as JPEG (shrunk to 1600 px at most) before sending.
        assert httpx.get(stack.platform + attached["url"]).content.startswith(b"\xff\xd8\xff")
        reply = httpx.post(
            f"{stack.platform}/api/v1/tickets/{code.group(0)}/reply",
            json={"message": "Điện lực sẽ thay bóng trong hôm nay."},
            headers=staff,
        )
        assert reply.status_code == 200, reply.text
        expect(log).to_contain_text("Điện lực sẽ thay bóng trong hôm nay.", timeout=30_000)

        # After a reload, the history shows the buttons the person chose by their titles.
        page.reload()
        page.get_by_role("button", name="Phản ánh, kiến nghị").click()
        log = page.get_by_role("log", name="Tin nhắn")
        expect(log).to_contain_text("Điện lực sẽ thay bóng trong hôm nay.", timeout=20_000)
        said = page.locator(".td-in").all_inner_texts()
        assert "Không" in said and "Đồng ý, gửi đi" in said, said
        assert not any(text.startswith("/") for text in said), said
        browser.close()
