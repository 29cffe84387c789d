"""The real processes the end-to-end tests share: a Celery worker on Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import get_settings
from tests.e2e.processes import start, stop


@pytest.fixture
def redis_worker(database: str, tmp_path: Path) -> Iterator[Path]:
    settings = get_settings()
    assert settings.broker_url.startswith("redis://")
    subprocess.run(
        [sys.executable, "-m", "celery", "-A", "tiepdan.worker", "purge", "-f"],
        check=True,
        capture_output=True,
    )
    log_path = tmp_path / "worker.log"
    env = {**os.environ, "TIEPDAN_VAR_DIR": str(tmp_path)}
    process = start([sys.executable, "-m", "tiepdan", "worker", "--beat"], log_path, env=env)
    try:
        deadline = time.monotonic() + 60
        while "ready." not in log_path.read_text():
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "the worker did not start within 60 s"
            time.sleep(0.3)
        yield log_path
    finally:
        stop(process)
