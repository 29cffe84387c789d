"""The embedded broker (SQLite, core/broker.py) loses no job: a worker killed mid-task leaves a
claim that the next worker gives back within seconds, and acknowledged messages are deleted.

The worker is caught mid-task for sure: the test holds the database's write lock, so routing
the ticket waits on it (as behind any slow writer), and the worker is killed there.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.processes import file_a_ticket, free_port, start, stop

pytestmark = pytest.mark.e2e


def _embedded_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIEPDAN_")}
    env.update(
        TIEPDAN_VAR_DIR=str(tmp_path / "var"),
        TIEPDAN_RASA_URL=f"http://127.0.0.1:{free_port()}",
        TIEPDAN_TASK_QUEUE=f"broker-test-{os.getpid()}",
    )
    return env


def _tiepdan(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tiepdan", *args], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _wait_for_line(
    log: Path, needle: str, process: subprocess.Popen[bytes], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and needle in log.read_text(errors="replace"):
            return
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        time.sleep(0.1)
    pytest.fail(f"no {needle!r} in the worker's log:\n{log.read_text(errors='replace')[-3000:]}")


def _ticket(database: Path, code: str) -> tuple[str, list[str]]:
    with sqlite3.connect(database) as connection:
        [(ticket_id, status)] = connection.execute(
            "SELECT id, status FROM tickets WHERE code = ?", (code,)
        ).fetchall()
        events = connection.execute(
            "SELECT kind FROM ticket_events WHERE ticket_id = ? ORDER BY id", (ticket_id,)
        ).fetchall()
    return status, [kind for (kind,) in events]


def _broker_rows(broker: Path) -> tuple[int, int]:
    with sqlite3.connect(broker) as connection:
        messages = connection.execute("SELECT count(*) FROM kombu_message").fetchone()[0]
        claims = connection.execute("SELECT count(*) FROM tiepdan_broker_claims").fetchone()[0]
    return messages, claims


def test_a_job_of_a_worker_killed_mid_task_runs_again_within_seconds(tmp_path):
    env = _embedded_env(tmp_path)
    _tiepdan(env, "db", "upgrade")
    _tiepdan(env, "seed")
    database, broker = tmp_path / "var" / "tiepdan.sqlite3", tmp_path / "var" / "broker.sqlite3"
    code = file_a_ticket(env)

    # A writer holds the database: the worker takes the job and waits inside it.
    blocker = sqlite3.connect(database, timeout=1)
    blocker.execute("BEGIN IMMEDIATE")
    first_log = tmp_path / "worker-1.log"
    first = start([sys.executable, "-m", "tiepdan", "worker"], first_log, env=env)
    try:
        _wait_for_line(first_log, "feedback.route_ticket", first, timeout=60)
        time.sleep(1)  # into the task, waiting on the lock
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            stop(first)
        blocker.rollback()
        blocker.close()
    assert _ticket(database, code) == ("new", ["created"])  # the job died with the worker
    assert _broker_rows(broker) == (1, 1)  # hidden and claimed by a process that is gone

    second_log = tmp_path / "worker-2.log"
    second = start([sys.executable, "-m", "tiepdan", "worker"], second_log, env=env)
    try:
        _wait_for_line(second_log, "ready.", second, timeout=60)
        started = time.monotonic()
        while _ticket(database, code)[0] == "new" and time.monotonic() - started < 30:
            time.sleep(0.2)
        taken = time.monotonic() - started
        assert _ticket(database, code) == ("assigned", ["created", "routed"]), second_log.read_text(
            errors="replace"
        )[-3000:]
        assert taken < 15, f"routed {taken:.1f} s after the new worker was ready"
        assert "given back" in second_log.read_text(errors="replace")
        deadline = time.monotonic() + 10
        while _broker_rows(broker) != (0, 0) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _broker_rows(broker) == (0, 0)  # the acknowledged message is deleted
    finally:
        stop(second)
