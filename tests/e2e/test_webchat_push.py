"""The web chat's WebSocket, served by a real `tiepdan serve`: a staff reply committed by another
process reaches the open chat. On PostgreSQL it is woken by LISTEN/NOTIFY (bot/message_push.py),
whose connection, cut, is replaced while the chat polls; with TIEPDAN_WEBCHAT_PUSH=poll and on
SQLite the chat polls each second.

The chat waits SAFETY_POLL_SECONDS (30 s) between reads while the listener is up, so a reply
that arrives in under two seconds was pushed, not found by a poll.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from websockets.sync.client import ClientConnection, connect

from bot.delivery import add_outbound
from bot.message_push import APPLICATION_NAME, SAFETY_POLL_SECONDS
from bot.models import Conversation, WebchatSession
from core.database import get_engine, make_engine
from integrations.channel import Reply
from tests.e2e.processes import free_port, start, stop, wait_until_healthy
from tiepdan.db import upgrade

pytestmark = pytest.mark.e2e

PUSHED_WITHIN = 2.0  # seconds; far below SAFETY_POLL_SECONDS
_reply_numbers = itertools.count()


@contextmanager
def _serving(tmp_path: Path, **settings: str) -> Iterator[str]:
    """`python -m tiepdan serve` with these TIEPDAN_* settings (on top of the tests'); its URL."""
    port = free_port()
    env = {**os.environ, "TIEPDAN_VAR_DIR": str(tmp_path / "var"), **settings}
    log = tmp_path / "server.log"
    process = start(
        [sys.executable, "-m", "tiepdan", "serve", "--port", str(port), "--no-access-log"],
        log,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, process, log, timeout=60)
        yield base
    finally:
        stop(process)


def _open_chat(base: str) -> tuple[str, str]:
    """A new web-chat session; its id and its WebSocket's URL."""
    response = httpx.post(f"{base}/api/v1/webchat/sessions", timeout=10)
    assert response.status_code == 201, response.text
    session_id = response.json()["session_id"]
    return session_id, f"ws://{base.removeprefix('http://')}/api/v1/webchat/ws/{session_id}"


def _staff_reply(engine: Engine, session_id: str) -> str:
    """A staff reply stored and committed here, as the worker does; its text."""
    words = f"Đội vệ sinh đã thu gom (phản hồi {next(_reply_numbers)})."
    with Session(engine, expire_on_commit=False) as session:
        conversation_id = session.get_one(WebchatSession, session_id).conversation_id
        conversation = session.get_one(Conversation, conversation_id)
        add_outbound(session, conversation, Reply(text=words), channel_message_id=words)
        session.commit()
    return words


def _received_within(socket_: ClientConnection, seconds: float) -> tuple[list[Any], float]:
    started = time.monotonic()
    frame = json.loads(socket_.recv(timeout=seconds))
    return frame["messages"], time.monotonic() - started


def _listener_pids() -> set[int]:
    with get_engine().connect() as connection:
        rows = connection.execute(
            text(
                "SELECT pid FROM pg_stat_activity"
                " WHERE application_name = :name AND datname = current_database()"
            ),
            {"name": APPLICATION_NAME},
        )
        return {row.pid for row in rows}


def _wait_for(condition: Callable[[], Any], *, seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        assert time.monotonic() < deadline, f"{what} within {seconds} s"
        time.sleep(0.2)
    return found


@pytest.fixture
def forget_chats_after() -> Iterator[None]:
    from tests.bot.conftest import forget_chats

    yield
    forget_chats()


def test_a_reply_is_pushed_through_listen_notify_and_survives_a_cut(
    tmp_path: Path, forget_chats_after: None
) -> None:
    assert SAFETY_POLL_SECONDS > 10 * PUSHED_WITHIN
    engine = get_engine()
    others = _listener_pids()  # other servers of the test run (the e2e stack's API)
    with _serving(tmp_path, TIEPDAN_WEBCHAT_PUSH="notify") as base:
        first_listener = _wait_for(
            lambda: _listener_pids() - others, seconds=30, what="the server listens"
        )
        session_id, url = _open_chat(base)
        with connect(url, proxy=None) as socket_:
            words = _staff_reply(engine, session_id)
            messages, waited = _received_within(socket_, 10)
            assert waited < PUSHED_WITHIN
            assert [(m["direction"], m["text"], m["pushed"]) for m in messages] == [
                ("out", words, True)
            ]
            assert set(messages[0]) == {
                "id",
                "direction",
                "pushed",
                "text",
                "buttons",
                "image",
                "documents",
            }

            # The listening connection is cut: a reply written meanwhile still arrives (the
            # chats poll until the listener is back, then read what they missed) ...
            with engine.connect() as connection:
                for pid in first_listener:
                    connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            words = _staff_reply(engine, session_id)
            messages, _ = _received_within(socket_, 10)
            assert [m["text"] for m in messages] == [words]

            # ... and the listener comes back on a new connection, and pushes again.
            _wait_for(
                lambda: _listener_pids() - others - first_listener,
                seconds=20,
                what="the listener reconnects",
            )
            time.sleep(0.5)  # the chats, woken by the reconnection, settle into their long wait
            words = _staff_reply(engine, session_id)
            messages, waited = _received_within(socket_, 10)
            assert [m["text"] for m in messages] == [words]
            assert waited < PUSHED_WITHIN


def test_set_to_poll_the_chat_polls(tmp_path: Path, forget_chats_after: None) -> None:
    others = _listener_pids()  # other servers of the test run (the e2e stack's API)
    with _serving(tmp_path, TIEPDAN_WEBCHAT_PUSH="poll") as base:
        session_id, url = _open_chat(base)
        with connect(url, proxy=None) as socket_:
            time.sleep(1.5)
            # This server does not listen: the reply is found by a poll.
            assert _listener_pids() - others == set()
            words = _staff_reply(get_engine(), session_id)
            messages, waited = _received_within(socket_, 10)
            assert [m["text"] for m in messages] == [words]
            assert waited < 1 + PUSHED_WITHIN


def test_the_embedded_sqlite_mode_polls(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tiepdan.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with _serving(tmp_path, TIEPDAN_DATABASE_URL=url) as base:
            session_id, socket_url = _open_chat(base)
            with connect(socket_url, proxy=None) as socket_:
                words = _staff_reply(engine, session_id)
                messages, waited = _received_within(socket_, 10)
                assert [(m["direction"], m["text"]) for m in messages] == [("out", words)]
                assert waited < 1 + PUSHED_WITHIN
    finally:
        engine.dispose()
