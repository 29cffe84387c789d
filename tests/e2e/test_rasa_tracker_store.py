"""Rasa with the production endpoints: conversations in PostgreSQL, the lock in Redis.

A Rasa server restarted in the middle of a conversation still has it (the in-memory tracker
store of development would have forgotten it).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from bot import assistant
from core.settings import Settings, get_settings
from tests.conftest import ADMIN_URL, TEST_DB
from tests.e2e.processes import free_port, start, stop, wait_for

pytestmark = pytest.mark.e2e

TRACKER_DB = f"{TEST_DB}_rasa"
SENDER = "test:tracker-store"


def _drop_tracker_database() -> None:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{TRACKER_DB}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def settings() -> Iterator[Settings]:
    host = ADMIN_URL.split("@", 1)[1].split("/", 1)[0]
    _drop_tracker_database()
    yield get_settings().model_copy(
        update={
            "rasa_tracker_store_url": f"postgresql://postgres@{host}/{TRACKER_DB}",
            "rasa_lock_store_url": "redis://127.0.0.1:6379/13",
        }
    )
    _drop_tracker_database()


def _start_rasa(settings: Settings, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    process = start(
        assistant.server_command(settings, port=port),
        log_path,
        env=assistant.rasa_env(settings),
        cwd=assistant.PROJECT_DIR,
    )
    wait_for(f"http://127.0.0.1:{port}/status", process, log_path, timeout=180)
    return process


def test_a_conversation_outlives_a_restart_of_rasa(settings: Settings, tmp_path: Path) -> None:
    assistant.train(settings)
    assert "endpoints.production.yml" in assistant.server_command(settings)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    token = {"token": settings.rasa_token} if settings.rasa_token else {}

    rasa = _start_rasa(settings, port, tmp_path / "rasa-1.log")
    try:
        replies = httpx.post(
            f"{base}/webhooks/rest/webhook",
            json={"sender": SENDER, "message": "xin chào"},
            timeout=60,
        ).json()
        assert replies and replies[0]["text"]
    finally:
        stop(rasa)

    stored = create_engine(ADMIN_URL.rsplit("/", 1)[0] + f"/{TRACKER_DB}")
    with stored.connect() as connection:
        kept = connection.execute(
            text("SELECT count(*) FROM events WHERE sender_id = :s AND type_name = 'user'"),
            {"s": SENDER},
        ).scalar_one()
    stored.dispose()
    assert kept == 1

    rasa = _start_rasa(settings, port, tmp_path / "rasa-2.log")
    try:
        tracker = httpx.get(
            f"{base}/conversations/{SENDER}/tracker", params=token, timeout=30
        ).json()
    finally:
        stop(rasa)
    said = [e.get("text") for e in tracker["events"] if e["event"] == "user"]
    assert said == ["xin chào"]
