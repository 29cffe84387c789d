"""The platform benchmark: `python -m bench.platform [--tickets N] [--quick] [--output FILE]`.

1. A fresh PostgreSQL database `tiepdan_bench`, migrated and seeded, with N tickets bulk-loaded.
2. The KPI aggregate by agency over the last full month, timed in SQL.
3. The real server (`tiepdan serve --workers 2`) in a subprocess, then, over HTTP: /healthz as a
   baseline, ticket creation with the service token, and an agency's staff queue (first page
   and a page deep in the keyset pagination), with the query plans of that queue.
4. A markdown table of the figures in bench/results/platform.md. The database is kept for
   inspection; the server is always stopped.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import redis
from sqlalchemy import create_engine, event, text
from sqlalchemy.orm import Session

from bench import dataset, generate, kpi, wrk
from bench.generate import LOCAL, Reference
from bench.load import CpuMeter, Send, run_load, running_server
from bench.report import Environment, Results, render_markdown
from core.settings import get_settings
from feedback import queries
from feedback.auth import Principal
from feedback.models import StaffRole, TicketStatus

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "platform.md"


@dataclass(frozen=True)
class Plan:
    """How many requests each measurement makes; --quick shrinks everything."""

    baseline_requests: int = 3_000
    create_requests: int = 3_000
    list_requests: int = 200
    deep_pages: int = 100
    max_seconds: float = 120
    warmup: int = 100
    kpi_runs: int = 3
    wrk_seconds: int = 15  # each throughput run with wrk, after a third as long to warm up

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            baseline_requests=300,
            create_requests=300,
            list_requests=40,
            deep_pages=10,
            max_seconds=15,
            warmup=20,
            wrk_seconds=3,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.platform", description=__doc__)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="small request counts (smoke test)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument(
        "--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--database", default="tiepdan_bench")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    parser.add_argument(
        "--list-concurrency", type=int, default=8, help="staff list requests in flight (loaded)"
    )
    args = parser.parse_args(argv)
    plan = Plan.quick() if args.quick else Plan()
    started = time.perf_counter()

    print(f"Creating the database {args.database} ...", flush=True)
    url = dataset.recreate_database(args.admin_url, args.database)
    reference = dataset.prepare_database(url)
    load = dataset.load_tickets(url, reference, count=args.tickets, seed=args.seed)
    month_start, month_end = _last_full_month(datetime.now(UTC))
    kpi_seconds, kpi_rows, kpi_plan = _time_kpis(url, month_start, month_end, runs=plan.kpi_runs)

    results = Results(
        command=" ".join(["python -m bench.platform", *(argv or sys.argv[1:])]),
        environment=_environment(url, args),
        load=load,
        status_counts=_status_counts(url),
        database_size=_database_size(url),
        month=(month_start, month_end),
        kpi_seconds=kpi_seconds,
        kpi_rows=kpi_rows,
        kpi_plan=kpi_plan,
    )
    log_path = Path(tempfile.gettempdir()) / f"{args.database}-server.log"
    _clear_queue(args.broker_url)
    try:
        with running_server(
            database_url=url, broker_url=args.broker_url, workers=args.workers, log_path=log_path
        ) as server:
            meter = CpuMeter(
                server_pid=server.pid, database=args.database, dsn=dataset.libpq_url(url)
            )
            _measure_http(server.url, meter, url, reference, load, plan, args, results)
    finally:
        results.queued_jobs = _clear_queue(args.broker_url)
    results.total_seconds = time.perf_counter() - started

    markdown = render_markdown(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(markdown, encoding="utf-8")
    print("\n" + markdown)
    print(f"Written to {args.output}")
    return 0


def _measure_http(
    base_url: str,
    meter: CpuMeter,
    database_url: str,
    reference: Reference,
    load: dataset.LoadReport,
    plan: Plan,
    args: argparse.Namespace,
    results: Results,
) -> None:
    concurrency = args.concurrency

    def healthz(client: httpx.Client, _: int) -> httpx.Response:
        return client.get("/healthz")

    print("Measuring GET /healthz (baseline) ...", flush=True)
    run_load(base_url, healthz, name="warm-up", total=plan.warmup, concurrency=concurrency,
             max_seconds=30)  # fmt: skip
    results.baseline = run_load(
        base_url,
        healthz,
        name="GET /healthz",
        total=plan.baseline_requests,
        concurrency=concurrency,
        max_seconds=plan.max_seconds,
        meter=meter,
    )

    print("Measuring POST /api/v1/tickets ...", flush=True)
    bodies = generate.creation_bodies(reference, load.contacts, plan.warmup + plan.create_requests)
    service_headers = {
        "Authorization": f"Bearer {get_settings().service_token}",
        "Content-Type": "application/json",
    }

    def create(offset: int) -> Send:
        def send(client: httpx.Client, number: int) -> httpx.Response:
            return client.post("/api/v1/tickets", content=bodies[offset + number])

        return send

    run_load(base_url, create(0), name="warm-up", total=plan.warmup, concurrency=concurrency,
             max_seconds=30, expected_status=201, headers=service_headers)  # fmt: skip
    results.create = run_load(
        base_url,
        create(plan.warmup),
        name="POST /api/v1/tickets",
        total=plan.create_requests,
        concurrency=concurrency,
        max_seconds=plan.max_seconds,
        expected_status=201,
        headers=service_headers,
        meter=meter,
    )

    if wrk.available():
        _measure_with_wrk(
            base_url, meter, database_url, bodies, service_headers, plan, args, results
        )
    else:
        print("wrk is not installed (apt-get install wrk): throughput with the Python client only.")

    print("Measuring the staff queue ...", flush=True)
    token = httpx.post(
        f"{base_url}/api/v1/auth/token",
        data={"username": dataset.STAFF_USERNAME, "password": dataset.BENCH_PASSWORD},
    ).json()["access_token"]
    staff_headers = {"Authorization": f"Bearer {token}"}
    queue = f"/api/v1/tickets?agency={dataset.STAFF_AGENCY}&status={load.queue_status}&limit=50"
    results.queue = queue
    deep_cursor, deep_page, walk_ms = _walk_pages(base_url, queue, staff_headers, plan.deep_pages)
    results.deep_page = deep_page
    results.walk_ms = walk_ms
    pages = {"first page": queue, f"page {deep_page}": f"{queue}&cursor={deep_cursor}"}
    for label, path in pages.items():
        for level in (1, args.list_concurrency):

            def get(client: httpx.Client, _: int, path: str = path) -> httpx.Response:
                return client.get(path)

            run_load(base_url, get, name="warm-up", total=plan.warmup // 5, concurrency=level,
                     max_seconds=30, headers=staff_headers)  # fmt: skip
            results.lists.append(
                run_load(
                    base_url,
                    get,
                    name=f"GET staff queue, {label}",
                    total=plan.list_requests,
                    concurrency=level,
                    max_seconds=plan.max_seconds,
                    headers=staff_headers,
                    meter=meter,
                )
            )
    with httpx.Client(base_url=base_url, headers=staff_headers) as client:
        first = client.get(queue)
        results.page_bytes = len(first.content)
        results.page_events = sum(len(item["events"]) for item in first.json()["items"])
    results.plans = _explain_queue(database_url, reference, load.queue_status, deep_cursor)


def _measure_with_wrk(
    base_url: str,
    meter: CpuMeter,
    database_url: str,
    bodies: list[bytes],
    service_headers: dict[str, str],
    plan: Plan,
    args: argparse.Namespace,
    results: Results,
) -> None:
    """/healthz and ticket creation again, with wrk as the client (bench/wrk.py says why)."""
    connections, seconds = args.concurrency, plan.wrk_seconds
    warmup = max(1, seconds // 3)
    print(
        f"Measuring /healthz and POST /api/v1/tickets with wrk ({seconds} s each) ...", flush=True
    )
    wrk.run_wrk(base_url, "/healthz", name="warm-up", connections=connections, seconds=warmup)
    results.wrk_baseline = wrk.run_wrk(
        base_url,
        "/healthz",
        name="GET /healthz (wrk)",
        connections=connections,
        seconds=seconds,
        meter=meter,
    )

    def create(name: str, duration: int, cpu: CpuMeter | None) -> wrk.WrkResult:
        return wrk.run_wrk(
            base_url,
            "/api/v1/tickets",
            name=name,
            connections=connections,
            seconds=duration,
            method="POST",
            bodies=bodies,
            headers=service_headers,
            meter=cpu,
        )

    create("warm-up", warmup, None)
    before = _ticket_count(database_url)
    results.wrk_create = create("POST /api/v1/tickets (wrk)", seconds, meter)
    results.wrk_created = _ticket_count(database_url) - before


def _ticket_count(database_url: str) -> int:
    return sum(_status_counts(database_url).values())


def _walk_pages(
    base_url: str, queue: str, headers: dict[str, str], pages: int
) -> tuple[str, int, float]:
    """Follow next_cursor for up to `pages` pages, as a staff member paging through the queue.

    Returns the deepest cursor, the number of the page it leads to, and the mean ms per page.
    """
    cursor: str | None = None
    timings = []
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        for page in range(1, pages + 1):
            started = time.perf_counter()
            response = client.get(queue + (f"&cursor={cursor}" if cursor else ""))
            timings.append(time.perf_counter() - started)
            response.raise_for_status()
            following = response.json()["next_cursor"]
            if following is None:  # the last page: measure the one just fetched
                if cursor is None:
                    raise RuntimeError("the staff queue has a single page: load more tickets")
                return cursor, page, statistics.mean(timings) * 1000
            cursor = following
    assert cursor is not None
    return cursor, pages + 1, statistics.mean(timings) * 1000


def _explain_queue(
    url: str, reference: Reference, status: str, deep_cursor: str
) -> dict[str, list[str]]:
    """EXPLAIN (ANALYZE, BUFFERS) of the exact SQL `list_tickets` runs for the staff user."""
    engine = create_engine(url)
    captured: list[tuple[str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def capture(_conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        captured.append((statement, parameters))

    principal = Principal(
        kind="staff",
        role=StaffRole.AGENCY_STAFF,
        user_id=reference.staff_user_id,
        agency_id=reference.agency_ids[dataset.STAFF_AGENCY],
        username=dataset.STAFF_USERNAME,
    )
    filters = queries.TicketFilters(status=[TicketStatus(status)], agency=dataset.STAFF_AGENCY)
    plans: dict[str, list[str]] = {}
    try:
        with Session(engine) as session:
            for label, cursor in (("first page", None), ("deep page", deep_cursor)):
                captured.clear()
                queries.list_tickets(session, principal=principal, filters=filters, cursor=cursor)
                statements = list(captured)
                for statement, parameters in statements:
                    if "FROM tickets" in statement:
                        kind = "tickets"
                    elif "FROM ticket_events" in statement:
                        kind = "events"
                    else:
                        continue
                    plan = session.connection().exec_driver_sql(
                        "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
                    )
                    plans[f"{label}: {kind}"] = list(plan.scalars())
    finally:
        engine.dispose()
    return plans


def _time_kpis(
    url: str, start: datetime, end: datetime, *, runs: int
) -> tuple[list[float], list[kpi.AgencyKpi], list[str]]:
    print(f"Timing the KPI query ({start.date()} to {end.date()}) ...", flush=True)
    engine = create_engine(url)
    seconds = []
    try:
        with engine.connect() as connection:
            for _ in range(runs):
                started = time.perf_counter()
                rows = kpi.kpis_by_agency(connection, start=start, end=end)
                seconds.append(time.perf_counter() - started)
            plan = connection.execute(
                text("EXPLAIN (ANALYZE) " + kpi.KPI_BY_AGENCY.text), {"start": start, "end": end}
            )
            plan_lines = list(plan.scalars())
    finally:
        engine.dispose()
    return seconds, rows, plan_lines


def _last_full_month(now: datetime) -> tuple[datetime, datetime]:
    today = now.astimezone(LOCAL).date()
    end = date(today.year, today.month, 1)
    start = date(end.year - (end.month == 1), (end.month - 2) % 12 + 1, 1)
    return (
        datetime(start.year, start.month, 1, tzinfo=LOCAL),
        datetime(end.year, end.month, 1, tzinfo=LOCAL),
    )


def _environment(url: str, args: argparse.Namespace) -> Environment:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:

            def show(name: str) -> str:
                return connection.execute(text(f"SHOW {name}")).scalar_one()

            postgres = {
                name: show(name)
                for name in ("server_version", "shared_buffers", "work_mem", "max_connections")
            }
    finally:
        engine.dispose()
    return Environment.current(
        postgres=postgres,
        workers=args.workers,
        concurrency=args.concurrency,
        list_concurrency=args.list_concurrency,
        seed=args.seed,
    )


def _status_counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT status, count(*) FROM tickets GROUP BY status ORDER BY 2 DESC")
            )
            return {status: count for status, count in rows}
    finally:
        engine.dispose()


def _database_size(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(
                text("SELECT pg_size_pretty(pg_database_size(current_database()))")
            ).scalar_one()
    finally:
        engine.dispose()


def _clear_queue(broker_url: str) -> int:
    """Drop the routing jobs the creations queued (no worker runs); return how many there were."""
    client = redis.Redis.from_url(broker_url)
    try:
        queue = get_settings().task_queue  # the Redis list the routing jobs are pushed to
        queued = client.llen(queue)
        client.delete(queue)
        return int(queued)
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
