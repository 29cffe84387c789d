"""Injected: Rasa fails under the gateway, played by the fake Rasa (tests/fakes/rasa.py) on
loopback: killed in the middle of a Telegram conversation or answering 503 (then back on the
same port), and slow, answering 10.5 s late, past the gateway's 10 s read timeout.

The real Rasa's own versions are in tests/e2e/: stopped before a web-chat report and before a
Telegram and a Zalo report (test_rasa_conversation.py, test_channels.py), and paused with
SIGSTOP in the middle of an intake (test_rasa_conversation.py). What these add: several
messages of one person while Rasa is gone (a burst on a channel, answered by the worker), the
return of Rasa in the same conversation, and the time a person waits on the web chat.

Asserted, in the database and at the fake Bot API: every message is stored and answered once,
in order; the report and what follows it become exactly one ticket; every reply is sent once
and ends `sent`; when Rasa is back it is told to forget its old intake (`/restart`) before the
next turn, and answers it; on the web chat the polite reply comes within the gateway's timeout.
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from bot import delivery, gateway
from bot.models import Direction, Message, MessageState
from bot.rasa_rest import RASA_TIMEOUT
from core.database import session_scope
from feedback.models import ContactIdentity, Ticket
from tests.bot.conftest import forget_chats
from tests.bot.webchat_client import open_chat, stored_messages
from tests.fakes.rasa import InstantRasa
from tests.fakes.telegram import FakeBotApi
from tests.faults.chats import forget, messages_of, say_on_telegram, telegram_conversation

REPORT = "Cống thoát nước trước nhà số 7 đường Lê Lợi bị vỡ, nước thải tràn ra đường"
MORE = "Nước bốc mùi hôi, trẻ con đi học phải lội qua mỗi sáng"


def _work(conversation_id: int, *, timeout: float = 30) -> None:
    """What the worker does for the conversation: its answer job, then delivery jobs until
    nothing waits (the worker would queue them with a countdown)."""
    gateway.answer_waiting(conversation_id)
    deadline = time.monotonic() + timeout
    while _queued(conversation_id):
        assert time.monotonic() < deadline, "replies still queued"
        run = delivery.deliver_waiting(conversation_id)
        time.sleep(min(run.again_in or 0, 1.0))


def _queued(conversation_id: int) -> int:
    with session_scope() as session:
        return (
            session.scalar(
                select(func.count(Message.id)).where(
                    Message.conversation_id == conversation_id,
                    Message.state == MessageState.QUEUED,
                )
            )
            or 0
        )


def _tickets_of(channel: str, user: str) -> list[Ticket]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(Ticket)
                .join(ContactIdentity, ContactIdentity.contact_id == Ticket.contact_id)
                .where(ContactIdentity.channel == channel, ContactIdentity.channel_user_id == user)
            )
        )


@pytest.mark.parametrize("fault", ["killed", "answers 503"])
def test_a_burst_on_telegram_while_rasa_is_gone_is_one_ticket_and_rasa_resumes(
    client,
    telegram_on: FakeBotApi,
    rasa: InstantRasa,
    nlu_model: object,
    monkeypatch: pytest.MonkeyPatch,
    sent_tasks: list[Any],
    fault: str,
):
    monkeypatch.setattr("nlu.pipeline._nlu", nlu_model)
    chat_id = 7_400_000_000 + random.randrange(10**8)
    sender = f"telegram:{chat_id}"
    try:
        say_on_telegram(client, chat_id, "xin chào")
        conversation_id = telegram_conversation(chat_id)
        _work(conversation_id)

        if fault == "killed":
            rasa.stop()
        else:
            rasa.fail_with = 503
        say_on_telegram(client, chat_id, REPORT)
        say_on_telegram(client, chat_id, MORE)  # both wait, stored, for the worker
        _work(conversation_id)
        if fault == "killed":
            rasa.start()  # back, on the same port
        else:
            rasa.fail_with = None
        say_on_telegram(client, chat_id, "cảm ơn")
        _work(conversation_id)

        messages = messages_of(conversation_id)
        inbound = [m for m in messages if m.direction == Direction.INBOUND]
        outbound = [m for m in messages if m.direction == Direction.OUTBOUND]
        assert [(m.text, m.state) for m in inbound] == [
            ("xin chào", MessageState.ANSWERED),
            (REPORT, MessageState.FALLBACK),
            (MORE, MessageState.FALLBACK),
            ("cảm ơn", MessageState.ANSWERED),
        ]
        [ticket] = _tickets_of("telegram", str(chat_id))
        assert ticket.description == f"{REPORT}\n{MORE}"
        assert inbound[1].ticket_code == inbound[2].ticket_code == ticket.code
        # One reply per message, each sent once, in the order they were written.
        assert [m.state for m in outbound] == [MessageState.SENT] * 4
        assert telegram_on.sent_texts(chat_id) == [m.text for m in outbound]
        filed, added = outbound[1].text or "", outbound[2].text or ""
        assert ticket.code in filed and "tạm gián đoạn" in filed
        assert ticket.code in added and "bổ sung" in added
        assert outbound[3].text == "Đã nhận: cảm ơn"
        # Back, Rasa first forgets the intake the ticket now holds, then hears the message.
        assert [m for s, m in rasa.turns if s == sender][-2:] == ["/restart", "cảm ơn"]
    finally:
        forget("telegram", [str(chat_id)])


def test_a_slow_rasa_on_the_web_chat_gets_a_polite_reply_within_the_timeout(
    client, rasa: InstantRasa, nlu_model: object, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr("nlu.pipeline._nlu", nlu_model)
    assert RASA_TIMEOUT.read == 10.0
    rasa.delay = RASA_TIMEOUT.read + 0.5
    try:
        session_id = open_chat(client)
        started = time.monotonic()
        response = client.post(
            "/api/v1/webchat/messages", json={"session_id": session_id, "text": REPORT}
        )
        waited = time.monotonic() - started

        assert response.status_code == 200, response.text
        assert waited < RASA_TIMEOUT.read + 2, f"the person waited {waited:.1f} s"
        [reply] = response.json()["messages"]
        assert "tạm gián đoạn" in reply["text"]
        [ticket] = _tickets_of("web", session_id)
        assert ticket.code in reply["text"] and ticket.description == REPORT

        rasa.delay = 0  # Rasa is quick again: the conversation goes on with it
        after = client.post(
            "/api/v1/webchat/messages", json={"session_id": session_id, "text": "cảm ơn"}
        )
        assert after.json()["messages"][0]["text"] == "Đã nhận: cảm ơn"

        stored = stored_messages(session_id)
        assert [(m.direction, m.state) for m in stored] == [
            (Direction.INBOUND, MessageState.FALLBACK),
            (Direction.OUTBOUND, MessageState.SENT),
            (Direction.INBOUND, MessageState.ANSWERED),
            (Direction.OUTBOUND, MessageState.SENT),  # Rasa's late answer to the first: dropped
        ]
        assert len(_tickets_of("web", session_id)) == 1
        assert [m for _, m in rasa.turns] == [REPORT, "/restart", "cảm ơn"]
    finally:
        forget_chats()
