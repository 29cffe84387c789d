"""The web chat's limits and quotas (TIEPDAN_LIMIT_*), and the fallback while Rasa is down:
a flood gets a 429 with a Retry-After and a sentence the chat shows, and a burst of messages
becomes one ticket. The tests' limits are off (tests/conftest.py): each test turns one on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot import gateway
from bot.models import Direction, MessageState
from core.database import session_scope
from core.settings import get_settings
from feedback.models import Ticket, TicketEvent
from feedback.quotas import TOO_MANY_TICKETS
from tests.bot.webchat_client import open_chat, stored_messages, upload_photo
from tests.images import tiny_png

REPORT = "Đèn đường trước số 45 Nguyễn Trãi, phường Bến Thành tắt mấy hôm nay, tối rất nguy hiểm"


def limit(monkeypatch, name: str, value: str) -> None:
    monkeypatch.setattr(get_settings(), f"limit_{name}", value)


def say(client, session_id: str, text: str):
    return client.post("/api/v1/webchat/messages", json={"session_id": session_id, "text": text})


def assert_refused(response) -> None:
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert "vui lòng" in response.json()["detail"]  # a sentence for the person, in Vietnamese


def test_sessions_opened_from_one_address_are_limited(client, rasa_down, monkeypatch):
    limit(monkeypatch, "sessions_per_ip", "2/minute")
    open_chat(client), open_chat(client)
    refused = client.post("/api/v1/webchat/sessions")
    assert_refused(refused)
    assert "thử lại sau" in refused.json()["detail"]


def test_messages_of_one_session_are_limited_and_the_refused_one_is_not_stored(
    client, rasa_down, monkeypatch
):
    limit(monkeypatch, "messages_per_session", "3/minute")
    flooding, other = open_chat(client), open_chat(client)
    for n in range(3):
        assert say(client, flooding, f"tin {n}").status_code == 200
    refused = say(client, flooding, "tin 4")
    assert_refused(refused)
    assert refused.json()["detail"].startswith("Bạn gửi tin nhắn hơi nhanh")
    # The sender was told at once; the widget still has what they typed.
    assert [m.text for m in stored_messages(flooding) if m.direction == Direction.INBOUND] == [
        "tin 0",
        "tin 1",
        "tin 2",
    ]
    assert say(client, other, "xin chào").status_code == 200  # another chat is not held back


def test_messages_from_one_address_are_limited_across_its_sessions(client, rasa_down, monkeypatch):
    limit(monkeypatch, "messages_per_ip", "4/minute")
    chats = [open_chat(client) for _ in range(3)]
    answered = [say(client, chats[n % 3], "xin chào").status_code for n in range(4)]
    assert answered == [200] * 4
    assert_refused(say(client, chats[2], "xin chào"))


def test_photo_bytes_of_one_session_per_day_are_a_quota(client, rasa_down, photo_dir, monkeypatch):
    first, other = open_chat(client), open_chat(client)
    stored = upload_photo(client, first, tiny_png())
    assert stored.status_code == 201
    size = (photo_dir / stored.json()["url"].rsplit("/", 1)[1]).stat().st_size
    limit(monkeypatch, "photo_bytes_per_session", f"{2 * size}/day")

    assert upload_photo(client, first, tiny_png()).status_code == 201
    assert upload_photo(client, first, tiny_png()).status_code == 201
    refused = upload_photo(client, first, tiny_png())
    assert refused.status_code == 429
    assert "ảnh" in refused.json()["detail"] and int(refused.headers["Retry-After"]) > 60
    # The refusal is kept in the conversation, like any refused upload.
    assert stored_messages(first)[-1].content["upload"]["refused"] == refused.json()["detail"]
    assert upload_photo(client, other, tiny_png()).status_code == 201


def test_photo_bytes_from_one_address_per_day_are_a_quota(
    client, rasa_down, photo_dir, monkeypatch
):
    probe = upload_photo(client, open_chat(client), tiny_png())
    size = (photo_dir / probe.json()["url"].rsplit("/", 1)[1]).stat().st_size
    limit(monkeypatch, "photo_bytes_per_ip", f"{size}/day")
    assert upload_photo(client, open_chat(client), tiny_png()).status_code == 201
    assert upload_photo(client, open_chat(client), tiny_png()).status_code == 429


# --- The fallback, while Rasa is down -----------------------------------------------------------


@pytest.fixture
def reading(nlu_model, monkeypatch):
    monkeypatch.setattr("nlu.pipeline._nlu", nlu_model)


def test_a_burst_while_rasa_is_down_becomes_one_ticket(client, rasa_down, reading):
    chat = open_chat(client)
    texts = [REPORT, "Cột đèn số 12, gần cửa hàng tạp hóa", REPORT, "ok"]
    replies = [say(client, chat, text).json()["messages"][0]["text"] for text in texts]

    inbound = [m for m in stored_messages(chat) if m.direction == Direction.INBOUND]
    codes = {m.ticket_code for m in inbound}
    assert len(codes) == 1 and None not in codes
    [code] = codes
    assert replies[0] == gateway.ACK_TICKET_OPENED.format(code=code)
    assert replies[1:] == [gateway.ACK_DETAILS_ADDED.format(code=code)] * 3
    with session_scope() as session:
        ticket = session.scalar(select(Ticket).where(Ticket.code == code))
        assert ticket.description.splitlines() == texts
        added = session.scalars(
            select(TicketEvent).where(
                TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "details_added"
            )
        ).all()
        assert len(added) == 3


def test_the_fallback_keeps_to_the_chats_ticket_quota(client, rasa_down, reading, monkeypatch):
    limit(monkeypatch, "tickets_per_session", "1/hour")
    monkeypatch.setattr(gateway, "FALLBACK_BURST", timedelta(0))  # each report its own ticket
    chat = open_chat(client)
    say(client, chat, REPORT)
    second = say(client, chat, "Rác thải đổ trộm ở đầu hẻm 45 Lê Lợi phường Bến Thành, hôi lắm")

    text = second.json()["messages"][0]["text"]
    assert second.status_code == 200
    assert text.startswith(TOO_MANY_TICKETS.split("{")[0]) and "phút" in text
    last = [m for m in stored_messages(chat) if m.direction == Direction.INBOUND][-1]
    assert last.state == MessageState.FALLBACK and last.ticket_code is None  # kept, no ticket
