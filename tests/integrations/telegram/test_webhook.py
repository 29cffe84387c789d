"""POST /webhooks/telegram through the app, then the worker's half in process: the answer and
its delivery to the fake Bot API."""

from __future__ import annotations

import json
import random

import pytest
from sqlalchemy import select
from sqlalchemy import update as sql_update

from bot import conversations, delivery, gateway
from bot.models import Conversation, Direction, Message, MessageState
from core.database import session_scope, utcnow
from core.settings import get_settings
from integrations import registry
from integrations.telegram.adapter import SECRET_HEADER
from tests.e2e.processes import free_port
from tests.integrations.telegram.conftest import SECRET, update

URL = "/webhooks/telegram"


def post(client, data: dict, secret: str | None = SECRET):
    headers = {SECRET_HEADER: secret} if secret else {}
    return client.post(URL, content=json.dumps(data), headers=headers)


def messages_of(chat_id: str) -> list[Message]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(Message)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(Conversation.channel == "telegram", Conversation.channel_user_id == chat_id)
                .order_by(Message.id)
            )
        )


def unique_chat(data: dict, chat_id: int) -> dict:
    """The captured update, moved to a chat of its own (the test database lives for the run)."""
    for key in ("message", "callback_query"):
        if key in data:
            holder = data[key] if key == "message" else data[key]["message"]
            holder["chat"]["id"] = chat_id
    return data


def test_with_telegram_off_the_webhook_is_not_there(client):
    registry.forget()
    assert not get_settings().telegram_enabled
    assert post(client, update("text")).status_code == 404


def test_a_forged_update_is_refused_and_nothing_is_stored(client, telegram_on):
    data = unique_chat(update("text"), 7100001)
    assert post(client, data, secret=None).status_code == 401
    assert post(client, data, secret="guess").status_code == 403
    assert messages_of("7100001") == []


def test_an_update_is_stored_once_and_answered_by_the_worker(client, telegram_on, sent_tasks):
    data = unique_chat(update("text", update_id=990001), 7100002)

    first = post(client, data)
    again = post(client, data)  # Telegram resends what it was not sure we got

    assert first.status_code == again.status_code == 200
    assert first.json() == {"ok": True}
    [stored] = messages_of("7100002")
    assert stored.state == MessageState.RECEIVED and stored.channel_message_id == "990001"
    answers = [kwargs for name, kwargs in sent_tasks if name == "bot.answer_messages"]
    assert answers == [{"conversation_id": stored.conversation_id}]


def test_a_group_message_is_not_stored(client, telegram_on, sent_tasks):
    assert post(client, update("group_text")).status_code == 200
    assert [name for name, _ in sent_tasks] == []


def test_something_that_is_not_an_update_is_a_clear_error(client, telegram_on):
    response = client.post(URL, content=b"{not json", headers={SECRET_HEADER: SECRET})
    assert response.status_code == 422
    assert "telegram" in response.json()["detail"]


@pytest.fixture
def rasa_down(monkeypatch):
    monkeypatch.setattr(get_settings(), "rasa_url", f"http://127.0.0.1:{free_port()}")


def test_the_worker_answers_and_delivers_in_order_once(client, telegram_on, rasa_down, sent_tasks):
    chat = 7100003
    post(client, unique_chat(update("sticker", update_id=990010), chat))
    post(client, unique_chat(update("start", update_id=990011), chat))
    conversation_id = messages_of(str(chat))[0].conversation_id

    # The worker answers both, then delivers the replies itself.
    assert gateway.answer_waiting(conversation_id) == 2

    texts = telegram_on.sent_texts(chat)
    assert texts == [gateway.UNSUPPORTED, gateway.ACK_RASA_DOWN]  # in the order received
    rows = messages_of(str(chat))
    replies = [m for m in rows if m.direction == Direction.OUTBOUND]
    assert [m.state for m in replies] == [MessageState.SENT, MessageState.SENT]
    assert all(m.external_id for m in replies)
    assert [m.state for m in rows if m.direction == Direction.INBOUND] == [
        MessageState.REJECTED,
        MessageState.FALLBACK,
    ]
    # The task run again (a redelivered job) sends nothing twice.
    assert delivery.deliver_waiting(conversation_id).sent == 0
    assert gateway.answer_waiting(conversation_id) == 0
    assert telegram_on.sent_texts(chat) == texts
    # Both leases were given back (the delivery lease with the last reply's mark).
    with session_scope() as session:
        conversation = session.get_one(Conversation, conversation_id)
        assert conversation.answer_lease_until is None
        assert conversation.delivery_lease_until is None
        assert conversation.last_delivered_at is not None


def test_a_new_answer_waits_behind_an_earlier_reply_still_queued(
    client, telegram_on, rasa_down, sent_tasks
):
    """The worker sends what it just answered only in its turn: an earlier reply held back by
    flood control goes first, then the new one."""
    chat = 7100006
    post(client, unique_chat(update("sticker", update_id=990040), chat))
    conversation_id = messages_of(str(chat))[0].conversation_id
    telegram_on.fail_next("sendMessage", 429, "Too Many Requests: retry after 30", retry_after=30)
    gateway.answer_waiting(conversation_id)  # its reply is held back for 30 s
    post(client, unique_chat(update("start", update_id=990041), chat))
    del sent_tasks[:]

    assert gateway.answer_waiting(conversation_id) == 1

    assert telegram_on.sent_texts(chat) == []  # the new reply did not overtake the held one
    first, second = [m for m in messages_of(str(chat)) if m.direction == Direction.OUTBOUND]
    assert first.state == second.state == MessageState.QUEUED
    assert first.text == gateway.UNSUPPORTED and second.text == gateway.ACK_RASA_DOWN
    assert [k for name, k in sent_tasks if name == "bot.deliver_messages"] == [
        {"conversation_id": conversation_id}  # for when the held one is due
    ]
    with session_scope() as session:  # the 30 s have passed
        session.execute(
            sql_update(Message).where(Message.id == first.id).values(next_attempt_at=utcnow())
        )
    assert delivery.deliver_waiting(conversation_id).sent == 2
    assert telegram_on.sent_texts(chat) == [gateway.UNSUPPORTED, gateway.ACK_RASA_DOWN]


def test_while_another_worker_delivers_to_the_chat_the_answer_is_left_queued(
    client, telegram_on, rasa_down, sent_tasks
):
    """The delivery lease is another worker's: the answer is stored and queued, not sent
    beside that worker's sends, and it goes once when the lease is free."""
    chat = 7100007
    post(client, unique_chat(update("sticker", update_id=990050), chat))
    conversation_id = messages_of(str(chat))[0].conversation_id
    assert conversations.take_lease(conversation_id, "delivery")
    del sent_tasks[:]

    assert gateway.answer_waiting(conversation_id) == 1

    assert telegram_on.sent_texts(chat) == []
    [reply] = [m for m in messages_of(str(chat)) if m.direction == Direction.OUTBOUND]
    assert reply.state == MessageState.QUEUED
    assert [k for name, k in sent_tasks if name == "bot.deliver_messages"] == [
        {"conversation_id": conversation_id}
    ]
    conversations.release_lease(conversation_id, "delivery")
    assert delivery.deliver_waiting(conversation_id).sent == 1
    assert delivery.deliver_waiting(conversation_id).sent == 0
    assert telegram_on.sent_texts(chat) == [gateway.UNSUPPORTED]


def test_while_another_worker_answers_the_chat_the_task_leaves_it_to_it(
    client, telegram_on, rasa_down, sent_tasks
):
    chat = 7100009
    post(client, unique_chat(update("sticker", update_id=990060), chat))
    conversation_id = messages_of(str(chat))[0].conversation_id
    assert conversations.take_lease(conversation_id, "answer")

    assert gateway.answer_waiting(conversation_id) is None  # the task tries again later

    [inbound] = messages_of(str(chat))
    assert inbound.state == MessageState.RECEIVED and telegram_on.sent_texts(chat) == []
    conversations.release_lease(conversation_id, "answer")
    assert gateway.answer_waiting(conversation_id) == 1
    assert telegram_on.sent_texts(chat) == [gateway.UNSUPPORTED]


def test_flood_control_holds_the_chat_back_and_keeps_the_order(
    client, telegram_on, rasa_down, sent_tasks
):
    chat = 7100004
    post(client, unique_chat(update("sticker", update_id=990020), chat))
    post(client, unique_chat(update("voice", update_id=990021), chat))
    conversation_id = messages_of(str(chat))[0].conversation_id
    telegram_on.fail_next("sendMessage", 429, "Too Many Requests: retry after 30", retry_after=30)

    gateway.answer_waiting(conversation_id)

    run = delivery.deliver_waiting(conversation_id)  # the job queued for later, run too soon
    assert run.sent == 0 and run.again_in is not None and run.again_in >= 28
    later = [k for name, k in sent_tasks if name == "bot.deliver_messages"]
    assert later == [{"conversation_id": conversation_id}]
    first, second = [m for m in messages_of(str(chat)) if m.direction == Direction.OUTBOUND]
    assert first.state == second.state == MessageState.QUEUED  # the second waits its turn
    assert first.attempts == 1 and "flood control" in (first.failure_reason or "").lower()
    assert telegram_on.sent_texts(chat) == []


def test_an_attempt_counted_with_the_lease_is_taken_back_when_the_send_must_wait(
    client, telegram_on, rasa_down, sent_tasks, monkeypatch
):
    """The attempt is counted in the statement that takes the delivery lease; when the
    channel's overall rate then makes the send wait (for longer than a worker sleeps), the
    message was not tried, and its count says so."""
    chat = 7100010
    post(client, unique_chat(update("sticker", update_id=990070), chat))
    conversation_id = messages_of(str(chat))[0].conversation_id
    overall_wait = delivery._overall_wait
    monkeypatch.setattr(delivery, "_overall_wait", lambda adapter: 20.0)
    del sent_tasks[:]

    gateway.answer_waiting(conversation_id)

    [reply] = [m for m in messages_of(str(chat)) if m.direction == Direction.OUTBOUND]
    assert reply.state == MessageState.QUEUED and reply.attempts == 0
    assert telegram_on.sent_texts(chat) == []
    assert [k for name, k in sent_tasks if name == "bot.deliver_messages"] == [
        {"conversation_id": conversation_id}
    ]
    monkeypatch.setattr(delivery, "_overall_wait", overall_wait)
    assert delivery.deliver_waiting(conversation_id).sent == 1
    [reply] = [m for m in messages_of(str(chat)) if m.direction == Direction.OUTBOUND]
    assert reply.state == MessageState.SENT and reply.attempts == 1


def test_a_blocked_bot_marks_the_message_failed_where_staff_see_why(
    client, telegram_on, rasa_down, sent_tasks
):
    chat = 7100005
    post(client, unique_chat(update("sticker", update_id=990030), chat))
    conversation_id = messages_of(str(chat))[0].conversation_id
    telegram_on.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")

    gateway.answer_waiting(conversation_id)

    [reply] = [m for m in messages_of(str(chat)) if m.direction == Direction.OUTBOUND]
    assert reply.state == MessageState.FAILED
    assert "blocked" in (reply.failure_reason or "")


def test_a_flood_from_one_chat_is_kept_not_answered_and_told_once(
    client, telegram_on, rasa_down, monkeypatch
):
    """Past TIEPDAN_LIMIT_MESSAGES_PER_SESSION a message is stored (nothing is lost), not given
    to the assistant, and the person is told once to slow down, not once per message."""
    monkeypatch.setattr(get_settings(), "limit_messages_per_session", "2/minute")
    chat = random.randrange(10**9, 2 * 10**9)
    for n in range(6):
        post(client, unique_chat(update("start", update_id=chat + n), chat))
    conversation_id = messages_of(str(chat))[0].conversation_id

    assert gateway.answer_waiting(conversation_id) == 6

    sent = telegram_on.sent_texts(chat)
    slow_down = [t for t in sent if t.startswith("Bạn gửi tin nhắn hơi nhanh")]
    assert sent[:2] == [gateway.ACK_RASA_DOWN] * 2 and len(slow_down) == 1
    assert len(sent) == 3
    inbound = [m.state for m in messages_of(str(chat)) if m.direction == Direction.INBOUND]
    assert inbound == [MessageState.FALLBACK] * 2 + [MessageState.REJECTED] * 4
