"""The embedded mode a newcomer gets from `make run`: SQLite, the SQL-backed broker and a real
Celery worker, with no PostgreSQL and no Redis. A ticket filed over HTTP is routed by the worker.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import free_port, start, stop, wait_until_healthy

pytestmark = pytest.mark.e2e


@pytest.fixture
def embedded_platform(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIEPDAN_")}
    # Point Rasa at a closed port: the platform must work without it.
    env.update(
        TIEPDAN_VAR_DIR=str(tmp_path / "var"),
        TIEPDAN_RASA_URL=f"http://127.0.0.1:{free_port()}",
        PORT=str(port),
    )
    process = start([sys.executable, "-m", "tiepdan", "run"], tmp_path / "platform.log", env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        # The first run adds the demo tickets before the API starts.
        wait_until_healthy(base, process, tmp_path / "platform.log", timeout=180)
        yield base, tmp_path
    finally:
        stop(process)


def test_ticket_filed_over_http_is_routed_by_a_real_worker(embedded_platform):
    base, tmp_path = embedded_platform
    ready = httpx.get(f"{base}/readyz", timeout=10).json()
    assert ready["checks"] == {"database": "up", "broker": "up", "rasa": "down"}
    assert (tmp_path / "var" / "tiepdan.sqlite3").exists()
    assert (tmp_path / "var" / "broker.sqlite3").exists()

    login = httpx.post(
        f"{base}/api/v1/auth/token",
        data={"username": "dieuphoi", "password": "dieuphoi-demo-123"},
    )
    assert login.status_code == 200, login.text
    staff = {"Authorization": f"Bearer {login.json()['access_token']}"}

    created = httpx.post(
        f"{base}/api/v1/tickets",
        json={
            "description": "Rác ứ đọng ở đầu hẻm 45 đường Yersin ba ngày nay.",
            "ward_code": "25747",
            "category": "moi_truong",
        },
        headers=staff,
    )
    assert created.status_code == 201, created.text
    code = created.json()["code"]

    deadline = time.monotonic() + 60
    ticket = created.json()
    while ticket["status"] == "new" and time.monotonic() < deadline:
        time.sleep(0.5)
        ticket = httpx.get(f"{base}/api/v1/tickets/{code}", headers=staff).json()
    worker_log = tmp_path / "var" / "log" / "worker.log"
    assert ticket["status"] == "assigned", worker_log.read_text()[-3000:]
    assert ticket["agency"] == "UBND_25747"
    assert ticket["sla_due_at"] is not None
    assert [e["kind"] for e in ticket["events"]] == ["created", "routed"]
    # The worker logs the job's success after its commit: the ticket can be seen routed first.
    while "succeeded" not in worker_log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    log = worker_log.read_text()
    assert "feedback.route_ticket" in log and "succeeded" in log
