"""Injected: Redis, the Celery broker, restarts while jobs wait in it and two are running. The
Redis is the test's own (tests/faults/servers.py), configured as production's (append-only
file on); the real API (`tiepdan serve`) and worker (`tiepdan worker --beat`, two processes) use
it, on the run's database, with the fake Bot API and the fake Rasa. Six people write on
Telegram and the desk files four tickets; the Bot API holds the first two replies for four
seconds, so both worker processes are busy sending while the other jobs wait in Redis. Then
Redis is stopped (SIGTERM, as `docker restart` does) and, a second later, started again. While
it is down, a seventh person writes and an official replies to the first person's ticket: the
API takes both (the data is committed) but cannot queue their jobs.

Asserted, within a bounded time: every person gets exactly one reply per message, recorded once
by the Bot API, and its row ends `sent`; every ticket is routed exactly once (one `routed`
event), and none is marked a duplicate of a later one (the restart frees the jobs at once, and
two workers route look-alike tickets side by side); the official's reply reaches the citizen
once and the message written during the outage is answered once, both within seconds of Redis's
return: the API offers the jobs Redis refused again every second (core.celery_app.publish),
before beat's sweeps (30 s and more) would find them; no process was restarted. A job whose
acknowledgement was lost with the connection comes back after the visibility timeout (5 s
here) and finds its work done.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, func, select, update

from bot.models import Conversation, Direction, Message, MessageState
from core.database import session_scope
from core.settings import get_settings
from feedback.auth import create_user, issue_access_token
from feedback.models import StaffRole, StaffUser, Ticket, TicketEvent, TicketStatus
from tests.fakes.rasa import ECHO, InstantRasa
from tests.fakes.telegram import FakeBotApi
from tests.faults.chats import forget, say_on_telegram
from tests.faults.servers import RedisServer, api_and_worker, until
from tests.integrations.telegram.conftest import SECRET

pytestmark = pytest.mark.e2e

SERVICE = {"Authorization": f"Bearer {get_settings().service_token}"}
PEOPLE = 6
TICKETS = 4
HELD_SECONDS = 4.0


@dataclass
class Platform:
    url: str
    queue: str
    redis: RedisServer
    telegram: FakeBotApi
    worker_log: Path


@pytest.fixture
def platform(tmp_path: Path, rasa: InstantRasa) -> Iterator[Platform]:
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    queue = f"fault-redis-{uuid.uuid4().hex[:8]}"
    with FakeBotApi() as telegram:
        env = {
            **os.environ,
            "TIEPDAN_BROKER_URL": redis_server.url,
            "TIEPDAN_TASK_QUEUE": queue,
            "TIEPDAN_BROKER_VISIBILITY_TIMEOUT": "5",
            "TIEPDAN_VAR_DIR": str(tmp_path),
            "TIEPDAN_RASA_URL": rasa.url,
            "TIEPDAN_TELEGRAM_TOKEN": telegram.token,
            "TIEPDAN_TELEGRAM_WEBHOOK_SECRET": SECRET,
            "TIEPDAN_TELEGRAM_API_URL": telegram.url,
        }
        try:
            with api_and_worker(tmp_path, env, beat=True) as served:
                yield Platform(served.url, queue, redis_server, telegram, served.worker_log)
                assert served.still_running()  # never restarted
        finally:
            redis_server.stop()


def _write(platform: Platform, chat_id: int, text: str) -> None:
    with httpx.Client(base_url=platform.url, timeout=10) as client:
        say_on_telegram(client, chat_id, text, first_name="Lan")


def _file(platform: Platform, number: int, *, contact: str | None = None) -> int:
    """A ticket filed by the bot's service token (for a Telegram chat) or at the desk."""
    body: dict[str, object] = {
        "description": f"Vỉa hè số {number} Yersin bị lấn chiếm (thử Redis)",
        "category": "giao_thong",
        "ward_code": "25747",
    }
    if contact is not None:
        body["channel"] = "telegram"
        body["contact"] = {"channel": "telegram", "channel_user_id": contact}
    filed = httpx.post(f"{platform.url}/api/v1/tickets", json=body, headers=SERVICE, timeout=10)
    assert filed.status_code == 201, filed.text
    with session_scope() as session:
        return session.scalar(select(Ticket.id).where(Ticket.code == filed.json()["code"])) or 0


def _routed(ticket_ids: list[int]) -> bool:
    with session_scope() as session:
        waiting = session.scalar(
            select(func.count(Ticket.id)).where(
                Ticket.id.in_(ticket_ids), Ticket.status == TicketStatus.NEW
            )
        )
    return waiting == 0


def _replies(chat_ids: list[int]) -> list[Message]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(Message)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(
                    Conversation.channel == "telegram",
                    Conversation.channel_user_id.in_([str(c) for c in chat_ids]),
                    Message.direction == Direction.OUTBOUND,
                )
            )
        )


@pytest.fixture
def official() -> Iterator[dict[str, str]]:
    """A dispatcher's bearer token; the account goes at the end."""
    username = f"fault-redis-{uuid.uuid4().hex[:8]}"
    with session_scope() as session:
        user = create_user(
            session, username=username, password="fault-redis-123", role=StaffRole.DISPATCHER
        )
        token = issue_access_token(user)
    yield {"Authorization": f"Bearer {token}"}
    with session_scope() as session:
        session.execute(delete(TicketEvent).where(TicketEvent.actor_id == user.id))
        session.execute(delete(StaffUser).where(StaffUser.id == user.id))


def test_jobs_waiting_and_running_survive_a_redis_restart(
    platform: Platform, official: dict[str, str]
):
    chat_ids = [7_500_000_000 + random.randrange(10**8) for _ in range(PEOPLE)]
    latecomer = 7_500_000_000 + random.randrange(10**8)  # writes only while Redis is down
    ticket_ids: list[int] = []
    telegram, broker = platform.telegram, platform.redis.client()
    said = {chat_id: [f"xin chào, tôi là người số {n}"] for n, chat_id in enumerate(chat_ids)}
    said[latecomer] = ["tôi viết khi Redis đang khởi động lại"]
    try:
        # A ticket of the first person, routed before anything happens.
        own = _file(platform, 99, contact=str(chat_ids[0]))
        ticket_ids.append(own)
        until(lambda: _routed([own]), timeout=30, what="the person's ticket routed")

        for _ in range(2):  # both worker processes will be busy sending
            telegram.delay_next("sendMessage", HELD_SECONDS)
        for chat_id in chat_ids:
            _write(platform, chat_id, said[chat_id][0])
        ticket_ids += [_file(platform, number) for number in range(TICKETS)]
        until(lambda: telegram.in_flight >= 1, timeout=30, what="a reply on its way")
        waiting = broker.llen(platform.queue)
        running = telegram.in_flight
        assert waiting > 0, "no job waited in Redis: the restart would test nothing"

        platform.redis.stop()
        # Redis is down: the API takes what comes, and cannot queue its jobs.
        _write(platform, latecomer, said[latecomer][0])
        code = _code(own)
        replied = httpx.post(
            f"{platform.url}/api/v1/tickets/{code}/reply",
            json={"message": "Đội sửa chữa sẽ đến trong chiều nay."},
            headers=official,
            timeout=30,
        )
        assert replied.status_code == 200, replied.text
        time.sleep(1)
        platform.redis.start()
        restarted = time.monotonic()

        until(lambda: _routed(ticket_ids), timeout=30, what="every ticket routed")
        notice = f"Phản hồi về phản ánh {code}: Đội sửa chữa sẽ đến trong chiều nay."
        telegram.wait_for_text(chat_ids[0], notice, timeout=60)

        everyone = [*chat_ids, latecomer]

        def delivered() -> bool:
            # Chat by chat: a total could be reached by one chat's extra row while another's
            # reply is still to come.
            return all(
                len(telegram.sent_texts(chat_id)) == (2 if chat_id == chat_ids[0] else 1)
                for chat_id in everyone
            ) and all(m.state == MessageState.SENT for m in _replies(everyone))

        try:
            until(delivered, timeout=120, what="every reply and notice sent")
        except AssertionError as failed:
            raise AssertionError(_what_is_where(platform, everyone)) from failed
        taken = time.monotonic() - restarted
        time.sleep(6)  # past the visibility timeout: a job given back twice would show now

        for chat_id in everyone:
            expected = [ECHO.format(message=text) for text in said[chat_id]]
            if chat_id == chat_ids[0]:
                expected.append(notice)
            assert telegram.sent_texts(chat_id) == expected, (chat_id, waiting, running)
        assert [m.state for m in _replies(everyone)] == [MessageState.SENT] * (PEOPLE + 2)
        with session_scope() as session:
            for ticket_id in ticket_ids:
                kinds = session.scalars(
                    select(TicketEvent.kind)
                    .where(TicketEvent.ticket_id == ticket_id)
                    .order_by(TicketEvent.id)
                ).all()
                # Once each (the four read alike: some are marked as duplicates of earlier ones).
                assert kinds[:2] == ["created", "routed"] and kinds.count("routed") == 1, kinds
                original = session.get_one(Ticket, ticket_id).duplicate_of_id
                assert original is None or original < ticket_id  # never a cycle
        # Sooner than beat's sweep of unanswered messages could have answered the latecomer (it
        # runs every 30 s, for messages older than 30 s): the API offered the jobs again.
        print(f"everything done {taken:.1f} s after the restart")
        assert taken < 25, f"everything done {taken:.0f} s after the restart"
    finally:
        with session_scope() as session:  # they may point at each other as duplicates
            session.execute(
                update(Ticket).where(Ticket.id.in_(ticket_ids)).values(duplicate_of_id=None)
            )
            session.execute(delete(TicketEvent).where(TicketEvent.ticket_id.in_(ticket_ids)))
            session.execute(delete(Ticket).where(Ticket.id.in_(ticket_ids)))
        forget("telegram", [str(c) for c in [*chat_ids, latecomer]])


def _what_is_where(platform: Platform, chat_ids: list[int]) -> str:
    """For a failure: every message of these chats, what the Bot API got, and the worker's log."""
    lines = []
    with session_scope() as session:
        rows = session.execute(
            select(
                Conversation.channel_user_id,
                Conversation.id,
                Conversation.answer_lease_until,
                Conversation.delivery_lease_until,
                Message.id,
                Message.direction,
                Message.state,
                Message.attempts,
                Message.created_at,
                Message.text,
            )
            .join(Message, Message.conversation_id == Conversation.id)
            .where(
                Conversation.channel == "telegram",
                Conversation.channel_user_id.in_([str(c) for c in chat_ids]),
            )
            .order_by(Message.id)
        ).all()
        stale = session.scalar(
            select(func.count(Message.id)).where(Message.state == MessageState.RECEIVED)
        )
    lines += [repr(tuple(row)) for row in rows]
    lines.append(f"received messages in the database: {stale}")
    lines += [f"{chat_id}: {platform.telegram.sent_texts(chat_id)}" for chat_id in chat_ids]
    lines.append(platform.worker_log.read_text()[-6000:])
    return "\n".join(lines)


def _code(ticket_id: int) -> str:
    with session_scope() as session:
        return session.get_one(Ticket, ticket_id).code
