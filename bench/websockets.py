"""The open web chats' load on the database: `python -m bench.websockets [--quick] [--output FILE]`.

1. A fresh PostgreSQL database `tiepdan_bench_ws`, migrated, with 1,000 web-chat sessions.
2. For each way a chat learns of new messages (TIEPDAN_WEBCHAT_PUSH): `poll`, every open chat
   reading the database each second (the behaviour before LISTEN/NOTIFY), then `notify`:
   - `python -m tiepdan serve --workers 2` with that setting;
   - 1,000 WebSockets opened on it, left idle;
   - over 30 s, the database's transactions (pg_stat_database: xact_commit + xact_rollback)
     and table reads (pg_stat_user_tables: idx_scan + seq_scan), with the CPU of the server
     and of the whole machine. pg_stat_statements is not loaded on a default server; these need
     nothing;
   - then, one at a time, a staff reply committed from here (bot.delivery.add_outbound, as the
     worker does) to a random one of the open chats, timed until that WebSocket receives it.
3. Then the soak, on `notify` (production's way) only: the 1,000 WebSockets stay open for 10
   minutes while a staff reply goes to a random chat every two seconds. Every 30 s: the
   server's memory (the resident size of its processes, summed), the database's transactions
   per second, the sockets still open, and the replies' push latency. Memory is steady when the
   last samples are within a few per cent of the first ones after the warm-up.
4. A markdown report in bench/results/websockets.md; the `poll` run is the baseline.

PostgreSQL's counters reach pg_stat_database from an idle backend within about ten seconds:
the window starts after a warm-up as long, so that both ends lag alike.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session
from websockets.asyncio.client import ClientConnection, connect

from bench import dataset
from bench.load import LIMITS_OFF, CpuMeter, CpuUse, free_port, start, stop
from bench.report import _code_version
from bot.delivery import add_outbound
from bot.models import Conversation, WebchatSession
from bot.webchat import open_webchat_session
from integrations.channel import Reply
from tiepdan.db import upgrade
from tiepdan.processes import wait_for_url

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "websockets.md"
MODES = ("poll", "notify")
OPEN_AT_ONCE = 100  # WebSockets being opened at a time


@dataclass
class Plan:
    sockets: int = 1000
    warm_up: float = 12.0
    window: float = 30.0
    replies: int = 30
    soak: float = 600.0  # seconds the sockets stay open in the soak
    soak_sample: float = 30.0
    soak_reply_every: float = 2.0

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            sockets=100, warm_up=3.0, window=5.0, replies=5, soak=12.0, soak_sample=4.0,
            soak_reply_every=0.5,
        )  # fmt: skip


@dataclass
class Sample:
    """One soak interval: when it ended, the server's memory, the database's transactions per
    second over the interval, the sockets still open, and the replies pushed in it."""

    at: float
    rss_mb: float
    transactions_per_second: float
    open_sockets: int
    latencies: list[float] = field(default_factory=list)
    lost: int = 0


@dataclass
class Soak:
    sockets: int
    seconds: float
    samples: list[Sample] = field(default_factory=list)

    @property
    def latencies(self) -> list[float]:
        return [latency for sample in self.samples for latency in sample.latencies]

    @property
    def lost(self) -> int:
        return sum(sample.lost for sample in self.samples)

    def memory_growth(self) -> float:
        """The last third's mean memory over the first third's, minus one (0.02: 2% more)."""
        third = max(len(self.samples) // 3, 1)
        first = statistics.mean(s.rss_mb for s in self.samples[:third])
        last = statistics.mean(s.rss_mb for s in self.samples[-third:])
        return last / first - 1


@dataclass
class Run:
    mode: str
    sockets: int
    seconds: float = 0.0
    transactions: int = 0
    table_reads: int = 0
    cpu: CpuUse | None = None
    latencies: list[float] = field(default_factory=list)
    lost: int = 0

    def per_second_per_thousand(self, count: int) -> float:
        return count / self.seconds * 1000 / self.sockets

    def percentile_ms(self, q: int) -> float:
        return percentile_ms(self.latencies, q)


def percentile_ms(latencies: list[float], q: int) -> float:
    """The q-th percentile of latencies in seconds, in milliseconds (nan for none)."""
    ordered = sorted(latencies)
    if not ordered:
        return float("nan")
    return 1000 * ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.websockets", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 sockets, 5 s (smoke test)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--database", default="tiepdan_bench_ws")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args(argv)
    plan = Plan.quick() if args.quick else Plan()

    print(f"Creating the database {args.database} ...", flush=True)
    url = dataset.recreate_database(args.admin_url, args.database)
    upgrade(url)
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            session_ids = [open_webchat_session(session) for _ in range(plan.sockets)]
            session.commit()
        runs = []
        for mode in MODES:
            with _serving(url, args.broker_url, mode=mode) as (base, pid):
                meter = CpuMeter(server_pid=pid, database=args.database, dsn=dataset.libpq_url(url))
                runs.append(asyncio.run(_measure(base, engine, meter, session_ids, mode, plan)))
        with _serving(url, args.broker_url, mode="notify") as (base, pid):
            soak = asyncio.run(_soak(base, pid, engine, session_ids, plan, dataset.libpq_url(url)))
    finally:
        engine.dispose()

    report = _render(runs, plan, pg_version=_postgres_version(dataset.libpq_url(url)))
    report += _render_soak(soak, plan)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report, encoding="utf-8")
    print("\n" + report)
    print(f"Written to {args.output}")
    lost = (
        sum(run.lost for run in runs) + soak.lost + (soak.sockets - soak.samples[-1].open_sockets)
    )
    return 0 if lost == 0 else 1


@contextmanager
def _serving(url: str, broker_url: str, *, mode: str) -> Iterator[tuple[str, int]]:
    """`python -m tiepdan serve --workers 2` from this checkout; its URL and pid."""
    port = free_port()
    env = {
        **os.environ,
        "TIEPDAN_DATABASE_URL": url,
        "TIEPDAN_BROKER_URL": broker_url,
        "TIEPDAN_WEBCHAT_PUSH": mode,
        **LIMITS_OFF,
    }
    command = [sys.executable, "-m", "tiepdan", "serve", "--port", str(port), "--workers", "2"]
    command.append("--no-access-log")
    log_path = Path(tempfile.gettempdir()) / f"bench-websockets-{mode}.log"
    print(f"Starting the server ({mode}): {' '.join(command)} (log: {log_path})", flush=True)
    process = start(command, log_path, env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_url(f"{base}/healthz", [process], timeout=60)
        yield base, process.pid
    finally:
        stop(process)


async def _measure(
    base: str, engine: Engine, meter: CpuMeter, session_ids: list[str], mode: str, plan: Plan
) -> Run:
    run = Run(mode=mode, sockets=len(session_ids))
    sockets = await _open_sockets(base, session_ids)
    try:
        print(f"{mode}: {len(sockets)} WebSockets open; warming up ...", flush=True)
        await asyncio.sleep(plan.warm_up)
        before, cpu_before = _database_counters(meter.dsn), meter.snapshot()
        started = time.perf_counter()
        await asyncio.sleep(plan.window)
        after, cpu_after = _database_counters(meter.dsn), meter.snapshot()
        run.seconds = time.perf_counter() - started
        run.cpu = CpuMeter.use(cpu_before, cpu_after)
        run.transactions, run.table_reads = (a - b for a, b in zip(after, before, strict=True))
        print(f"{mode}: {run.transactions} transactions in {run.seconds:.1f} s", flush=True)

        rng = random.Random(7)
        for number in range(plan.replies):
            session_id = rng.choice(session_ids)
            started = time.perf_counter()
            await asyncio.to_thread(_staff_reply, engine, session_id, f"{mode} {number}")
            try:
                await asyncio.wait_for(sockets[session_id].recv(), timeout=10)
            except TimeoutError:
                run.lost += 1
                continue
            run.latencies.append(time.perf_counter() - started)
    finally:
        await asyncio.gather(*(s.close() for s in sockets.values()), return_exceptions=True)
    # Wait until the server has let the sockets go before the next run's server starts.
    httpx.get(f"{base}/healthz", timeout=10)
    return run


async def _soak(
    base: str, server_pid: int, engine: Engine, session_ids: list[str], plan: Plan, dsn: str
) -> Soak:
    """The sockets held open for `plan.soak` seconds, replies pushed to them all along."""
    soak = Soak(sockets=len(session_ids), seconds=plan.soak)
    sockets = await _open_sockets(base, session_ids)
    print(f"soak: {len(sockets)} WebSockets open for {plan.soak:.0f} s ...", flush=True)
    rng = random.Random(11)
    try:
        await asyncio.sleep(plan.warm_up)
        started = time.perf_counter()
        counted, counted_at = _database_counters(dsn)[0], started
        sample = Sample(at=0.0, rss_mb=0.0, transactions_per_second=0.0, open_sockets=0)
        number = 0
        while time.perf_counter() - started < plan.soak:
            session_id = rng.choice(session_ids)
            number += 1
            sent = time.perf_counter()
            await asyncio.to_thread(_staff_reply, engine, session_id, f"soak {number}")
            try:
                await asyncio.wait_for(sockets[session_id].recv(), timeout=10)
                sample.latencies.append(time.perf_counter() - sent)
            except TimeoutError:
                sample.lost += 1
            await asyncio.sleep(max(plan.soak_reply_every - (time.perf_counter() - sent), 0))
            if time.perf_counter() - counted_at >= plan.soak_sample:
                transactions, at = _database_counters(dsn)[0], time.perf_counter()
                sample.at = at - started
                sample.rss_mb = _resident_mb(server_pid)
                sample.transactions_per_second = (transactions - counted) / (at - counted_at)
                sample.open_sockets = sum(1 for s in sockets.values() if s.close_code is None)
                soak.samples.append(sample)
                print(
                    f"soak: {sample.at:.0f} s, {sample.rss_mb:.1f} MB, "
                    f"{sample.transactions_per_second:.1f} transactions/s, "
                    f"{sample.open_sockets} open, {len(sample.latencies)} replies pushed",
                    flush=True,
                )
                counted, counted_at = transactions, at
                sample = Sample(at=0.0, rss_mb=0.0, transactions_per_second=0.0, open_sockets=0)
    finally:
        await asyncio.gather(*(s.close() for s in sockets.values()), return_exceptions=True)
    return soak


async def _open_sockets(base: str, session_ids: list[str]) -> dict[str, ClientConnection]:
    ws_base = base.replace("http://", "ws://") + "/api/v1/webchat/ws/"
    sockets: dict[str, ClientConnection] = {}
    for first in range(0, len(session_ids), OPEN_AT_ONCE):
        batch = session_ids[first : first + OPEN_AT_ONCE]
        opened = await asyncio.gather(
            *(connect(ws_base + sid, proxy=None, ping_interval=None) for sid in batch)
        )
        sockets.update(zip(batch, opened, strict=True))
    return sockets


def _resident_mb(pid: int) -> float:
    """The resident memory of the processes of `pid`'s session (the server started in its own,
    with uvicorn's workers), in MB."""
    total_kb = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # it exited meanwhile
        if int(stat.rsplit(")", 1)[1].split()[3]) != pid:  # the session's id
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_kb += int(line.split()[1])
    return total_kb / 1024


def _database_counters(dsn: str) -> tuple[int, int]:
    """(transactions, table reads) of the bench database since its statistics began."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        transactions = connection.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database"
            " WHERE datname = current_database()"
        ).fetchone()
        reads = connection.execute(
            "SELECT sum(coalesce(idx_scan, 0) + coalesce(seq_scan, 0)) FROM pg_stat_user_tables"
        ).fetchone()
    assert transactions is not None and reads is not None
    return int(transactions[0]), int(reads[0] or 0)


def _staff_reply(engine: Engine, session_id: str, label: str) -> None:
    with Session(engine) as session:
        conversation_id = session.scalar(
            select(WebchatSession.conversation_id).where(WebchatSession.id == session_id)
        )
        conversation = session.get_one(Conversation, conversation_id)
        words = f"Phản hồi của cán bộ ({label})."
        add_outbound(session, conversation, Reply(text=words), channel_message_id=words)
        session.commit()


def _render(runs: list[Run], plan: Plan, *, pg_version: str) -> str:
    baseline = runs[0]
    lines = [
        "# WebSocket push benchmark",
        "",
        f"Run on {time.strftime('%Y-%m-%d %H:%M')} with `python -m bench.websockets`: "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, PostgreSQL {pg_version}, "
        f"`tiepdan serve --workers 2`, code {_code_version()}. The client, the server and "
        "PostgreSQL share the machine.",
        "",
        f"## {plan.sockets:,} idle WebSockets, {plan.window:.0f} s",
        "",
        "Nothing is written while the load is measured: every transaction and table read is the "
        "cost of keeping the chats open. Per second, per 1,000 open chats:",
        "",
        "| TIEPDAN_WEBCHAT_PUSH | transactions/s | table reads/s | vs poll | server CPU | "
        "machine busy |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        ratio = run.transactions / baseline.transactions if baseline.transactions else 0.0
        cpu = run.cpu
        lines.append(
            f"| `{run.mode}` | {run.per_second_per_thousand(run.transactions):.1f} "
            f"| {run.per_second_per_thousand(run.table_reads):.1f} | {ratio:.3f} "
            f"| {_share(cpu.server if cpu else 0, run.seconds)} "
            f"| {_share(cpu.machine if cpu else 0, run.seconds)} |"
        )
    lines += [
        "",
        "CPU is in cores' worth over the window (100% is one core): the server's processes, and "
        "everything the machine ran (another test run on a shared machine shows there). "
        "*Table reads* are the index and sequential scans PostgreSQL counted on the tables "
        "(pg_stat_user_tables).",
        "",
        f"## A staff reply to one of the {plan.sockets:,} open chats ({plan.replies} replies)",
        "",
        "From the reply's write (bot.delivery.add_outbound, committed here, as the worker does) "
        "to its arrival on that chat's WebSocket.",
        "",
        "| TIEPDAN_WEBCHAT_PUSH | p50 ms | p95 ms | max ms | lost |",
        "|---|---:|---:|---:|---:|",
    ]
    for run in runs:
        lines.append(
            f"| `{run.mode}` | {run.percentile_ms(50):.1f} | {run.percentile_ms(95):.1f} "
            f"| {run.percentile_ms(100):.1f} | {run.lost} |"
        )
    lines += [
        "",
        "## Reading the figures",
        "",
        "- `poll` is the behaviour before LISTEN/NOTIFY: each open chat runs one transaction a "
        "second. Its one statement reads the conversation's new messages; before, the session "
        "and the conversation were read again each second too (three statements), so the "
        "*table reads* of the old code were higher than this row, its transactions the same.",
        "- `notify`: one LISTEN connection per server process; each chat still reads every "
        "30 s (bot.message_push.SAFETY_POLL_SECONDS): 1,000 chats / 30 s is 33 reads a second, "
        "nearly all of what remains. The rest is the listeners' heartbeat (one query per process "
        "every 30 s) and this benchmark's own reads of the counters.",
        "- PostgreSQL's own CPU is not given: its processes' CPU times could not be attributed "
        "on this machine (bench.load.CpuMeter counted none, even under load).",
        "- On this 2-core machine the polling may not keep up with one read per chat per second: "
        "then the transactions are fewer than the chats, and the reply's latency longer.",
        "",
    ]
    return "\n".join(lines)


def _render_soak(soak: Soak, plan: Plan) -> str:
    latencies = soak.latencies
    lines = [
        "",
        f"## Soak: {soak.sockets:,} WebSockets open for {soak.seconds / 60:.0f} minutes (`notify`)",
        "",
        f"A staff reply to a random open chat every {plan.soak_reply_every:.0f} s, timed to its "
        f"WebSocket; a sample every {plan.soak_sample:.0f} s. *Memory* is the resident size of "
        "the server's processes (`tiepdan serve --workers 2`), summed.",
        "",
        "| at s | memory MB | transactions/s | sockets open | replies pushed | p95 ms | lost |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for sample in soak.samples:
        p95 = percentile_ms(sample.latencies, 95)
        lines.append(
            f"| {sample.at:.0f} | {sample.rss_mb:.1f} | {sample.transactions_per_second:.1f} "
            f"| {sample.open_sockets:,} | {len(sample.latencies)} | {p95:.1f} | {sample.lost} |"
        )
    last = soak.samples[-1]
    lines += [
        "",
        f"- **Memory**: {soak.samples[0].rss_mb:.1f} MB in the first sample, "
        f"{last.rss_mb:.1f} MB in the last; the last third's mean is "
        f"{100 * soak.memory_growth():+.1f}% of the first third's.",
        f"- **Push latency** over the soak ({len(latencies)} replies): p50 "
        f"{percentile_ms(latencies, 50):.1f} ms, p95 {percentile_ms(latencies, 95):.1f} ms, max "
        f"{percentile_ms(latencies, 100):.1f} ms; {soak.lost} lost.",
        f"- **Sockets**: {last.open_sockets:,} of {soak.sockets:,} still open at the end.",
        "- The database's transactions/s include the replies' own writes (one every "
        f"{plan.soak_reply_every:.0f} s) and this benchmark's reads of the counters.",
        "",
    ]
    return "\n".join(lines)


def _share(seconds: float, wall: float) -> str:
    return f"{100 * seconds / wall:.0f}%" if wall else "n/a"


def _postgres_version(dsn: str) -> str:
    with psycopg.connect(dsn) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
