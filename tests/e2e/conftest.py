"""The real processes the end-to-end tests share: a Celery worker on Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import assistant
from core.settings import get_settings
from integrations.zalo import tokens
from integrations.zalo.client import TokenPair
from tests.e2e.processes import free_port, start, stop
from tests.e2e.stack import TELEGRAM_SECRET, Stack, clean_up
from tests.fakes.telegram import FakeBotApi
from tests.fakes.zalo import FakeZalo


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


# Package scope: one Rasa start for all of tests/e2e, and everything stopped when the package
# ends. Its worker runs beat's sweeps on the run's database; left running, they would answer,
# route and notify what later tests (tests/faults) leave for their own platform's sweeps.
@pytest.fixture(scope="package")
def stack(
    database: str, tmp_path_factory: pytest.TempPathFactory, nlu_model: object
) -> Iterator[Stack]:
    """The platform with Rasa, a worker and the fake channels, once for tests/e2e."""
    tmp = tmp_path_factory.mktemp("stack")
    port, rasa_port, actions_port = free_port(), free_port(), free_port()
    settings = get_settings().model_copy(
        update={
            "actions_url": f"http://127.0.0.1:{actions_port}/webhook",
            "platform_url": f"http://127.0.0.1:{port}",
        }
    )
    assistant.train(settings)
    with FakeBotApi() as telegram, FakeZalo() as zalo:
        env = {
            **os.environ,
            "TIEPDAN_VAR_DIR": str(tmp),
            "TIEPDAN_RASA_URL": f"http://127.0.0.1:{rasa_port}",
            "TIEPDAN_TELEGRAM_TOKEN": telegram.token,
            "TIEPDAN_TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
            "TIEPDAN_TELEGRAM_API_URL": telegram.url,
            "TIEPDAN_ZALO_APP_ID": zalo.app_id,
            "TIEPDAN_ZALO_APP_SECRET": zalo.app_secret,
            "TIEPDAN_ZALO_OA_SECRET": zalo.oa_secret,
            "TIEPDAN_ZALO_API_URL": zalo.url,
            "TIEPDAN_ZALO_OAUTH_URL": zalo.url,
            "TIEPDAN_ZALO_ZNS_URL": zalo.url,
        }
        # The OA connected, as `tiepdan zalo connect` leaves it.
        tokens.store(TokenPair(**{**zalo.issue_pair(), "expires_in": 90000}))
        running = Stack(
            tmp,
            settings,
            env,
            port=port,
            rasa_port=rasa_port,
            actions_port=actions_port,
            telegram=telegram,
            zalo=zalo,
        )
        try:
            running.start()
            yield running
        finally:
            running.stop()
            clean_up()


@pytest.fixture(scope="module", autouse=True)
def _leave_no_conversations(database: str) -> Iterator[None]:
    """The shared stack lives for the run; what a module's conversations filed goes with the
    module, so that later tests count only their own tickets."""
    yield
    clean_up()
