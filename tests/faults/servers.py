"""Servers of a fault test's own, to stop and restart at will: a throwaway PostgreSQL cluster and
a Redis. The shared PostgreSQL and Redis other tests use at the same time are never touched.

PostgreSQL's initdb refuses to run as root (the tests do), so the cluster's binaries run as the
`postgres` OS user (`runuser`), in a folder that user owns.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
import redis

from tests.e2e.processes import free_port, start, stop, wait_until_healthy

PG_BIN = Path("/usr/lib/postgresql/15/bin")
T = TypeVar("T")


class PostgresCluster:
    """A PostgreSQL 15 cluster in a temporary folder, on a free port, trust authentication.

    fsync is off: the restarts here are clean (`pg_ctl stop -m fast` writes a checkpoint), and
    what is asserted is what the platform did with its connections, not the disk's durability.
    """

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            pytest.skip(f"PostgreSQL 15's server binaries are not in {PG_BIN}")
        try:
            self._owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("no `postgres` OS user to run a cluster of the test's own as")
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="tiepdan-fault-pg-"))
        self.folder.chmod(0o755)
        os.chown(self.folder, self._owner.pw_uid, self._owner.pw_gid)
        self.data = self.folder / "data"
        self.log = self.folder / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _as_postgres(self, *args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{args[0]}: {done.stdout}{done.stderr}"

    def init(self) -> None:
        self._as_postgres(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
            "-o", options, "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """`fast`: every session is ended (their transactions rolled back), then a checkpoint."""
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-m", mode, "stop")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def create_database(self, name: str) -> str:
        self._as_postgres(
            str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
            "-U", "postgres", name,
        )  # fmt: skip
        return self.url(name)


class RedisServer:
    """A redis-server of the test's own, configured as docker-compose.yml runs production's
    (append-only file on, so queued jobs survive a restart), on a free port."""

    def __init__(self, folder: Path) -> None:
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server is not installed")
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "yes", "--dir", str(self.folder),
        ]  # fmt: skip
        self.process = start(command, self.folder / "redis.log", env=dict(os.environ))
        until(self.ping, timeout=10, what="redis-server answering")

    def stop(self) -> None:
        """SIGTERM, as `docker restart` stops it: Redis writes its append-only file and exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=2)

    def ping(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False


def tiepdan(*args: str, env: dict[str, str]) -> None:
    """A `tiepdan` command with these settings, as an operator would run it."""
    done = subprocess.run(
        [sys.executable, "-m", "tiepdan", *args], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, f"tiepdan {' '.join(args)}: {done.stdout}{done.stderr}"


def until(
    check: Callable[[], T], *, timeout: float, interval: float = 0.2, what: str = "the condition"
) -> T:
    """Poll `check` until it gives something true; that value. Fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"{what} not reached within {timeout:.0f} s"
        time.sleep(interval)
    return value


@dataclass
class Served:
    """The real API and worker of a fault test, as processes, with their logs."""

    url: str
    server: subprocess.Popen[bytes]
    server_log: Path
    worker: subprocess.Popen[bytes]
    worker_log: Path

    def still_running(self) -> bool:
        return self.server.poll() is None and self.worker.poll() is None


@contextmanager
def api_and_worker(folder: Path, env: dict[str, str], *, beat: bool) -> Iterator[Served]:
    """`tiepdan serve` and `tiepdan worker` (with beat, if asked) on `env`, logs in `folder`:
    yielded once both are ready, stopped at the end."""
    port = free_port()
    server_log, worker_log = folder / "server.log", folder / "worker.log"
    serve = [sys.executable, "-m", "tiepdan", "serve", "--port", str(port)]
    work = [sys.executable, "-m", "tiepdan", "worker", *(["--beat"] if beat else [])]
    server = start(serve, server_log, env=env)
    worker = start(work, worker_log, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, server, server_log, timeout=60)
        until(
            lambda: "ready." in worker_log.read_text() or worker.poll() is not None,
            timeout=60,
            what="the worker",
        )
        assert worker.poll() is None, worker_log.read_text()[-3000:]
        yield Served(url, server, server_log, worker, worker_log)
    finally:
        stop(worker)
        stop(server)
