"""Test setup: a real PostgreSQL database built by the Alembic migrations, one per test run
(and per xdist worker), with the province seeded once; every test runs in a transaction that
is rolled back.

Set TIEPDAN_TEST_DATABASE_ADMIN_URL to use another server (default: the local PostgreSQL).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

ADMIN_URL = os.environ.get(
    "TIEPDAN_TEST_DATABASE_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# One database per run (and per xdist worker): two runs side by side must not drop each other's.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
TEST_DB = f"tiepdan_test_{_worker}_{os.getpid()}"
TEST_URL = ADMIN_URL.rsplit("/", 1)[0] + f"/{TEST_DB}"

from core.settings import Settings  # noqa: E402  (reads no environment until instantiated)

# Before anything reads the settings: the tests' own database and a Redis database of their own.
os.environ["TIEPDAN_ENVIRONMENT"] = "test"
os.environ["TIEPDAN_DATABASE_URL"] = TEST_URL
os.environ["TIEPDAN_BROKER_URL"] = os.environ.get(
    "TIEPDAN_TEST_BROKER_URL", "redis://127.0.0.1:6379/15"
)
# A queue of the run's own on that Redis: a second run side by side would take its jobs.
os.environ["TIEPDAN_TASK_QUEUE"] = f"tiepdan-test-{_worker}-{os.getpid()}"
# The limits and quotas are off: a test run opens more sessions, sign-ins and tickets from one
# address in a minute than any person would. tests/*/test_limits.py turn each one on.
for _name in Settings.model_fields:
    if _name.startswith("limit_"):
        os.environ[f"TIEPDAN_{_name.upper()}"] = "off"
# Uploaded files (photos, evidence) go to a folder of the run's own, removed at the end.
VAR_DIR = tempfile.mkdtemp(prefix="tiepdan-test-var-")
os.environ["TIEPDAN_VAR_DIR"] = VAR_DIR

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from core import celery_app as celery_module  # noqa: E402
from core.database import get_engine  # noqa: E402
from core.http import get_db_session  # noqa: E402
from core.settings import get_settings  # noqa: E402
from tests.addresses import own_address  # noqa: E402
from tests.sessions import serving  # noqa: E402


def _create_database() -> None:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{TEST_DB}"'))
    except Exception as exc:  # a clear next step instead of a wall of tracebacks
        pytest.exit(
            f"PostgreSQL is not reachable at {ADMIN_URL} ({exc.__class__.__name__}). "
            "Start it (see CONTRIBUTING.md) or set TIEPDAN_TEST_DATABASE_ADMIN_URL.",
            returncode=3,
        )
    finally:
        admin.dispose()


@pytest.fixture(scope="session", autouse=True)
def database() -> Iterator[str]:
    """The migrated and seeded test database, built once per run."""
    from core.database import session_scope
    from feedback.province import default_province_file, load_province
    from feedback.seed import seed_province
    from tiepdan.db import upgrade

    get_settings.cache_clear()
    _create_database()
    upgrade(TEST_URL)
    with session_scope() as session:
        seed_province(session, config=load_province(default_province_file()))
    yield TEST_URL
    get_engine().dispose()
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)'))
    admin.dispose()
    shutil.rmtree(VAR_DIR, ignore_errors=True)


@pytest.fixture(autouse=True)
def fresh_reference_codes() -> Iterator[None]:
    """A test's rolled-back categories must not stay known to the next test."""
    from feedback import reference

    yield
    reference.forget()


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at production cost takes ~0.3 s per staff user, and the tests make many."""
    from argon2 import PasswordHasher

    from feedback import auth

    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def db_session(database: str) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test.

    Commits made by the code under test only release a savepoint.
    """
    connection = get_engine().connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()


@pytest.fixture
def sent_tasks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Tasks queued after a commit, recorded instead of sent to the broker."""
    sent: list[tuple[str, dict[str, Any]]] = []

    def record(name: str, kwargs: dict[str, Any] | None = None, **_: Any) -> None:
        sent.append((name, kwargs or {}))

    monkeypatch.setattr(celery_module.celery_app, "send_task", record)
    return sent


@pytest.fixture
def client(db_session: Session, sent_tasks: list[Any]) -> Iterator[TestClient]:
    """The whole app, sharing the test's session so its work is rolled back too."""
    from tiepdan.app import create_app

    app = create_app()

    session_override = serving(db_session)
    app.dependency_overrides[get_db_session] = session_override
    with TestClient(app, raise_server_exceptions=False, client=own_address()) as test_client:
        yield test_client


@pytest.fixture
def staff_token(db_session: Session) -> Callable[..., dict[str, str]]:
    """Make a staff user and return the Authorization header for them.

    The user is committed (to the test's savepoint), so a later request that fails and rolls
    back does not take the user with it.
    """
    from feedback.auth import create_user, issue_access_token
    from feedback.models import StaffRole

    counter = iter(range(1_000_000))

    def make(role: str, agency: str | None = None) -> dict[str, str]:
        user = create_user(
            db_session,
            username=f"{role}-{agency or 'all'}-{next(counter)}",
            password="password-123",
            role=StaffRole(role),
            agency_code=agency,
        )
        db_session.commit()
        return {"Authorization": f"Bearer {issue_access_token(user)}"}

    return make


@pytest.fixture
def service_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {get_settings().service_token}"}


@pytest.fixture(scope="session")
def nlu_model():
    """The trained NLU model. Training takes about a minute; the model is cached by the hash of
    its data (~/.cache/tiepdan/nlu/<hash>), so only the first run on a machine pays for it."""
    from nlu.pipeline import NLU
    from nlu.training import train

    path, _trained = train(get_settings(), progress=print)
    return NLU(path)


@pytest.fixture
def empty_aggregates(db_session: Session) -> None:
    """KPI aggregates and push outbox as a fresh install has them, for this test only.

    Other tests commit (the e2e stack's worker refreshes the aggregates every minute for the
    tickets it files), and a refresh starts from its watermark: a test filing tickets with
    timestamps in the past needs the aggregates it starts from to be empty. The deletes are
    rolled back with the test.
    """
    for table in ("kpi_daily", "kpi_ticket_facts", "kpi_refresh_state", "ioc_snapshots"):
        db_session.execute(text(f"DELETE FROM {table}"))
    db_session.flush()
