"""`make run` from a fresh clone, as a newcomer runs it, with the terminal captured.

What it covers: a `git clone` of this repository's HEAD into a temporary folder, and `make run`
there with PORT and Rasa's ports set to free ones and the output read through a pipe (as in CI:
no terminal, so no progress animation). The set-up steps, the demo tickets on the fresh SQLite
database, the four processes, their log files, the banner and /readyz are the real ones.

What it does not cover:
- the install step: a new virtualenv takes minutes, so `make` is given this checkout's
  (VENV=..., and `-o` on its stamp so that nothing is installed into it); the code that runs is
  still the clone's, since `make run` starts `python -m tiepdan` in the clone's folder;
- training: the NLU and Rasa models come from the shared cache (TIEPDAN_CACHE_DIR) and Rasa's
  environment is the shared one (TIEPDAN_RASA_VENV), as on a second clone on one machine;
- uncommitted changes, which are not in a clone: commit before running it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from core.settings import get_settings
from tests.e2e.processes import free_port, listening_on

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BANNER = "Tiếp Dân is running on"
STILL_STARTING = "still starting"
LOGS = ("setup", "api", "worker", "rasa", "actions")
# Rasa may have to be trained for this commit's data when no test has done it yet (CI).
TIMEOUT = 600


class Terminal:
    """The lines a process writes, read as they come, each with the moment it arrived."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[tuple[float, str]] = []
        self._process = process
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    @property
    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def wait_for(self, needle: str, timeout: float) -> float:
        """When the line containing `needle` arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for moment, line in list(self.lines):
                if needle in line:
                    return moment
            if self._process.poll() is not None:
                time.sleep(0.5)  # the last lines
                break
            time.sleep(0.1)
        raise AssertionError(f"no {needle!r} line; the terminal showed:\n{self.text[-4000:]}")


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    target = tmp_path / "tiepdan"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(target)], check=True)
    subprocess.run(["git", "-C", str(target), "checkout", "--quiet", head], check=True)
    return target


def test_make_run_from_a_fresh_clone_is_quiet_and_honest(clone: Path) -> None:
    settings = get_settings()
    assert settings.rasa_venv is not None
    if not (settings.rasa_venv / "bin" / "python").exists():
        pytest.fail(f"Rasa's environment is missing ({settings.rasa_venv}): run `make rasa-venv`")
    venv = Path(sys.prefix)
    port, rasa_port, actions_port = free_port(), free_port(), free_port()
    # A newcomer's shell: none of the tests' settings, and not inside another make.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TIEPDAN_") and k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")
    }
    env.update(
        PORT=str(port),
        TIEPDAN_RASA_URL=f"http://127.0.0.1:{rasa_port}",
        TIEPDAN_ACTIONS_URL=f"http://127.0.0.1:{actions_port}/webhook",
        TIEPDAN_CACHE_DIR=str(settings.cache_dir),
        TIEPDAN_RASA_VENV=str(settings.rasa_venv),
    )
    started = time.monotonic()
    make = subprocess.Popen(
        ["make", "-o", str(venv / ".installed"), "run", f"VENV={venv}"],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    terminal = Terminal(make)
    base = f"http://127.0.0.1:{port}"
    try:
        shown = terminal.wait_for(BANNER, TIMEOUT)
        ready = httpx.get(f"{base}/readyz", timeout=10).json()
        seconds = shown - started
        before = "\n".join(line for moment, line in terminal.lines if moment < shown)

        assert ready["checks"]["database"] == ready["checks"]["broker"] == "up", ready
        # The banner waits for Rasa, or says plainly that it has not.
        if ready["checks"]["rasa"] != "up":
            assert STILL_STARTING in before, before
        assert not re.search(r"warn|traceback|error", before, re.IGNORECASE), before
        for step in ("Migrating the database", "demo logins", "Vietnamese NLU", "Rasa model"):
            assert re.search(rf"… .*{step}.* done \(\d+ s\)", before), (step, before)
        assert "Adding 300 demo tickets" in before  # a fresh database gets the demo story
        for name in ("api", "worker", "actions", "rasa"):
            assert re.search(rf"  [✓…] {name} ", before), (name, before)
        terminal.wait_for("Stop with Ctrl+C.", 10)
        for name in LOGS:
            log = clone / "var" / "log" / f"{name}.log"
            assert log.exists() and log.stat().st_size > 0, name
            assert f"var/log/{name}.log" in terminal.text, name  # the terminal says where
        assert "Application startup complete" in (clone / "var" / "log" / "api.log").read_text()

        token = httpx.post(
            f"{base}/api/v1/auth/token",
            data={"username": "dieuphoi", "password": "dieuphoi-demo-123"},
        ).json()["access_token"]
        queue = httpx.get(
            f"{base}/api/v1/tickets",
            params={"status": "in_progress"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert queue.status_code == 200 and queue.json()["items"], queue.text
        print(f"\nmake run from a fresh clone: banner after {seconds:.0f} s\n{terminal.text}")
    finally:
        # Ctrl+C, as a person stops it: every process must end and free its port.
        os.killpg(make.pid, signal.SIGINT)
        try:
            make.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
            raise
    deadline = time.monotonic() + 20
    while any(listening_on(p) for p in (port, rasa_port, actions_port)):
        assert time.monotonic() < deadline, "a process of `make run` outlived Ctrl+C"
        time.sleep(0.5)
