"""The IOC feed on a million tickets: `python -m bench.ioc [--tickets N] [--quick]`.

With N tickets in PostgreSQL (the platform benchmark's database `tiepdan_bench` is reused when
it holds them, as after `make bench`'s first step; otherwise it is built the same way, KPI
aggregates included), it measures:

- the KPI aggregates: a full rebuild (what `tiepdan kpi rebuild` costs after a bulk load; taken
  from the load when the database is built here, else measured), and the incremental refresh
  that beat runs, after 2,000 tickets changed;
- in SQL and Python, uncached: the last full month's KPIs by agency, by ward and by day, the
  hotspots, and the monthly report (its figures, then each format);
- over HTTP against the real server (`tiepdan serve --workers 2`), with an `ioc` API key:
  `GET /api/v1/ioc/kpis` for the month by agency, by ward and by day, `GET /metrics`, and
  Open311's `GET /open311/v2/requests.json` for a 90-day window (the spec's maximum, 1,000
  requests per answer).

Target: the month's KPIs in < 1 s. The figures go to bench/results/ioc.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from bench import dataset
from bench.generate import LOCAL
from bench.load import LoadResult, run_load, running_server
from bench.platform import _last_full_month
from feedback import kpi_aggregates, kpis
from feedback.apikeys import create_api_key
from feedback.auth import Principal
from feedback.hotspots import find_hotspots
from feedback.models import ApiKeyScope
from feedback.monthly_report import build_monthly_report
from feedback.report_files import render_report
from tiepdan.db import alembic_config

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "ioc.md"
TARGET_SECONDS = 1.0
CHANGED_TICKETS = 2000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ioc", description=__doc__)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="fewer runs and requests (smoke)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument(
        "--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--database", default="tiepdan_bench")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args(argv)
    runs = 2 if args.quick else 5
    requests = 20 if args.quick else 200

    url, rebuild_seconds = _database(args)
    month_start, month_end = _last_full_month(datetime.now(UTC))
    first = month_start.astimezone(LOCAL).date()
    last = (month_end - timedelta(days=1)).astimezone(LOCAL).date()
    engine = create_engine(url)
    timings: dict[str, list[float]] = {}
    try:
        with Session(engine) as session:
            if rebuild_seconds is None:
                started = time.perf_counter()
                kpi_aggregates.rebuild(session)
                session.commit()
                rebuild_seconds = time.perf_counter() - started
            refresh_seconds, refreshed = _incremental_refresh(session)
            for group in ("agency", "ward", "day"):

                def month_kpis(group: Any = group) -> object:
                    kpis.forget_dashboards()  # what the first request after a refresh pays
                    return kpis.service_kpis(session, first=first, last=last, group_by=group)

                timings[f"month's KPIs by {group}"] = _time(month_kpis, runs)
            timings["month's KPIs by agency, again before the next refresh"] = _time(
                lambda: kpis.service_kpis(session, first=first, last=last, group_by="agency"), runs
            )
            timings["hotspots (last 7 days against 8 weeks)"] = _time(
                lambda: find_hotspots(session, last=last), runs
            )

            def figures() -> object:
                kpis.forget_dashboards()
                return build_monthly_report(session, first=first)

            timings["monthly report: figures"] = _time(figures, runs)
            report = build_monthly_report(session, first=first)
            for fmt in ("csv", "xlsx", "pdf"):
                timings[f"monthly report: {fmt} file"] = _time(
                    lambda fmt=fmt: render_report(report, fmt), max(runs // 2, 1)
                )
            key = create_api_key(
                session,
                name=f"bench {datetime.now(UTC):%H%M%S}",
                scope=ApiKeyScope.IOC,
                actor=Principal(kind="system", username="bench"),
            ).secret
            session.commit()
            tickets = session.execute(text("SELECT count(*) FROM tickets")).scalar_one()
            rows = session.execute(text("SELECT count(*) FROM kpi_daily")).scalar_one()
    finally:
        engine.dispose()

    period = f"from={first.isoformat()}&to={last.isoformat()}"
    now = datetime.now(UTC)
    window = (
        f"start_date={(now - timedelta(days=90)).strftime('%Y-%m-%dT%H:%M:%SZ')}"
        f"&end_date={now.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    )
    endpoints = [
        ("GET /api/v1/ioc/kpis, month by agency", f"/api/v1/ioc/kpis?{period}&group_by=agency"),
        ("GET /api/v1/ioc/kpis, month by ward", f"/api/v1/ioc/kpis?{period}&group_by=ward"),
        ("GET /api/v1/ioc/kpis, month by day", f"/api/v1/ioc/kpis?{period}&group_by=day"),
        ("GET /metrics", "/metrics"),
        ("GET /open311/v2/requests.json, 90 days", f"/open311/v2/requests.json?{window}"),
    ]
    results: list[LoadResult] = []
    sizes: dict[str, int] = {}
    log_path = Path(tempfile.gettempdir()) / f"{args.database}-ioc-server.log"
    with running_server(
        database_url=url, broker_url=args.broker_url, workers=args.workers, log_path=log_path
    ) as server:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=120) as client:
            for label, path in endpoints:
                response = client.get(path)
                assert response.status_code == 200, (path, response.text[:300])
                sizes[label] = len(response.content)
        for label, path in endpoints:
            print(f"Measuring {label} ...", flush=True)

            def get(client: httpx.Client, _: int, path: str = path) -> httpx.Response:
                return client.get(path)

            run_load(server.url, get, name="warm-up", total=10, concurrency=args.concurrency,
                     max_seconds=120, headers=headers)  # fmt: skip
            results.append(
                run_load(
                    server.url,
                    get,
                    name=label,
                    total=requests,
                    concurrency=args.concurrency,
                    max_seconds=180,
                    headers=headers,
                )
            )
    report_text = _render(
        args, tickets, rows, rebuild_seconds, (refresh_seconds, refreshed), timings, results,
        sizes, (first, last),
    )  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report_text, encoding="utf-8")
    print("\n" + report_text)
    print(f"Written to {args.output}")
    return 0


def _database(args: argparse.Namespace) -> tuple[str, float | None]:
    """The benchmark's database, reused when it holds the tickets at this schema; the seconds
    its KPI aggregates took to build when it is built here."""
    url = args.admin_url.rsplit("/", 1)[0] + f"/{args.database}"
    try:
        engine = create_engine(url)
        with engine.connect() as connection:
            have = connection.execute(text("SELECT count(*) FROM tickets")).scalar_one()
            head = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        engine.dispose()
        current = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
        if have >= args.tickets and head == current:
            print(f"Reusing {args.database}: {have:,} tickets.", flush=True)
            return url, None
    except Exception:  # no such database, or not this schema: build it
        pass
    print(f"Creating the database {args.database} ...", flush=True)
    url = dataset.recreate_database(args.admin_url, args.database)
    reference = dataset.prepare_database(url)
    load = dataset.load_tickets(url, reference, count=args.tickets, seed=args.seed)
    return url, load.kpi_rebuild_seconds


def _incremental_refresh(session: Session) -> tuple[float, int]:
    """Stamp CHANGED_TICKETS open tickets as staff would (a status change), then time the
    refresh that takes them in."""
    kpi_aggregates.refresh(session, limit=10**9)  # catch up first
    session.commit()
    session.execute(
        text(
            "UPDATE tickets SET status = 'in_progress', updated_at = now(), "
            "first_response_at = coalesce(first_response_at, now()) "
            "WHERE id IN (SELECT id FROM tickets WHERE status = 'assigned' "
            "ORDER BY id DESC LIMIT :n)"
        ),
        {"n": CHANGED_TICKETS},
    )
    session.commit()
    started = time.perf_counter()
    result = kpi_aggregates.refresh(session)
    session.commit()
    return time.perf_counter() - started, result.changed


def _time(work: Callable[[], object], runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
    return seconds


def _render(
    args: argparse.Namespace,
    tickets: int,
    rows: int,
    rebuild_seconds: float,
    refresh: tuple[float, int],
    timings: dict[str, list[float]],
    results: list[LoadResult],
    sizes: dict[str, int],
    month: tuple[Any, Any],
) -> str:
    refresh_seconds, refreshed = refresh
    lines = [
        "# The IOC feed on PostgreSQL",
        "",
        f"`python -m bench.ioc {' '.join(sys.argv[1:])}`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        f"- Data: **{tickets:,} tickets** in PostgreSQL (`{args.database}`); the KPI aggregates "
        f"hold {rows:,} daily rows.",
        f"- Month: {month[0]:%d/%m/%Y} to {month[1]:%d/%m/%Y} (local days), the last full month.",
        f"- Machine: {os.cpu_count()} cores, load average {_load()} when the report was written"
        + (
            " (above the core count: other processes were competing for the cores)."
            if os.getloadavg()[0] > (os.cpu_count() or 1)
            else "."
        ),
        f"- Target: a month's KPIs in < {TARGET_SECONDS:.0f} s.",
        "",
        "## The aggregates",
        "",
        f"- Full rebuild from the tickets (`tiepdan kpi rebuild`): **{rebuild_seconds:.0f} s**.",
        f"- Incremental refresh (beat's `feedback.refresh_kpis`) after {CHANGED_TICKETS:,} tickets "
        f"changed: **{refresh_seconds * 1000:.0f} ms** ({refreshed:,} contributions changed).",
        "",
        "## In SQL and Python, uncached",
        "",
        "| what | runs | min ms | median ms | max ms | target |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for label, seconds in timings.items():
        target = ""
        if label.startswith("month's KPIs by") and "again" not in label:
            target = "met" if statistics.median(seconds) < TARGET_SECONDS else "**missed**"
        lines.append(
            f"| {label} | {len(seconds)} | {min(seconds) * 1000:.0f} "
            f"| {statistics.median(seconds) * 1000:.0f} | {max(seconds) * 1000:.0f} | {target} |"
        )
    lines += [
        "",
        f"## Over HTTP (`tiepdan serve --workers {args.workers}`, {args.concurrency} requests "
        "in flight, an `ioc` API key)",
        "",
        "| request | requests | errors | req/s | p50 ms | p95 ms | p99 ms | body |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.count} | {r.errors} | {r.rate:.1f} | {r.percentile_ms(50):.1f} "
            f"| {r.percentile_ms(95):.1f} | {r.percentile_ms(99):.1f} "
            f"| {sizes.get(r.name, 0) / 1000:.0f} kB |"
        )
    errors = [f"- {r.name}: {r.first_error}" for r in results if r.first_error]
    lines += ["", *(["First errors:", *errors, ""] if errors else [])]
    lines += [
        "The KPIs never read `tickets`: they add up `kpi_daily` rows (one per local day and "
        "key), which beat keeps current every `TIEPDAN_KPI_REFRESH_SECONDS` (60) from the "
        "tickets changed since the last refresh; each answer gives its `fresh_as_of`. A server "
        "process keeps a report until the aggregates are refreshed again (the figures cannot "
        "have changed), so the HTTP rows are mostly that: the first request of each process "
        "after a refresh pays the uncached time above.",
        "",
    ]
    return "\n".join(lines)


def _load() -> str:
    return " / ".join(f"{value:.1f}" for value in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
