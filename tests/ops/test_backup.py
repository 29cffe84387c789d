"""The backup procedure of docs/backup.md, run for real: a database of its own is migrated and
filled through the domain's functions, dumped by scripts/backup.sh, restored by
scripts/restore.sh into a second fresh database, and `tiepdan db check` and `tiepdan db counts`
read the copy. Both databases are dropped at the end, whatever happened."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, select, text

from bot.message_store import store_inbound, store_outcome
from bot.models import Message, MessageState
from core.database import dispose_engine, make_engine, session_scope
from core.settings import PROJECT_ROOT, get_settings
from feedback.audit import record_audit
from feedback.auth import SYSTEM
from feedback.classifier import NoClassifier
from feedback.demo import create_demo_tickets
from feedback.models import AuditEntry, Contact, Ticket
from feedback.province import default_province_file, load_province
from feedback.schemas import ContactIn, TicketCreate
from feedback.seed import seed_province
from feedback.service import create_ticket
from integrations.channel import Inbound, Reply
from tests.conftest import ADMIN_URL
from tiepdan.db import head_revision, row_counts, upgrade

SCRIPTS = PROJECT_ROOT / "scripts"
REPORT = "Nước ngập sâu 40 cm trước số 5 Nguyễn Hữu Cảnh, xe máy chết máy hàng loạt"


def _libpq(url: str) -> str:
    """What pg_dump and pg_restore take: the same address without SQLAlchemy's driver."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    """Two empty databases of this test's own (the source and the restore's target), dropped
    at the end even when the test fails."""
    for tool in ("pg_dump", "pg_restore"):
        if shutil.which(tool) is None:
            pytest.fail(
                f"{tool} is not on PATH: the backup procedure needs PostgreSQL 15's client "
                "tools (Debian: apt-get install postgresql-client)"
            )
    suffix = uuid.uuid4().hex[:10]
    names = (f"tiepdan_backup_{suffix}", f"tiepdan_restored_{suffix}")
    base = ADMIN_URL.rsplit("/", 1)[0]
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            for name in names:
                # As `createdb -T template0 NAME` (docs/backup.md): nothing from template1.
                connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
        yield f"{base}/{names[0]}", f"{base}/{names[1]}"
    finally:
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def process_database(sent_tasks: list[object]) -> Iterator[None]:
    """The process's engine is pointed at the source database while the test fills it (the
    chat's message store uses the process's engine), then back at the run's own. The routing
    jobs the tickets queue are recorded, not sent."""
    settings = get_settings()
    original = settings.database_url
    yield
    dispose_engine()
    settings.database_url = original


def _fill(url: str) -> str:
    """Rows in most tables, as the platform writes them; returns the code of a ticket."""
    settings = get_settings()
    dispose_engine()
    settings.database_url = url
    with session_scope() as session:
        seed_province(session, config=load_province(default_province_file()))
    with session_scope() as session:
        now = datetime.now(UTC)
        create_demo_tickets(session, count=12, classifier=NoClassifier(), seed=7, now=now)
        ticket = create_ticket(
            session,
            data=TicketCreate(
                description=REPORT,
                contact=ContactIn(
                    name="Trần Thị Bích",
                    phone="0903123456",
                    phone_consent=True,
                    channel="telegram",
                    channel_user_id="84903123456",
                ),
            ),
            actor=SYSTEM,
        )
        code = ticket.code
        record_audit(session, actor=SYSTEM, action="contact.reveal", target=code)
    stored = store_inbound(Inbound(channel="telegram", channel_user_id="84903123456", text=REPORT))
    assert stored is not None
    store_outcome(
        stored, MessageState.ANSWERED, [Reply(text="Đã ghi nhận phản ánh")], ticket_code=code
    )
    return code


def _values(url: str, code: str) -> dict[str, object]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            ticket = connection.execute(select(Ticket).where(Ticket.code == code)).one()
            return {
                "ticket": (ticket.description, ticket.created_at, ticket.status),
                "phone": connection.scalar(
                    select(Contact.phone).where(Contact.id == ticket.contact_id)
                ),
                "messages": connection.execute(
                    select(Message.direction, Message.text).order_by(Message.id)
                ).all(),
                "audit": connection.scalar(select(AuditEntry.target)),
                # A restored database goes on numbering where the old one stopped.
                "next_ticket_id": connection.scalar(
                    text(
                        "SELECT last_value FROM pg_sequences WHERE sequencename = 'tickets_id_seq'"
                    )
                ),
            }
    finally:
        engine.dispose()


def _tiepdan(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TIEPDAN_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "tiepdan", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROJECT_ROOT,
    )


def test_a_dump_restores_into_a_fresh_database_with_every_row(
    databases: tuple[str, str], process_database: None, tmp_path: Path
) -> None:
    source, target = databases
    upgrade(source)
    code = _fill(source)
    counts = row_counts(source)
    for table in ("tickets", "ticket_events", "contacts", "messages", "audit_entries"):
        assert counts[table] > 0, table  # the comparison below means something

    backups = tmp_path / "backups"
    backups.mkdir()
    expired = backups / "20250101T000000Z.dump"
    expired.write_bytes(b"")
    old = (datetime.now() - timedelta(days=40)).timestamp()
    os.utime(expired, (old, old))

    made = subprocess.run(
        [SCRIPTS / "backup.sh", _libpq(source), backups, "30"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    dump = Path(made.stdout.strip())
    assert dump.parent == backups and dump.suffix == ".dump"
    assert sorted(backups.iterdir()) == [dump]  # the 40-day-old one is gone, no .partial left
    assert dump.stat().st_mode & 0o077 == 0  # the operator's alone

    restored = subprocess.run(
        [SCRIPTS / "restore.sh", dump, _libpq(target)], capture_output=True, text=True, timeout=60
    )
    assert restored.returncode == 0, restored.stderr

    check = _tiepdan(target, "db", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert head_revision() in check.stdout
    listed = _tiepdan(target, "db", "counts")
    assert listed.returncode == 0, listed.stderr
    assert dict(line.split("\t") for line in listed.stdout.splitlines()) == {
        table: str(rows) for table, rows in counts.items()
    }
    assert _values(target, code) == _values(source, code)

    # Restoring again over the copy is refused, and leaves it as it was.
    again = subprocess.run(
        [SCRIPTS / "restore.sh", dump, _libpq(target)], capture_output=True, text=True, timeout=60
    )
    assert again.returncode != 0 and "already exists" in again.stderr
    assert row_counts(target) == counts


def test_db_check_fails_on_a_database_behind_the_code(databases: tuple[str, str]) -> None:
    source, _ = databases
    upgrade(source, revision="9ad6003128cb")  # the first migration only
    check = _tiepdan(source, "db", "check")
    assert check.returncode == 1
    assert "9ad6003128cb" in check.stdout and "tiepdan db upgrade" in check.stdout
