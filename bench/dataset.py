"""The benchmark database: a fresh PostgreSQL database, migrated and seeded, then bulk-loaded.

The tickets come from `bench.generate` and are written with COPY.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy import create_engine, make_url, select, text
from sqlalchemy.orm import Session

from bench import corpus
from bench.generate import TICKET_COLUMNS, Reference, TicketFactory
from feedback import kpi_aggregates
from feedback.auth import create_user
from feedback.models import Agency, Category, RoutingRule, StaffRole, Ward
from feedback.province import default_province_file, load_province
from feedback.seed import seed_province
from tiepdan.db import upgrade

BENCH_PASSWORD = "bench-password-123"
DISPATCHER_USERNAME = "bench-dispatcher"
STAFF_USERNAME = "bench-sxd"
STAFF_AGENCY = "SXD"
PROGRESS_EVERY = 100_000


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as psycopg's own connection string."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def recreate_database(admin_url: str, name: str) -> str:
    """Drop and create database `name` on the server of `admin_url`; return its URL."""
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def prepare_database(url: str) -> Reference:
    """Migrate, seed the Hồ Chí Minh province, create the staff users; return the reference."""
    upgrade(url)
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            seed_province(session, config=load_province(default_province_file()))
            create_user(
                session,
                username=DISPATCHER_USERNAME,
                password=BENCH_PASSWORD,
                role=StaffRole.DISPATCHER,
            )
            staff = create_user(
                session,
                username=STAFF_USERNAME,
                password=BENCH_PASSWORD,
                role=StaffRole.AGENCY_STAFF,
                agency_code=STAFF_AGENCY,
            )
            reference = _read_reference(session, staff_user_id=staff.id)
            session.commit()
    finally:
        engine.dispose()
    return reference


def _read_reference(session: Session, *, staff_user_id: int) -> Reference:
    wards = [(w.code, w.name, w.latitude, w.longitude) for w in session.scalars(select(Ward))]
    categories = list(session.scalars(select(Category)))
    province_agency: dict[str, int] = {}
    province_priority: dict[str, int] = {}
    ward_agency: dict[tuple[str, str], int] = {}
    ward_priority: dict[tuple[str, str], int] = {}
    for rule in session.scalars(select(RoutingRule).order_by(RoutingRule.id)):
        if rule.ward_code is None:
            if rule.priority > province_priority.get(rule.category_code, -1):
                province_agency[rule.category_code] = rule.agency_id
                province_priority[rule.category_code] = rule.priority
        else:
            key = (rule.category_code, rule.ward_code)
            if rule.priority > ward_priority.get(key, -1):
                ward_agency[key] = rule.agency_id
                ward_priority[key] = rule.priority
    for category in categories:
        if category.code not in province_agency and category.default_agency_id is not None:
            province_agency[category.code] = category.default_agency_id
    return Reference(
        wards=sorted(wards),
        sla_days={c.code: c.sla_working_days for c in categories},
        province_agency=province_agency,
        ward_agency=ward_agency,
        agency_ids={a.code: a.id for a in session.scalars(select(Agency))},
        staff_user_id=staff_user_id,
    )


def _copy(
    connection: psycopg.Connection, table: str, columns: tuple[str, ...], rows: Iterable[tuple]
) -> int:
    started = time.perf_counter()
    count = 0
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for count, row in enumerate(rows, start=1):
                copy.write_row(row)
                if count % PROGRESS_EVERY == 0:
                    rate = count / (time.perf_counter() - started)
                    print(f"  {table}: {count:>9,} rows  ({rate:,.0f} rows/s)", flush=True)
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
        )
    return count


def _drop_indexes_and_foreign_keys(connection: psycopg.Connection, table: str) -> list[str]:
    """Drop `table`'s secondary indexes and foreign keys; return the statements that restore them.

    PostgreSQL's advice for populating a database: building an index once is much faster than
    updating it row by row, and re-adding a foreign key checks every row in one pass. The
    primary key and the unique code stay, so the load still refuses duplicates.
    """
    indexes = connection.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i"
        " WHERE i.tablename = %s AND NOT EXISTS"
        " (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
        (table,),
    ).fetchall()
    foreign_keys = connection.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype = 'f'",
        (table,),
    ).fetchall()
    for name, _ in foreign_keys:
        connection.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    for name, _ in indexes:
        connection.execute(f"DROP INDEX {name}")
    restore = [definition for _, definition in indexes]
    restore += [f"ALTER TABLE {table} ADD CONSTRAINT {name} {rule}" for name, rule in foreign_keys]
    return restore


def _restore(connection: psycopg.Connection, statements: list[str]) -> float:
    started = time.perf_counter()
    connection.execute("SET maintenance_work_mem = '256MB'")
    for statement in statements:
        connection.execute(statement)
    seconds = time.perf_counter() - started
    print(f"  {len(statements)} indexes and foreign keys rebuilt in {seconds:.1f} s", flush=True)
    return seconds


@dataclass
class LoadReport:
    """What was loaded, how long it took, and the staff queue the HTTP measurements use."""

    tickets: int
    contacts: int
    events: int
    seconds: float
    rebuild_seconds: float
    vacuum_seconds: float
    queue_status: str
    queue_size: int
    events_for: str
    kpi_rebuild_seconds: float = 0.0


def load_tickets(url: str, reference: Reference, *, count: int, seed: int) -> LoadReport:
    """Bulk-load `count` tickets (and their contacts) with COPY, add the measured queue's
    events, then VACUUM (ANALYZE)."""
    now = datetime.now(UTC)
    contacts = max(count // 4, 1)
    factory = TicketFactory(reference, seed=seed, now=now, contacts=contacts)
    started = time.perf_counter()
    with psycopg.connect(libpq_url(url)) as connection:
        print(f"Loading {contacts:,} contacts and {count:,} tickets with COPY ...", flush=True)
        _copy(
            connection,
            "contacts",
            ("id", "kind", "name", "phone", "phone_consent", "company_name", "tax_code",
             "created_at"),
            factory.contact_rows(),
        )  # fmt: skip
        _copy(
            connection,
            "contact_identities",
            ("id", "contact_id", "channel", "channel_user_id"),
            factory.identity_rows(),
        )
        deferred = _drop_indexes_and_foreign_keys(connection, "tickets")
        _copy(connection, "tickets", TICKET_COLUMNS, factory.ticket_rows(count))
        rebuild_seconds = _restore(connection, deferred)
        connection.commit()
        staff_agency = reference.agency_ids[STAFF_AGENCY]
        queue_status, queue_size = _busiest_open_status(connection, staff_agency)
        events = _load_events(
            connection,
            agency_id=staff_agency,
            status=queue_status,
            staff_user_id=reference.staff_user_id,
            rng=random.Random(seed + 1),
        )
        connection.commit()
    load_seconds = time.perf_counter() - started
    print(f"Loaded in {load_seconds:.1f} s; VACUUM (ANALYZE) ...", flush=True)
    started = time.perf_counter()
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE)")
    vacuum_seconds = time.perf_counter() - started
    kpi_seconds = rebuild_kpis(url)
    return LoadReport(
        tickets=count,
        contacts=contacts,
        events=events,
        seconds=load_seconds,
        rebuild_seconds=rebuild_seconds,
        vacuum_seconds=vacuum_seconds,
        queue_status=queue_status,
        queue_size=queue_size,
        events_for=f"{STAFF_AGENCY}/{queue_status}",
        kpi_rebuild_seconds=kpi_seconds,
    )


def rebuild_kpis(url: str) -> float:
    """Build the KPI aggregates of the loaded tickets (COPY bypasses their refresh), as
    `tiepdan kpi rebuild` does after a bulk load; returns the seconds it took."""
    print("Building the KPI aggregates (feedback.kpi_aggregates.rebuild) ...", flush=True)
    started = time.perf_counter()
    engine = create_engine(url)
    try:
        with Session(engine) as session:

            def progress(count: int) -> None:
                if count % PROGRESS_EVERY == 0:
                    print(f"  kpi aggregates: {count:>9,} tickets", flush=True)

            kpi_aggregates.rebuild(session, progress=progress)
            session.commit()
    finally:
        engine.dispose()
    seconds = time.perf_counter() - started
    print(f"  KPI aggregates built in {seconds:.1f} s", flush=True)
    return seconds


def _busiest_open_status(connection: psycopg.Connection, agency_id: int) -> tuple[str, int]:
    row = connection.execute(
        "SELECT status, count(*) FROM tickets"
        " WHERE agency_id = %s AND status IN ('assigned', 'in_progress', 'reopened')"
        " GROUP BY status ORDER BY count(*) DESC LIMIT 1",
        (agency_id,),
    ).fetchone()
    if row is None:
        raise RuntimeError("no open tickets for the staff agency: load more tickets")
    return row[0], row[1]


# kind, from status, to status, when, (actor type, actor id), message, public
_Event = tuple[str, str | None, str, datetime, tuple[str, int | None], str | None, bool]

_EVENT_COLUMNS = (
    "ticket_id", "kind", "from_status", "to_status", "agency_id", "actor_type", "actor_id",
    "message", "public", "data", "created_at",
)  # fmt: skip


def _load_events(
    connection: psycopg.Connection,
    *,
    agency_id: int,
    status: str,
    staff_user_id: int,
    rng: random.Random,
) -> int:
    """History for the tickets of the staff queue that is measured, so pages carry events."""
    tickets = connection.execute(
        "SELECT id, created_at, first_response_at, updated_at FROM tickets"
        " WHERE agency_id = %s AND status = %s ORDER BY id",
        (agency_id, status),
    ).fetchall()
    print(f"Adding the history of the {len(tickets):,} tickets in that queue ...", flush=True)
    count = 0
    copy_sql = f"COPY ticket_events ({', '.join(_EVENT_COLUMNS)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.copy(copy_sql) as copy:
        for ticket_id, created, first_response, updated in tickets:
            staff: tuple[str, int | None] = ("staff", staff_user_id)
            history: list[_Event] = [
                ("created", None, "new", created, ("service", None), None, False),
                ("routed", "new", "assigned", created + timedelta(seconds=5), ("system", None),
                 None, False),
            ]  # fmt: skip
            if status != "assigned":
                started = first_response or updated
                history.append(("start", "assigned", status, started, staff, None, False))
            if first_response is not None:
                reply = rng.choice(corpus.REPLIES)
                history.append(("reply", status, status, first_response, staff, reply, True))
            if rng.random() < 0.3:
                note = rng.choice(corpus.NOTES)
                history.append(("note", status, status, updated, staff, note, False))
            for kind, before, after, at, (actor_type, actor_id), message, public in history:
                event_agency = None if kind == "created" else agency_id
                copy.write_row(
                    (ticket_id, kind, before, after, event_agency, actor_type, actor_id, message,
                     public, "{}", at)
                )  # fmt: skip
                count += 1
    return count
