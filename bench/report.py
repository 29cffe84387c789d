"""What a benchmark run found, and its markdown rendering (bench/results/platform.md)."""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.dataset import STAFF_USERNAME, LoadReport
from bench.kpi import AgencyKpi
from bench.load import CpuUse, LoadResult
from bench.wrk import WrkResult

CREATE_TARGET_PER_S = 300
LIST_TARGET_P95_MS = 50
QUEUE_INDEX = "ix_tickets_agency_status_created"


@dataclass(frozen=True)
class Environment:
    cpu: str
    nproc: int
    ram_gib: float
    python: str
    postgres: dict[str, str]
    workers: int
    concurrency: int
    list_concurrency: int
    seed: int
    code: str
    started_at: datetime

    @classmethod
    def current(cls, *, postgres: dict[str, str], **settings: int) -> Environment:
        return cls(
            cpu=_cpu_model(),
            nproc=os.cpu_count() or 0,
            ram_gib=_memory_kib() / 1024**2,
            python=platform.python_version(),
            postgres=postgres,
            code=_code_version(),
            started_at=datetime.now(UTC),
            **settings,
        )


@dataclass
class Results:
    command: str
    environment: Environment
    load: LoadReport
    status_counts: dict[str, int]
    database_size: str
    month: tuple[datetime, datetime]
    kpi_seconds: list[float]
    kpi_rows: list[AgencyKpi]
    kpi_plan: list[str]
    baseline: LoadResult | None = None
    create: LoadResult | None = None
    # The same two with wrk as the client, and the tickets the database gained meanwhile.
    wrk_baseline: WrkResult | None = None
    wrk_create: WrkResult | None = None
    wrk_created: int = 0
    lists: list[LoadResult] = field(default_factory=list)
    queue: str = ""
    deep_page: int = 0
    walk_ms: float = 0.0
    page_bytes: int = 0
    page_events: int = 0
    plans: dict[str, list[str]] = field(default_factory=dict)
    queued_jobs: int = 0
    total_seconds: float = 0.0


def render_markdown(results: Results) -> str:
    env = results.environment
    load = results.load
    lines = [
        "# Platform benchmark",
        "",
        f"Run on {env.started_at:%Y-%m-%d %H:%M} UTC with `{results.command}`"
        f" ({results.total_seconds / 60:.1f} min in all).",
        "",
        "## Machine and settings",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {env.cpu}, nproc {env.nproc} |",
        f"| RAM | {env.ram_gib:.1f} GiB |",
        f"| PostgreSQL | {env.postgres['server_version']}, shared_buffers"
        f" {env.postgres['shared_buffers']}, work_mem {env.postgres['work_mem']},"
        f" max_connections {env.postgres['max_connections']} (stock settings) |",
        f"| Python | {env.python} |",
        f"| Server | `tiepdan serve --workers {env.workers}` (uvicorn), Redis broker; no Celery"
        " worker runs, so created tickets stay `new` |",
        f"| Client | httpx in threads, {env.concurrency} requests in flight (staff queue: 1 and"
        f" {env.list_concurrency}); for throughput also wrk (C), {env.concurrency} connections;"
        f" client, server and PostgreSQL share the same {env.nproc} cores |",
        f"| Code | {env.code} |",
        f"| Data seed | {env.seed} |",
        "",
        "## Data",
        "",
        "| tickets | contacts | ticket events | COPY load | indexes + FKs rebuilt (in load)"
        " | VACUUM (ANALYZE) | database size |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {load.tickets:,} | {load.contacts:,} | {load.events:,} | {load.seconds:.1f} s"
        f" ({load.tickets / load.seconds:,.0f} tickets/s) | {load.rebuild_seconds:.1f} s"
        f" | {load.vacuum_seconds:.1f} s | {results.database_size} |",
        "",
        "Statuses: "
        + ", ".join(f"{status} {count:,}" for status, count in results.status_counts.items())
        + ".",
        "",
        "## Results",
        "",
        "| measurement | in flight | requests | errors | req/s | p50 ms | p95 ms | p99 ms"
        " | target | met |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    if results.baseline:
        lines.append(_row("GET /healthz (baseline)", results.baseline, "", ""))
    if results.create:
        met = results.create.rate >= CREATE_TARGET_PER_S and not results.create.errors
        lines.append(
            _row("POST /api/v1/tickets", results.create, f"≥ {CREATE_TARGET_PER_S}/s", _yes(met))
        )
    if results.wrk_baseline:
        lines.append(_wrk_row(results.wrk_baseline, "", ""))
    if results.wrk_create:
        met = results.wrk_create.rate >= CREATE_TARGET_PER_S and not results.wrk_create.failed
        lines.append(_wrk_row(results.wrk_create, f"≥ {CREATE_TARGET_PER_S}/s", _yes(met)))
    for result in results.lists:
        met = result.percentile_ms(95) < LIST_TARGET_P95_MS and not result.errors
        lines.append(_row(result.name, result, f"p95 < {LIST_TARGET_P95_MS} ms", _yes(met)))
    kpi_ms = [s * 1000 for s in results.kpi_seconds]
    start, end = results.month
    lines.append(
        f"| KPI by agency, {start:%Y-%m} (SQL, {len(kpi_ms)} runs) | 1 | {len(kpi_ms)} | 0 |"
        f" | min {min(kpi_ms):.0f} | median {statistics.median(kpi_ms):.0f} | | | |"
    )
    lines += [""]
    if results.baseline and results.create and results.baseline.rate:
        ratio = results.create.rate / results.baseline.rate
        lines.append(
            f"Creation runs at **{ratio:.2f}×** the /healthz rate of the same server and client"
            f" ({results.create.rate:,.0f} vs {results.baseline.rate:,.0f} req/s)."
        )
    if results.wrk_baseline and results.wrk_create and results.wrk_baseline.rate:
        ratio = results.wrk_create.rate / results.wrk_baseline.rate
        lines.append(
            f"With wrk as the client, creation runs at **{results.wrk_create.rate:,.0f}/s**,"
            f" {ratio:.3f}× the /healthz rate ({results.wrk_baseline.rate:,.0f} req/s); the"
            f" database gained {results.wrk_created:,} tickets during that run (wrk counted"
            f" {results.wrk_create.answered:,} answers: a request cut off at the end may still"
            " have been stored). Both clients run on the server's own cores: the client column"
            " below shows what each takes from them per request."
        )
    lines += [
        f"The staff queue is `{results.queue}` as `{STAFF_USERNAME}`"
        f" ({load.queue_size:,} tickets in it). The deep page is page {results.deep_page},"
        f" reached by following `next_cursor` (mean {results.walk_ms:.0f} ms per page while"
        f" walking). A page is {results.page_bytes / 1024:.0f} KiB with"
        f" {results.page_events} events.",
        f"{results.queued_jobs:,} routing jobs were queued in Redis by the creations (one per"
        " ticket, warm-up included) and deleted at the end.",
    ]
    for failed in [results.baseline, results.create, *results.lists]:
        if failed is not None and failed.first_error:
            lines.append(f"First error of {failed.name}: `{failed.first_error}`.")
    lines += ["", "### Where the CPU went", ""]
    measured: list[LoadResult | WrkResult | None] = [
        results.baseline,
        results.create,
        results.wrk_baseline,
        results.wrk_create,
        *results.lists,
    ]
    lines += _cpu_table(measured, env.nproc)
    lines += ["", "## Query plans", ""]
    lines += _plan_section(results)
    lines += ["", f"## KPI by agency, {start:%Y-%m-%d} to {end:%Y-%m-%d} (local time)", ""]
    lines += _kpi_table(results.kpi_rows)
    lines += [
        "",
        "## Notes",
        "",
        "- Tickets are generated from the seed: twelve months ending yesterday, weighted to"
        " working days and office hours, 14 categories, routed as the province's rules route"
        " them (ward-level categories to the ward committees), mostly resolved or closed the"
        " older they are.",
        f"- Only the {load.events_for} tickets (the measured queue) have events: a 'created'"
        " event for each of the other tickets is not needed to measure the list, the creation"
        " or the KPIs, and would add millions of rows to the load.",
        "- Loading drops the secondary indexes and foreign keys of `tickets`, COPYs, then"
        " rebuilds them (the rebuild is part of the load time). VACUUM (ANALYZE) then plays"
        " the part of autovacuum on a database that has been running for a year.",
        "- The database is kept after the run for inspection; the next run drops it.",
        "",
    ]
    return "\n".join(lines)


def _row(name: str, result: LoadResult, target: str, met: str) -> str:
    return (
        f"| {name} | {result.concurrency} | {result.count:,} | {result.errors} |"
        f" {result.rate:,.0f} | {result.percentile_ms(50):.1f} | {result.percentile_ms(95):.1f}"
        f" | {result.percentile_ms(99):.1f} | {target} | {met} |"
    )


def _wrk_row(result: WrkResult, target: str, met: str) -> str:
    return (
        f"| {result.name} | {result.connections} | {result.answered:,} | {result.failed} |"
        f" {result.rate:,.0f} | {result.p50_ms:.1f} | {result.p95_ms:.1f} | {result.p99_ms:.1f}"
        f" | {target} | {met} |"
    )


def _cpu_figures(result: LoadResult | WrkResult) -> tuple[int, int, CpuUse | None]:
    """In flight, requests answered, CPU use."""
    if isinstance(result, WrkResult):
        return result.connections, result.answered, result.cpu
    return result.concurrency, result.count, result.cpu


def _cpu_table(measured: list[LoadResult | WrkResult | None], nproc: int) -> list[str]:
    lines = [
        "CPU time per request, from /proc, while each measurement ran. Other processes are"
        " everything else on the machine: another test run, say, but also PostgreSQL backends"
        " that exited during the run (see the connections opened). When they are busy, the"
        " figures above are low.",
        "",
        "| measurement | in flight | server ms | PostgreSQL ms | client ms | machine busy"
        " | other processes (cores) | PostgreSQL connections opened |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in measured:
        if result is None:
            continue
        in_flight, count, cpu = _cpu_figures(result)
        if cpu is None or not count:
            continue
        lines.append(
            f"| {result.name} | {in_flight} | {cpu.server / count * 1000:.2f}"
            f" | {cpu.postgres / count * 1000:.2f} | {cpu.client / count * 1000:.2f}"
            f" | {cpu.machine / cpu.wall / nproc:.0%} | {cpu.other / cpu.wall:.2f}"
            f" | {cpu.connections:.0f} |"
        )
    return lines


def _yes(met: bool) -> str:
    return "yes" if met else "**no**"


def _plan_section(results: Results) -> list[str]:
    lines = []
    for label, plan in results.plans.items():
        text = "\n".join(plan)
        uses = QUEUE_INDEX in text
        note = f" — uses `{QUEUE_INDEX}`" if uses else ""
        if label.endswith("tickets") and not uses:
            note = f" — **does not use `{QUEUE_INDEX}`**"
        lines += [f"{label}{note}:", "", "```", *_summary(plan), "```", ""]
    if results.kpi_plan:
        lines += ["KPI query:", "", "```", *_summary(results.kpi_plan), "```", ""]
    first = next((plan for label, plan in results.plans.items() if "tickets" in label), None)
    if first:
        lines += [
            "<details><summary>Full plan of the first page's ticket query</summary>",
            "",
            "```",
            *first,
            "```",
            "",
            "</details>",
        ]
    return lines


def _summary(plan: list[str]) -> list[str]:
    """The plan's nodes and execution time, without the cost estimates."""
    kept = []
    for number, line in enumerate(plan):
        if number == 0 or "->" in line or line.startswith("Execution Time"):
            kept.append(re.sub(r"\s*\(cost=[^)]*\)", "", line).rstrip())
    return kept


def _kpi_table(rows: list[AgencyKpi], limit: int = 12) -> list[str]:
    lines = [
        "| agency | created | resolved | on time | first response median / mean (h)"
        " | resolution median / mean (h) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows[:limit]:
        on_time = f"{row.on_time_rate:.0%}" if row.on_time_rate is not None else "–"
        lines.append(
            f"| {row.agency} | {row.created:,} | {row.resolved:,} | {on_time}"
            f" | {_hours(row.first_response_median_h)} / {_hours(row.first_response_avg_h)}"
            f" | {_hours(row.resolution_median_h)} / {_hours(row.resolution_avg_h)} |"
        )
    if len(rows) > limit:
        rest = rows[limit:]
        lines.append(
            f"| … {len(rest)} more agencies | {sum(r.created for r in rest):,}"
            f" | {sum(r.resolved for r in rest):,} | | | |"
        )
    return lines


def _hours(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _code_version() -> str:
    """The commit measured, and whether the working tree differed from it."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown (no git)"
    if not commit:
        return "unknown (not a git checkout)"
    return f"{commit} with uncommitted changes" if changes else commit


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_kib() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
