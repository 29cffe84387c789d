"""The admin panel's pages under load: `python -m bench.admin [--tickets N] [--quick]`.

With N tickets in PostgreSQL (the platform benchmark's database `tiepdan_bench` is reused when
it already holds them, as after `make bench`'s first step; otherwise it is built the same way),
the real server (`tiepdan serve --workers 2`) renders, signed in through the panel's own form:

- the agency's queue (bench-sxd), first page and a page 100 pages deep (its cursor is reached
  by following the "Trang sau" links, as a person would);
- a ticket page whose ticket has 50 events;
- the dashboard for the last full month (bench-dispatcher). Its figures are cached per process
  for TIEPDAN_DASHBOARD_CACHE_SECONDS: the table gives the requests served from that cache, and
  the time of one uncached computation is measured on its own, in SQL, and reported beside it.

Each page is requested 200 times (--quick: 30) with 4 requests in flight, after a warm-up.
Target: p95 < 100 ms per page. The figures go to bench/results/admin.md.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from bench import dataset
from bench.generate import LOCAL
from bench.load import LoadResult, run_load, running_server
from bench.platform import _last_full_month
from feedback import kpis
from feedback.models import Agency, Ticket, TicketEvent, TicketStatus
from tiepdan.db import alembic_config

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "admin.md"
TARGET_P95_MS = 100.0
EVENTS_ON_THE_TICKET = 50
_NEXT = re.compile(r'href="/admin/queue\?([^"]*cursor=[^"&]+)" rel="next"')
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.admin", description=__doc__)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="30 requests a page (smoke test)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument(
        "--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--database", default="tiepdan_bench")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--deep", type=int, default=100, help="how many pages deep")
    args = parser.parse_args(argv)
    requests = 30 if args.quick else 200
    deep = min(args.deep, 10) if args.quick else args.deep

    url = _database(args)
    ticket_code = _ticket_with_events(url)
    month_start, month_end = _last_full_month(datetime.now(UTC))
    cold = _time_dashboard(url, month_start, month_end)

    log_path = Path(tempfile.gettempdir()) / f"{args.database}-admin-server.log"
    results: list[LoadResult] = []
    first_hits: dict[str, float] = {}
    with running_server(
        database_url=url, broker_url=args.broker_url, workers=args.workers, log_path=log_path
    ) as server:
        staff = _sign_in(server.url, dataset.STAFF_USERNAME)
        dispatcher = _sign_in(server.url, dataset.DISPATCHER_USERNAME)
        queue = "/admin/queue?tab=open"
        deep_query, reached = _walk(server.url, staff, queue, deep)
        local = month_start.astimezone(LOCAL).date()
        last_day = (month_end - timedelta(days=1)).astimezone(LOCAL).date()
        board = f"/admin/dashboard?from={local.isoformat()}&to={last_day.isoformat()}"
        # The first request of each server worker computes the month (the cache is empty).
        with httpx.Client(base_url=server.url, headers=dispatcher, timeout=120) as client:
            started = time.perf_counter()
            assert client.get(board).status_code == 200
            first_hits["dashboard, first request (computes the month)"] = (
                time.perf_counter() - started
            ) * 1000
        pages = [
            ("queue, first page", queue, staff),
            (f"queue, page {reached}", f"/admin/queue?{deep_query}", staff),
            (f"ticket page, {EVENTS_ON_THE_TICKET} events", f"/admin/tickets/{ticket_code}", staff),
            ("dashboard, last full month", board, dispatcher),
        ]
        for label, path, headers in pages:
            print(f"Measuring {label} ...", flush=True)

            def get(client: httpx.Client, _: int, path: str = path) -> httpx.Response:
                return client.get(path)

            run_load(server.url, get, name="warm-up", total=20, concurrency=args.concurrency,
                     max_seconds=120, headers=headers)  # fmt: skip
            results.append(
                run_load(
                    server.url,
                    get,
                    name=label,
                    total=requests,
                    concurrency=args.concurrency,
                    max_seconds=120,
                    headers=headers,
                )
            )
    report = _render(args, url, results, first_hits, cold, month_start, month_end)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report, encoding="utf-8")
    print("\n" + report)
    print(f"Written to {args.output}")
    return 0


def _database(args: argparse.Namespace) -> str:
    """The platform benchmark's database when it already holds the tickets, else a new one."""
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
            return url
    except Exception:  # no such database, or not this schema: build it
        pass
    print(f"Creating the database {args.database} ...", flush=True)
    url = dataset.recreate_database(args.admin_url, args.database)
    reference = dataset.prepare_database(url)
    dataset.load_tickets(url, reference, count=args.tickets, seed=args.seed)
    return url


def _ticket_with_events(url: str) -> str:
    """An open SXD ticket with 50 events (notes and replies added to its history)."""
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            agency_id = session.scalar(select(Agency.id).where(Agency.code == dataset.STAFF_AGENCY))
            ticket = session.scalars(
                select(Ticket)
                .where(Ticket.agency_id == agency_id, Ticket.status == TicketStatus.IN_PROGRESS)
                .order_by(Ticket.created_at.desc())
                .limit(1)
            ).one()
            have = session.scalar(
                select(func.count())
                .select_from(TicketEvent)
                .where(TicketEvent.ticket_id == ticket.id)
            )
            for number in range(have or 0, EVENTS_ON_THE_TICKET):
                session.add(
                    TicketEvent(
                        ticket_id=ticket.id,
                        kind="reply" if number % 3 == 0 else "note",
                        from_status="in_progress",
                        to_status="in_progress",
                        agency_id=agency_id,
                        actor_type="staff",
                        message=f"Cập nhật lần {number}: đã kiểm tra hiện trường, theo dõi tiếp.",
                        public=number % 3 == 0,
                        data={},
                        created_at=ticket.created_at + timedelta(minutes=number),
                    )
                )
            session.commit()
            return ticket.code
    finally:
        engine.dispose()


def _time_dashboard(url: str, start: datetime, end: datetime, runs: int = 3) -> list[float]:
    """Seconds to compute the month's dashboard in SQL, uncached (what a cache miss costs)."""
    engine = create_engine(url)
    seconds = []
    try:
        with Session(engine) as session:
            for _ in range(runs):
                kpis.forget_dashboards()  # the KPI reports kept until the next refresh, too
                started = time.perf_counter()
                kpis.compute_dashboard(session, start=start, end=end)
                seconds.append(time.perf_counter() - started)
    finally:
        engine.dispose()
    return seconds


def _sign_in(base_url: str, username: str) -> dict[str, str]:
    """Sign in through the panel's form; the headers that carry the session cookie."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        form = client.get("/admin/login")
        token = _CSRF.search(form.text)
        assert token is not None, form.text[:500]
        signed = client.post(
            "/admin/login",
            data={
                "username": username,
                "password": dataset.BENCH_PASSWORD,
                "csrf_token": token.group(1),
            },
        )
        assert signed.status_code == 303, signed.text[:500]
        cookie = client.cookies.get("tiepdan_admin")
    assert cookie is not None
    return {"Cookie": f"tiepdan_admin={cookie}"}


def _walk(base_url: str, headers: dict[str, str], queue: str, pages: int) -> tuple[str, int]:
    """Follow "Trang sau" up to `pages` times; the query string of the deepest page reached."""
    query = queue.split("?", 1)[1]
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        for page in range(1, pages + 1):
            html = client.get(f"/admin/queue?{query}").text
            found = _NEXT.search(html)
            if found is None:
                return query, page
            query = found.group(1).replace("&amp;", "&")
    return query, pages + 1


def _render(
    args: argparse.Namespace,
    url: str,
    results: list[LoadResult],
    first_hits: dict[str, float],
    cold: list[float],
    month_start: datetime,
    month_end: datetime,
) -> str:
    engine = create_engine(url)
    with engine.connect() as connection:
        tickets = connection.execute(text("SELECT count(*) FROM tickets")).scalar_one()
    engine.dispose()
    lines = [
        "# Admin panel pages under load",
        "",
        f"`python -m bench.admin {' '.join(sys.argv[1:])}`, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        f"- Data: **{tickets:,} tickets** in PostgreSQL (`{args.database}`).",
        f"- Server: `tiepdan serve --workers {args.workers}`; client: httpx, "
        f"**{args.concurrency} requests in flight**, on the same {_cores()}-core machine "
        f"(load average {_load()} when the report was written: above {_cores()}, other "
        "processes were competing for the cores).",
        f"- Dashboard month: {month_start:%Y-%m-%d} to {month_end:%Y-%m-%d} (local days).",
        f"- Target: p95 < {TARGET_P95_MS:.0f} ms per page.",
        "",
        "| page | requests | errors | req/s | p50 ms | p95 ms | p99 ms | p95 target |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        p95 = r.percentile_ms(95)
        verdict = "met" if p95 < TARGET_P95_MS else "**missed**"
        lines.append(
            f"| {r.name} | {r.count} | {r.errors} | {r.rate:.1f} | {r.percentile_ms(50):.1f} "
            f"| {p95:.1f} | {r.percentile_ms(99):.1f} | {verdict} |"
        )
    errors = [f"- {r.name}: {r.first_error}" for r in results if r.first_error]
    lines += ["", *(["First errors:", *errors, ""] if errors else [])]
    lines += [
        "## The dashboard's computation",
        "",
        "The dashboard's figures are computed at most once per "
        "`TIEPDAN_DASHBOARD_CACHE_SECONDS` (default 300) in each server process; the page says "
        "when. The rows above are served from that cache. What one computation costs:",
        "",
        f"- in SQL, uncached (`feedback.kpis.compute_dashboard`, {len(cold)} runs): "
        f"min {min(cold) * 1000:.0f} ms, median {statistics.median(cold) * 1000:.0f} ms;",
        *(f"- {label}: {ms:.0f} ms." for label, ms in first_hits.items()),
        "",
    ]
    return "\n".join(lines)


def _load() -> str:
    import os

    return " / ".join(f"{value:.1f}" for value in os.getloadavg())


def _cores() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
