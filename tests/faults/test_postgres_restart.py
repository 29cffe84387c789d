"""Injected: PostgreSQL stops in the middle of a load and comes back. The platform's database is
a throwaway cluster of this test's own (tests/faults/servers.py), created and migrated with the
`tiepdan` commands; the real API (`tiepdan serve`) and worker (`tiepdan worker`, on the
embedded broker in a file of the test's own) run on it, with the fake Rasa.
Four clients at once: two web chats, a desk filing tickets, and someone whose panel sign-in has
ended opening the panel (which looks the cookie up). The cluster is stopped with `pg_ctl stop
-m fast` (every session ended, open transactions rolled back), stays down for two seconds, and
is started again. Neither process is restarted.

Asserted: no request gets a 500: while the database is away the answer is a 503 with a
Retry-After and a reason in Vietnamese (JSON for the API, a page for the panel); every message
and ticket acknowledged (200, 201) is in the database exactly once, with the reply the person
got; nothing refused is there twice; every ticket acknowledged is routed, those whose routing
job ran into the outage too (the job is retried); and the same processes serve again within
seconds of the restart (their connection pools recover).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from core.settings import get_settings
from tests.fakes.rasa import ECHO, InstantRasa
from tests.faults.servers import PostgresCluster, api_and_worker, tiepdan, until

pytestmark = pytest.mark.e2e

SERVICE = {"Authorization": f"Bearer {get_settings().service_token}"}
OUTAGE_SECONDS = 2.0


@dataclass
class Platform:
    url: str
    database_url: str
    log: Path
    process: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes]
    worker_log: Path


@pytest.fixture
def platform(tmp_path: Path, rasa: InstantRasa) -> Iterator[tuple[Platform, PostgresCluster]]:
    """The API on a PostgreSQL cluster of its own, migrated and seeded by the CLI."""
    cluster = PostgresCluster()
    try:
        cluster.init()
        database_url = cluster.create_database("tiepdan")
        env = {
            **os.environ,
            "TIEPDAN_DATABASE_URL": database_url,
            # The embedded broker, in a file of the test's own: it lives through the restart.
            "TIEPDAN_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}",
            "TIEPDAN_TASK_QUEUE": f"fault-pg-{uuid.uuid4().hex[:8]}",
            "TIEPDAN_VAR_DIR": str(tmp_path),
            "TIEPDAN_RASA_URL": rasa.url,
        }
        tiepdan("db", "upgrade", env=env)
        tiepdan("seed", env=env)
        with api_and_worker(tmp_path, env, beat=False) as served:
            yield (
                Platform(
                    served.url,
                    database_url,
                    served.server_log,
                    served.server,
                    served.worker,
                    served.worker_log,
                ),
                cluster,
            )
    finally:
        cluster.destroy()


@dataclass
class Sent:
    kind: str  # "chat" or "ticket"
    text: str
    status: int | None  # None: no HTTP answer at all
    detail: str = ""
    retry_after: str | None = None
    reply: str | None = None
    at: float = field(default_factory=time.monotonic)


class Load:
    """Clients writing until told to stop, each request once (no retries: what was refused
    stays refused), every answer recorded."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.sent: list[Sent] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._chat, args=(n,), daemon=True) for n in range(2)
        ] + [
            threading.Thread(target=self._desk, daemon=True),
            threading.Thread(target=self._panel, daemon=True),
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def ok_since(self, moment: float) -> int:
        with self._lock:
            return sum(1 for s in self.sent if s.status in (200, 201) and s.at > moment)

    def _record(self, sent: Sent) -> None:
        with self._lock:
            self.sent.append(sent)
        if sent.status not in (200, 201, 303):
            time.sleep(0.1)  # as a person would wait a moment before writing again

    def _chat(self, number: int) -> None:
        with httpx.Client(base_url=self.base_url, timeout=15) as client:
            session_id = None
            turn = 0
            while not self._stop.is_set():
                if session_id is None:
                    opened = client.post("/api/v1/webchat/sessions")
                    if opened.status_code == 201:
                        session_id = opened.json()["session_id"]
                    else:
                        self._record(_refusal("session", "", opened))
                    continue
                turn += 1
                text = f"Người {number}, tin {turn}: đèn đường trước số {turn} Yersin hỏng"
                try:
                    answer = client.post(
                        "/api/v1/webchat/messages", json={"session_id": session_id, "text": text}
                    )
                except httpx.HTTPError as exc:
                    self._record(Sent("chat", text, None, detail=repr(exc)))
                    continue
                if answer.status_code == 200:
                    [reply] = answer.json()["messages"]
                    self._record(Sent("chat", text, 200, reply=reply["text"]))
                else:
                    self._record(_refusal("chat", text, answer))

    def _desk(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=15, headers=SERVICE) as client:
            number = 0
            while not self._stop.is_set():
                number += 1
                text = f"Phản ánh thử số {number}: ổ gà sâu trước nhà số {number} đường Yersin"
                body = {"description": text, "category": "giao_thong", "ward_code": "25747"}
                try:
                    filed = client.post("/api/v1/tickets", json=body)
                except httpx.HTTPError as exc:
                    self._record(Sent("ticket", text, None, detail=repr(exc)))
                    continue
                if filed.status_code == 201:
                    self._record(Sent("ticket", text, 201, reply=filed.json()["code"]))
                else:
                    self._record(_refusal("ticket", text, filed))

    def _panel(self) -> None:
        """Someone whose panel sign-in has ended opens the queue: the panel looks the cookie up,
        and sends them to the sign-in page."""
        cookies = {"tiepdan_admin": "a-sign-in-that-has-ended"}
        with httpx.Client(base_url=self.base_url, timeout=15, cookies=cookies) as client:
            while not self._stop.is_set():
                page = client.get("/admin/")
                if page.status_code == 303:
                    self._record(Sent("panel", "", 303))
                    time.sleep(0.05)
                else:
                    self._record(Sent("panel", "", page.status_code, detail=page.text,
                                      retry_after=page.headers.get("Retry-After")))  # fmt: skip


def _refusal(kind: str, text: str, response: httpx.Response) -> Sent:
    try:
        detail = str(response.json().get("detail"))
    except ValueError:
        detail = response.text[:200]
    return Sent(kind, text, response.status_code, detail, response.headers.get("Retry-After"))


def test_the_platform_rides_out_a_postgresql_restart(
    platform: tuple[Platform, PostgresCluster],
):
    running, cluster = platform
    with Load(running.url) as load:
        until(lambda: load.ok_since(0) >= 10, timeout=30, what="10 answers before the fault")
        down_at = time.monotonic()
        cluster.stop("fast")
        time.sleep(OUTAGE_SECONDS)
        cluster.start()
        back_at = time.monotonic()
        until(lambda: load.ok_since(back_at) >= 10, timeout=20, what="10 answers after it")
    recovered = min(s.at for s in load.sent if s.status in (200, 201) and s.at > back_at)

    by_status: dict[int | None, list[Sent]] = {}
    for sent in load.sent:
        by_status.setdefault(sent.status, []).append(sent)
    log = running.log.read_text(errors="replace")
    assert set(by_status) <= {200, 201, 303, 503}, (
        {k: len(v) for k, v in by_status.items()},
        [s.detail for s in load.sent if s.status not in (200, 201, 303, 503)][:3],
        log[-3000:],
    )
    refused = by_status.get(503, [])
    assert refused, "no request met the outage: the test did not test it"
    assert all(s.retry_after and "thử lại" in s.detail for s in refused), refused[:3]
    assert all(s.at > down_at for s in refused)
    assert recovered - back_at < 5, f"served again {recovered - back_at:.1f} s after the restart"
    assert running.process.poll() is None  # the same process, never restarted
    assert any(s.kind == "panel" and s.status == 303 and s.at > back_at for s in load.sent)

    # The worker routes every ticket acknowledged, those whose job ran into the outage too.
    filed = [s.reply for s in load.sent if s.kind == "ticket" and s.status == 201]
    dsn = running.database_url.replace("+psycopg", "")

    def all_routed() -> bool:
        with psycopg.connect(dsn) as db:
            row = db.execute(
                "SELECT count(*) FROM tickets WHERE code = ANY(%s) AND status <> 'new'", (filed,)
            ).fetchone()
        return row is not None and row[0] == len(filed)

    until(all_routed, timeout=30, what=f"all {len(filed)} tickets routed")
    assert running.worker.poll() is None  # the worker was not restarted either

    acknowledged = [s for s in load.sent if s.status in (200, 201)]
    refused_texts = [s for s in load.sent if s.status not in (200, 201) and s.text]
    with psycopg.connect(dsn) as db:
        for sent in acknowledged:
            if sent.kind == "chat":
                assert sent.reply == ECHO.format(message=sent.text)
                assert _count(db, "in", sent.text, state="answered") == 1, sent
                assert _count(db, "out", sent.reply) == 1, sent
            else:
                assert _count(db, "ticket", sent.text) == 1, sent
        for (
            sent
        ) in refused_texts:  # refused: there at most once (stored, then refused), never twice
            assert _count(db, "in" if sent.kind == "chat" else "ticket", sent.text) <= 1, sent


def _count(db: psycopg.Connection, what: str, text: str, *, state: str | None = None) -> int:
    """How many inbound ("in") or outbound ("out") messages, or tickets, have this text."""
    if what == "ticket":
        row = db.execute("SELECT count(*) FROM tickets WHERE description = %s", (text,)).fetchone()
    else:
        row = db.execute(
            "SELECT count(*) FROM messages WHERE text = %s AND direction = %s"
            " AND (%s::text IS NULL OR state = %s)",
            (text, what, state, state),
        ).fetchone()
    assert row is not None
    return int(row[0])
