"""The signed push with real processes: a Celery worker with beat on Redis pushes snapshots to
a local IOC that checks each signature, answers 503 for a while, then comes back; every
snapshot arrives, in order, once."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from core.database import session_scope
from core.settings import get_settings
from integrations.ioc.models import IocSnapshot
from tests.e2e.processes import start, stop
from tests.integrations.ioc.receiver import Receiver

pytestmark = pytest.mark.e2e

SECRET = "e2e-secret-of-the-ioc-0123456789abcdef0123"


def _clear() -> None:
    with session_scope() as session:
        session.execute(delete(IocSnapshot))


def test_beat_pushes_signed_snapshots_that_survive_an_outage(database: str, tmp_path: Path):
    _clear()
    ioc = Receiver(secret=SECRET, mode="error")
    ioc.start()
    log_path = tmp_path / "worker.log"
    env = {
        **os.environ,
        # A queue of its own: the session's e2e stack runs a worker on the run's queue, which
        # would take these jobs without the push's settings.
        "TIEPDAN_TASK_QUEUE": f"{get_settings().task_queue}-ioc-push",
        "TIEPDAN_VAR_DIR": str(tmp_path),
        "TIEPDAN_IOC_PUSH_URL": ioc.url,
        "TIEPDAN_IOC_PUSH_SECRET": SECRET,
        "TIEPDAN_IOC_PUSH_INTERVAL": "10",
    }
    worker = start([sys.executable, "-m", "tiepdan", "worker", "--beat"], log_path, env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and ioc.requests < 2:  # refused at least twice
            assert worker.poll() is None, log_path.read_text()[-3000:]
            time.sleep(0.5)
        assert ioc.requests >= 2 and not ioc.accepted, log_path.read_text()[-3000:]

        ioc.mode = "up"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(ioc.accepted) < 3:
            assert worker.poll() is None, log_path.read_text()[-3000:]
            time.sleep(0.5)
    finally:
        stop(worker)
        ioc.stop()

    with session_scope() as session:
        made = session.scalars(select(IocSnapshot).order_by(IocSnapshot.id)).all()
        delivered = [s.snapshot_id for s in made if s.delivered_at is not None]
        first_attempts = made[0].attempts
    _clear()
    keys = [r.key for r in ioc.accepted]
    assert len(keys) >= 3, log_path.read_text()[-3000:]
    assert keys == sorted(set(keys))  # in order, none twice
    # Stopping the worker may cut one push between the IOC's 200 and the worker's commit: that
    # one is pushed again later under the same Idempotency-Key, so it is not lost.
    assert keys[: len(delivered)] == delivered and len(keys) - len(delivered) <= 1
    assert keys[0] == made[0].snapshot_id and first_attempts >= 2  # the refused one came first
    assert ioc.bad_signatures == 0
    assert all(r.body["snapshot_id"] == r.key for r in ioc.accepted)
