"""The real server as a subprocess, and a concurrent HTTP client that times requests.

The client is a pool of threads sharing one httpx client (kept-alive connections). Each thread
takes the next request number until the count or the time budget runs out, so a slow server
ends the run instead of hanging it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from core.settings import Settings
from tiepdan.processes import wait_for_url

Send = Callable[[httpx.Client, int], httpx.Response]
_TICKS = os.sysconf("SC_CLK_TCK")
# "postgres: 15/main: USER DATABASE HOST(PORT) STATE": a client backend and its database.
_BACKEND = re.compile(r"^postgres: [^:]+: \S+ (\S+) (?:\S*\(\d+\)|\[local\])")


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds spent during a measurement, by who spent them."""

    wall: float
    server: float
    postgres: float
    client: float
    machine: float  # every process on the machine, ours included
    connections: float  # PostgreSQL connections opened

    @property
    def other(self) -> float:
        return max(self.machine - self.server - self.postgres - self.client, 0.0)


Snapshot = tuple[float, dict[str, float]]  # (perf_counter, CPU seconds by group)


class CpuMeter:
    """Reads /proc: the server and its workers, the bench database's PostgreSQL processes
    (its backends and the shared ones: WAL writer, checkpointer ...), this client, and the
    whole machine, so a busy neighbour shows in the results instead of skewing them silently.

    A backend that exits during the measurement takes its CPU time with it (it lands in
    "other"), so the meter also counts the connections PostgreSQL opened meanwhile: a pool
    smaller than the requests in flight opens and closes connections all the time.
    """

    def __init__(self, *, server_pid: int, database: str, dsn: str) -> None:
        self.server_pid = server_pid
        self.database = database
        self.dsn = dsn
        self._own_connections = 0

    def snapshot(self) -> Snapshot:
        groups = {"server": 0.0, "postgres": 0.0, "client": 0.0}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except OSError:
                continue  # it exited meanwhile
            fields = stat.rsplit(")", 1)[1].split()  # the name may hold spaces; it ends at ")"
            group = self._group(int(entry.name), int(fields[1]), command)
            if group:
                ticks = int(fields[11]) + int(fields[12])  # utime, stime
                if group == "client":  # and its children that ended: wrk (bench/wrk.py)
                    ticks += int(fields[13]) + int(fields[14])
                groups[group] += ticks / _TICKS
        groups["machine"] = _machine_busy_seconds()
        groups["connections"] = self._sessions()
        return time.perf_counter(), groups

    def _sessions(self) -> float:
        self._own_connections += 1  # the meter's own connections are not the server's
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            row = connection.execute(
                "SELECT sessions FROM pg_stat_database WHERE datname = %s", (self.database,)
            ).fetchone()
        return float(row[0] if row else 0) - self._own_connections

    def _group(self, pid: int, parent: int, command: str) -> str | None:
        if pid == os.getpid():
            return "client"
        if self.server_pid in (pid, parent):
            return "server"
        if command.startswith("postgres:"):
            backend = _BACKEND.match(command)
            return "postgres" if backend is None or backend[1] == self.database else None
        return None

    @staticmethod
    def use(before: Snapshot, after: Snapshot) -> CpuUse:
        (start, first), (end, last) = before, after
        return CpuUse(wall=end - start, **{name: last[name] - first[name] for name in last})


def _machine_busy_seconds() -> float:
    # The first line of /proc/stat: user nice system idle iowait irq softirq steal ...
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / _TICKS


@dataclass
class LoadResult:
    name: str
    concurrency: int
    seconds: float
    latencies: list[float] = field(default_factory=list)  # of the successful requests, seconds
    errors: int = 0
    first_error: str | None = None
    cpu: CpuUse | None = None

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def percentile_ms(self, q: int) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] * 1000 if self.latencies else float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[q - 1] * 1000


def run_load(
    base_url: str,
    send: Send,
    *,
    name: str,
    total: int,
    concurrency: int,
    max_seconds: float,
    expected_status: int = 200,
    headers: dict[str, str] | None = None,
    meter: CpuMeter | None = None,
) -> LoadResult:
    """Send up to `total` requests with `concurrency` in flight, for at most `max_seconds`."""
    numbers = itertools.count()  # next() on it is atomic under the GIL
    latencies: list[float] = []
    failures: list[str] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(base_url=base_url, headers=headers, limits=limits, timeout=60) as client:
        deadline = time.perf_counter() + max_seconds

        def worker() -> None:
            while True:
                number = next(numbers)
                if number >= total or time.perf_counter() > deadline:
                    return
                started = time.perf_counter()
                try:
                    response = send(client, number)
                except httpx.HTTPError as exc:
                    failures.append(f"{exc.__class__.__name__}: {exc}")
                    continue
                elapsed = time.perf_counter() - started
                if response.status_code == expected_status:
                    latencies.append(elapsed)
                else:
                    failures.append(f"HTTP {response.status_code}: {response.text[:200]}")

        before = meter.snapshot() if meter else None
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for future in [pool.submit(worker) for _ in range(concurrency)]:
                future.result()
        seconds = time.perf_counter() - started
        cpu = CpuMeter.use(before, meter.snapshot()) if meter and before else None
    return LoadResult(
        name=name,
        concurrency=concurrency,
        seconds=seconds,
        latencies=latencies,
        errors=len(failures),
        first_error=failures[0] if failures else None,
        cpu=cpu,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Server:
    url: str
    pid: int


# A benchmark is thousands of people on one address (loopback), faster than any person: the
# limits and quotas per address, chat and account (core/settings.py) would refuse it.
LIMITS_OFF = {
    f"TIEPDAN_{name.upper()}": "off" for name in Settings.model_fields if name.startswith("limit_")
}


@contextmanager
def running_server(
    *, database_url: str, broker_url: str, workers: int, log_path: Path
) -> Iterator[Server]:
    """Start `tiepdan serve` on a free port, wait for /healthz, yield it; always stop it."""
    port = free_port()
    env = {
        **os.environ,
        "TIEPDAN_DATABASE_URL": database_url,
        "TIEPDAN_BROKER_URL": broker_url,
        **LIMITS_OFF,
    }
    tiepdan = Path(sys.executable).with_name("tiepdan")
    command = [str(tiepdan), "serve", "--port", str(port), "--workers", str(workers)]
    base_url = f"http://127.0.0.1:{port}"
    print(f"Starting the server: {' '.join(command)} (log: {log_path})", flush=True)
    process = start(command, log_path, env=env)
    try:
        wait_for_url(f"{base_url}/healthz", [process], timeout=60)
        yield Server(url=base_url, pid=process.pid)
    finally:
        stop(process)
        print("Server stopped.", flush=True)


def start(
    command: list[str],
    log_path: Path,
    *,
    env: dict[str, str],
    cwd: Path | None = None,
    append: bool = False,
) -> subprocess.Popen[bytes]:
    """Start a process with its output in `log_path`, in its own session, so that `stop` ends
    it together with its children (uvicorn's workers). With `append`, a process started again
    (bench/scaleout.py's kills) keeps what the one before it wrote in the log."""
    with log_path.open("ab" if append else "wb") as log:  # the child keeps its own copy
        log.write(f"== {time.strftime('%H:%M:%S')} started: {' '.join(command)}\n".encode())
        log.flush()
        return subprocess.Popen(
            command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, a grace period, then SIGKILL to whatever is left of its process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # uvicorn stops its workers, then itself
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    # A worker left behind by a crash: the process group is the one started above.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
