"""A person on Telegram or Zalo does everything a web-chat user does, through the real platform,
worker and Rasa, against the fake Bot API and the fake Zalo of the shared stack
(tests/e2e/conftest.py)."""

from __future__ import annotations

import itertools
import json
import re
import secrets
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.models import Conversation, Direction, Message, MessageState
from core.database import session_scope
from core.settings import get_settings
from feedback.auth import create_user
from feedback.models import StaffRole, SurveyResponse, Ticket
from integrations.telegram.adapter import SECRET_HEADER
from tests.e2e.stack import STAFF_PREFIX, TELEGRAM_SECRET, Stack

pytestmark = pytest.mark.e2e

CODE = re.compile(r"\bPA[0-9A-Z]{8}\b")
STAFF = (f"{STAFF_PREFIX}channels-dispatcher", "channels-e2e-pass-123")
BOT = {"Authorization": f"Bearer {get_settings().service_token}"}
_update_ids = itertools.count(int(time.time()) * 10)


class TelegramUser:
    """A person writing to the bot: each update goes to the platform's webhook as Telegram
    would send it; what the bot says is read from the fake Bot API."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.chat_id = 6_000_000_000 + secrets.randbelow(10**9)
        self.heard = 0  # messages of the bot already read by the test

    def _post(self, update: dict[str, Any]) -> None:
        response = httpx.post(
            f"{self.stack.platform}/webhooks/telegram",
            content=json.dumps(update),
            headers={SECRET_HEADER: TELEGRAM_SECRET},
            timeout=10,
        )
        assert response.status_code == 200, response.text

    def _message(self, **fields: Any) -> dict[str, Any]:
        person = {"id": self.chat_id, "is_bot": False, "first_name": "Minh", "language_code": "vi"}
        return {
            "update_id": next(_update_ids),
            "message": {
                "message_id": next(_update_ids) % 10**6,
                "from": person,
                "chat": {"id": self.chat_id, "first_name": "Minh", "type": "private"},
                "date": int(time.time()),
                **fields,
            },
        }

    def say(self, text: str) -> str:
        self._post(self._message(text=text))
        return self.hear()

    def tap(self, title: str) -> str:
        """Tap the button of this title on the latest keyboard the bot sent."""
        call = next(
            c
            for c in reversed(self.stack.telegram.calls_of("sendMessage"))
            if c.ok
            and str(c.params["chat_id"]) == str(self.chat_id)
            and c.params.get("reply_markup")
        )
        rows = call.params["reply_markup"]["inline_keyboard"]
        key = next(row[0]["callback_data"] for row in rows if row[0]["text"] == title)
        update = {
            "update_id": next(_update_ids),
            "callback_query": {
                "id": str(next(_update_ids)),
                "from": {"id": self.chat_id, "is_bot": False, "first_name": "Minh"},
                "message": {
                    "message_id": call.result["message_id"],
                    "chat": {"id": self.chat_id, "type": "private"},
                    "date": int(time.time()),
                    "text": call.params["text"],
                },
                "chat_instance": "e2e",
                "data": key,
            },
        }
        self._post(update)
        return self.hear()

    def hear(self, *, timeout: float = 60) -> str:
        """What the bot said since last time, once the platform has answered and delivered."""
        deadline = time.monotonic() + timeout
        while not settled(self.chat_id):
            assert time.monotonic() < deadline, f"chat {self.chat_id} did not settle"
            time.sleep(0.2)
        texts = self.stack.telegram.sent_texts(self.chat_id)
        new, self.heard = texts[self.heard :], len(texts)
        return "\n".join(new)


def settled(chat_id: int | str, channel: str = "telegram") -> bool:
    """Every message of the chat answered, and every reply out of the queue."""
    with session_scope() as session:
        pending = session.scalar(
            select(Message.id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(
                Conversation.channel == channel,
                Conversation.channel_user_id == str(chat_id),
                Message.state.in_([MessageState.RECEIVED, MessageState.QUEUED]),
            )
            .limit(1)
        )
        started = session.scalar(
            select(Conversation.id).where(
                Conversation.channel == channel, Conversation.channel_user_id == str(chat_id)
            )
        )
    return started is not None and pending is None


class ZaloUser:
    """A person writing to the OA: each event is signed and posted as Zalo would; what the bot
    says is read from the fake Zalo, and a tap on a button sends its payload, as Zalo's
    oa.query.hide buttons do."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.user_id = str(8_000_000_000_000_000 + secrets.randbelow(10**15))
        self.message_ids: set[str] = set()
        self.heard = 0

    def _post(self, event: dict[str, Any]) -> None:
        response = self.stack.zalo.post_event(f"{self.stack.platform}/webhooks/zalo", event)
        assert response.status_code == 200, response.text

    def follow(self) -> str:
        event = {
            "app_id": self.stack.zalo.app_id,
            "oa_id": self.stack.zalo.oa_id,
            "event_name": "follow",
            "timestamp": str(int(time.time() * 1000)),
            "source": "oa_profile",
            "follower": {"id": self.user_id},
        }
        self._post(event)
        return self.hear()

    def say(self, text: str) -> str:
        event = self.stack.zalo.text_event(self.user_id, text)
        self.message_ids.add(event["message"]["msg_id"])
        self._post(event)
        return self.hear()

    def mine(self) -> list[dict[str, Any]]:
        """What the OA sent this person, oldest first."""
        return [
            m
            for m in self.stack.zalo.sent
            if m["recipient"].get("user_id") == self.user_id
            or m["recipient"].get("message_id") in self.message_ids
        ]

    def tap(self, title: str) -> str:
        """The button of this title on the latest message that had buttons."""
        for message in reversed(self.mine()):
            buttons = ((message["message"].get("attachment") or {}).get("payload") or {}).get(
                "buttons"
            ) or []
            payload = next((b["payload"] for b in buttons if b["title"] == title), None)
            if payload is not None:
                return self.say(payload)
        raise AssertionError(f"no button {title!r} was sent to {self.user_id}")

    def hear(self, *, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while not settled(self.user_id, "zalo"):
            assert time.monotonic() < deadline, f"Zalo user {self.user_id} did not settle"
            time.sleep(0.2)
        texts = [m["message"].get("text") or "" for m in self.mine()]
        new, self.heard = texts[self.heard :], len(texts)
        return "\n".join(new)


def _ticket(code: str) -> Ticket:
    with session_scope() as session:
        ticket = session.scalar(select(Ticket).where(Ticket.code == code))
        assert ticket is not None
        session.expunge(ticket)
        return ticket


def _eventually(check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)
    return value


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


def _act(stack: Stack, staff: dict[str, str], code: str, action: str, body: dict) -> None:
    if action == "resolve":  # a resolution needs evidence, uploaded first
        from tests.images import tiny_png

        uploaded = httpx.post(
            f"{stack.platform}/api/v1/tickets/{code}/attachments",
            files={"file": ("sau-khi-xu-ly.png", tiny_png(), "image/png")},
            headers=staff,
            timeout=10,
        )
        assert uploaded.status_code == 201, uploaded.text
        body = {**body, "attachments": [uploaded.json()["url"]]}
    done = httpx.post(
        f"{stack.platform}/api/v1/tickets/{code}/{action}", json=body, headers=staff, timeout=10
    )
    assert done.status_code == 200, done.text


def test_a_report_on_telegram_from_greeting_to_rating(stack: Stack, staff: dict[str, str]):
    person = TelegramUser(stack)

    assert "Tiếp Dân" in person.say("/start")
    asked = person.say("Đèn đường trước số 12 Yersin, phường Thủ Dầu Một tắt cả tuần nay")
    assert "ảnh" in asked
    # Three more turns at most: photo, phone, confirm (a tap on the summary's button).
    assert "điện thoại" in person.say("bỏ qua")
    assert "Thủ Dầu Một" in person.say("không")
    filed = person.tap("Đồng ý, gửi đi")
    code = CODE.search(filed)
    assert code, filed
    code_text = code.group(0)
    # The tap was answered and its keyboard taken away.
    assert stack.telegram.calls_of("answerCallbackQuery")
    assert stack.telegram.calls_of("editMessageReplyMarkup")

    ticket = _eventually(lambda: (t := _ticket(code_text)).status.value == "assigned" and t)
    assert ticket.channel == "telegram" and ticket.ward_code == "25747"
    assert code_text in person.say("phản ánh của tôi")

    _act(stack, staff, code_text, "start", {})
    assert "đang được cơ quan chức năng xử lý" in _eventually(lambda: person.hear())
    _act(stack, staff, code_text, "resolve", {"message": "Đã thay bóng đèn mới."})
    notice = _eventually(lambda: person.hear())
    assert "xử lý xong" in notice and "Đã thay bóng đèn mới." in notice

    thanks = person.tap("⭐⭐⭐⭐⭐")
    assert "5/5" in thanks
    with session_scope() as session:
        survey = session.scalars(
            select(SurveyResponse).where(SurveyResponse.ticket_id == ticket.id)
        ).one()
    assert survey.score == 5
    person.say("bỏ qua")  # no comment

    # A second report of the same person, filed at the desk and resolved: "not fixed" reopens.
    second = httpx.post(
        f"{stack.platform}/api/v1/tickets",
        json={
            "description": "Ống nước vỡ trước số 3 Yersin, phường Thủ Dầu Một",
            "category": "dien_nuoc",
            "ward_code": "25747",
            "channel": "telegram",
            "contact": {"channel": "telegram", "channel_user_id": str(person.chat_id)},
        },
        headers=BOT,  # the bot files for the chat; a desk's ticket would not join its contact
        timeout=10,
    ).json()["code"]
    _eventually(lambda: _ticket(second).status.value == "assigned")
    _act(stack, staff, second, "start", {})
    _act(stack, staff, second, "resolve", {"message": "Đã thay đoạn ống vỡ."})
    _eventually(lambda: "Đã thay đoạn ống vỡ." in person.hear())
    assert "mở lại" in person.tap("Chưa được xử lý")
    assert _ticket(second).status.value == "reopened"


def test_the_same_update_twice_is_answered_once(stack: Stack):
    person = TelegramUser(stack)
    update = person._message(text="xin chào")
    person._post(update)
    person._post(update)
    greeting = person.hear()
    assert greeting.count("Tiếp Dân") == 1


def test_photos_and_places_reach_the_report(stack: Stack):
    from tests.images import same_picture, tiny_png

    person = TelegramUser(stack)
    stack.telegram.add_file("e2e-photo", tiny_png(), "photos/e2e.png")
    asked = person.say("Cây xanh gãy đổ chắn ngang đường, nguy hiểm cho người đi đường")
    assert "ở đâu" in asked  # no place in the first message: the person shares one
    person._post(person._message(location={"latitude": 10.7805, "longitude": 106.704}))
    assert "ảnh" in person.hear()
    person._post(
        person._message(
            photo=[{"file_id": "e2e-photo", "file_unique_id": "e2e", "width": 1, "height": 1}]
        )
    )
    assert "điện thoại" in person.hear()
    person.say("không")
    code = CODE.search(person.tap("Đồng ý, gửi đi"))
    assert code
    ticket = _eventually(lambda: (t := _ticket(code.group(0))).status.value != "new" and t)
    [photo] = ticket.attachments
    assert same_picture(httpx.get(stack.platform + photo["url"]).content, tiny_png())
    assert (ticket.latitude, ticket.longitude) == (10.7805, 106.704)
    assert ticket.ward_code == "26740"  # the ward whose centre is nearest


def test_a_sticker_gets_a_polite_word_and_no_ticket(stack: Stack):
    person = TelegramUser(stack)
    sticker = {"file_id": "s1", "file_unique_id": "s1", "type": "regular", "width": 1,
               "height": 1, "is_animated": False, "is_video": False}  # fmt: skip
    person._post(person._message(sticker=sticker))
    assert "chưa đọc được" in person.hear()


def test_with_rasa_down_a_report_on_either_channel_still_becomes_a_ticket(stack: Stack):
    people = {"telegram": TelegramUser(stack), "zalo": ZaloUser(stack)}
    stack.stop_rasa()
    try:
        said = {}
        for channel, person in people.items():
            report = (
                f"Cống thoát nước trước nhà số 7 đường Lê Lợi bị vỡ, nước thải tràn ({channel})"
            )
            said[channel] = (report, person.say(report))
    finally:
        stack.start_rasa()
    for channel, (report, reply) in said.items():
        assert "tạm gián đoạn" in reply, channel
        code = CODE.search(reply)
        assert code, reply
        ticket = _ticket(code.group(0))
        assert (ticket.description, ticket.channel) == (report, channel)


def test_a_worker_killed_while_sending_sends_once_later(stack: Stack):
    person = TelegramUser(stack)
    stack.telegram.delay_next("sendMessage", 15)
    person._post(person._message(text="xin chào"))
    _eventually(lambda: stack.telegram.in_flight == 1, timeout=60)  # the send is on its way

    stack.kill_worker()
    stack.start_worker()

    greeting = person.hear(timeout=120)  # the lease of the dead worker runs out first
    assert greeting.count("Tiếp Dân") == 1, greeting
    with session_scope() as session:
        replies = session.scalars(
            select(Message)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(
                Conversation.channel_user_id == str(person.chat_id),
                Message.direction == Direction.OUTBOUND,
            )
        ).all()
    assert [m.state for m in replies] == [MessageState.SENT] * len(replies)
    assert replies[0].attempts == 2


def test_a_report_on_zalo_from_following_to_rating(stack: Stack, staff: dict[str, str]):
    person = ZaloUser(stack)

    assert "Tiếp Dân" in person.follow()
    assert "ảnh" in person.say("Đèn đường trước số 12 Yersin, phường Thủ Dầu Một tắt cả tuần nay")
    assert "điện thoại" in person.say("bỏ qua")
    assert "Thủ Dầu Một" in person.say("không")
    filed = person.tap("Đồng ý, gửi đi")
    code = CODE.search(filed)
    assert code, filed
    ticket = _eventually(lambda: (t := _ticket(code.group(0))).status.value == "assigned" and t)
    assert ticket.channel == "zalo" and ticket.ward_code == "25747"
    # The replies answer the person's own messages (Zalo counts them as replies, not pushes).
    assert all(m["recipient"].get("message_id") for m in person.mine()[1:])
    assert code.group(0) in person.say("phản ánh của tôi")

    _act(stack, staff, code.group(0), "start", {})
    assert "đang được cơ quan chức năng xử lý" in _eventually(lambda: person.hear())
    _act(stack, staff, code.group(0), "resolve", {"message": "Đã thay bóng đèn mới."})
    notice = _eventually(lambda: person.hear())
    assert "xử lý xong" in notice and "Đã thay bóng đèn mới." in notice
    assert "5/5" in person.tap("⭐⭐⭐⭐⭐")
    with session_scope() as session:
        survey = session.scalars(
            select(SurveyResponse).where(SurveyResponse.ticket_id == ticket.id)
        ).one()
    assert survey.score == 5
    person.say("bỏ qua")

    second = httpx.post(
        f"{stack.platform}/api/v1/tickets",
        json={
            "description": "Ống nước vỡ trước số 3 Yersin, phường Thủ Dầu Một",
            "category": "dien_nuoc",
            "ward_code": "25747",
            "channel": "zalo",
            "contact": {"channel": "zalo", "channel_user_id": person.user_id},
        },
        headers=BOT,  # the bot files for the chat; a desk's ticket would not join its contact
        timeout=10,
    ).json()["code"]
    _eventually(lambda: _ticket(second).status.value == "assigned")
    _act(stack, staff, second, "start", {})
    _act(stack, staff, second, "resolve", {"message": "Đã thay đoạn ống vỡ."})
    _eventually(lambda: "Đã thay đoạn ống vỡ." in person.hear())
    assert "mở lại" in person.tap("Chưa được xử lý")
    assert _ticket(second).status.value == "reopened"


def test_a_zalo_event_delivered_twice_is_answered_once(stack: Stack):
    person = ZaloUser(stack)
    event = stack.zalo.text_event(person.user_id, "xin chào")
    person.message_ids.add(event["message"]["msg_id"])
    person._post(event)
    person._post(event)
    assert person.hear().count("Tiếp Dân") == 1
