"""Injected: the channel's API fails for a while under the platform's real client code, played
by the fakes of tests/fakes/ on loopback. The Bot API answers 500 twice, then hangs past the
client's timeout twice (the request never gets through), then answers 502, then works; Zalo's
OpenAPI answers 503 twice, hangs twice, answers 502, then works. Meanwhile the person has
written three messages, answered by the fake Rasa. Also: a Bot API down for longer than the
platform retries.

The worker is played in this process: its answer job, then its delivery job each time one
would be due. The backoff between attempts (5 s, 10 s, 20 s ...) is not waited out: the
test moves each waiting message's due time to now, as the clock would.

Asserted, at the fake (what the person's phone got) and in the database: every reply arrives
exactly once, in the order of the messages it answers, and ends `sent`; while the head message
waits, the ones after it are not sent around it; a message the API never takes ends `failed`
with the reason, and the ones after it still go. What tests/integrations/ already covers (each
error's meaning, flood control's order, a blocked bot) is not repeated here.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, update

from bot import delivery, gateway
from bot.models import Conversation, Direction, Message, MessageState
from core.database import session_scope, utcnow
from integrations import registry
from integrations.channel import Channel
from integrations.telegram import adapter as telegram_adapter
from integrations.zalo.adapter import ZaloAdapter
from tests.fakes.rasa import ECHO, InstantRasa
from tests.fakes.telegram import FakeBotApi
from tests.fakes.zalo import FakeZalo
from tests.faults.chats import forget, say_on_telegram

CLIENT_TIMEOUT = 0.5  # the platform's read timeout here; the fakes hang for longer
HANG = 2.0
SAID = ["xin chào", "đèn đường trước nhà tôi hỏng", "cảm ơn"]


@pytest.fixture
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The channels' clients give up after CLIENT_TIMEOUT seconds instead of 10."""
    monkeypatch.setattr(telegram_adapter, "READ_TIMEOUT", CLIENT_TIMEOUT)
    enabled, _build = registry.CHANNELS[Channel.ZALO]
    monkeypatch.setitem(
        registry.CHANNELS,
        Channel.ZALO,
        (enabled, lambda settings: ZaloAdapter(settings, timeout=CLIENT_TIMEOUT)),
    )
    registry.forget()


def _telegram_person(client: Any, fake: FakeBotApi) -> tuple[str, Callable[[str], None]]:
    chat_id = 7_600_000_000 + random.randrange(10**8)

    def say(text: str) -> None:
        say_on_telegram(client, chat_id, text, first_name="Hoa")

    return str(chat_id), say


def _zalo_person(client: Any, fake: FakeZalo) -> tuple[str, Callable[[str], None]]:
    user_id = str(8_600_000_000_000_000 + random.randrange(10**15))

    def say(text: str) -> None:
        body, headers = fake.signed(fake.text_event(user_id, text))
        posted = client.post("/webhooks/zalo", content=body, headers=headers)
        assert posted.status_code == 200, posted.text

    return user_id, say


def _work(conversation_id: int, *, rounds: int = 20) -> int:
    """The worker: the answer job, then a delivery job whenever one is due, until nothing is
    queued. The backoff is not slept: each due time is moved to now. How many delivery runs."""
    gateway.answer_waiting(conversation_id)
    for run in range(rounds):
        if not _messages(conversation_id, MessageState.QUEUED):
            return run
        with session_scope() as session:  # the backoff has passed
            session.execute(
                update(Message)
                .where(
                    Message.conversation_id == conversation_id,
                    Message.state == MessageState.QUEUED,
                    Message.next_attempt_at.is_not(None),
                )
                .values(next_attempt_at=utcnow())
            )
        delivery.deliver_waiting(conversation_id)
    raise AssertionError(f"messages still queued after {rounds} delivery runs")


def _messages(conversation_id: int, state: MessageState | None = None) -> list[Message]:
    query = select(Message).where(Message.conversation_id == conversation_id)
    if state is not None:
        query = query.where(Message.state == state)
    with session_scope() as session:
        return list(session.scalars(query.order_by(Message.id)))


def _conversation(channel: str, user: str) -> int:
    with session_scope() as session:
        found = session.scalar(
            select(Conversation.id).where(
                Conversation.channel == channel, Conversation.channel_user_id == user
            )
        )
    assert found is not None
    return found


@pytest.mark.parametrize("channel", ["telegram", "zalo"])
def test_replies_held_by_an_api_outage_arrive_once_in_order_when_it_recovers(
    client,
    rasa: InstantRasa,
    short_timeouts: None,
    sent_tasks: list[Any],
    request: pytest.FixtureRequest,
    channel: str,
):
    if channel == "telegram":
        fake = request.getfixturevalue("telegram_on")
        user, say = _telegram_person(client, fake)
        for _ in range(2):
            fake.fail_next("sendMessage", 500, "Internal Server Error")
        for _ in range(2):
            fake.delay_next("sendMessage", HANG)
        fake.fail_next("sendMessage", 502, "Bad Gateway")

        def received() -> list[str]:
            return fake.sent_texts(user)

    else:
        fake = request.getfixturevalue("connected")
        user, say = _zalo_person(client, fake)
        fake.script("send", status=503, times=2)
        fake.script("send", hang=HANG, times=2)
        fake.script("send", status=502)

        def received() -> list[str]:
            return [m["message"]["text"] for m in fake.sent]

    try:
        for text in SAID:
            say(text)
        conversation_id = _conversation(channel, user)

        runs = _work(conversation_id)

        expected = [ECHO.format(message=text) for text in SAID]
        assert received() == expected  # each once, in order
        replies = [m for m in _messages(conversation_id) if m.direction == Direction.OUTBOUND]
        assert [(m.text, m.state) for m in replies] == [(t, MessageState.SENT) for t in expected]
        # The five failures all fell on the first reply; the others waited behind it.
        assert [m.attempts for m in replies] == [6, 1, 1], runs
        assert all(m.failure_reason is None and m.external_id for m in replies)
    finally:
        forget(channel, [user])


def test_a_reply_the_api_never_takes_fails_with_its_reason_and_the_next_ones_go(
    client,
    rasa: InstantRasa,
    telegram_on: FakeBotApi,
    short_timeouts: None,
    sent_tasks: list[Any],
):
    user, say = _telegram_person(client, telegram_on)
    for _ in range(delivery.MAX_ATTEMPTS):
        telegram_on.fail_next("sendMessage", 503, "Service Unavailable")
    try:
        for text in SAID[:2]:
            say(text)
        conversation_id = _conversation("telegram", user)

        _work(conversation_id)

        first, second = [m for m in _messages(conversation_id) if m.direction == Direction.OUTBOUND]
        assert (first.state, first.attempts) == (MessageState.FAILED, delivery.MAX_ATTEMPTS)
        assert "gave up after 8 attempts" in (first.failure_reason or "")
        assert "Service Unavailable" in (first.failure_reason or "")
        assert second.state == MessageState.SENT
        assert telegram_on.sent_texts(user) == [ECHO.format(message=SAID[1])]
    finally:
        forget("telegram", [user])
