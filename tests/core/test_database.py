"""The pool's connections: one cut while idle is replaced before anyone uses it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from core import database
from tests.conftest import ADMIN_URL, TEST_URL


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = database.make_engine(TEST_URL)
    yield engine
    engine.dispose()


def _backend(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _cut(pid: int) -> None:
    """What a database restart does to a pooled connection."""
    admin = create_engine(ADMIN_URL)
    with admin.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()


def test_a_connection_cut_while_idle_is_replaced_before_use(engine, monkeypatch) -> None:
    first = _backend(engine)
    _cut(first)
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)  # it has been idle long enough

    assert _backend(engine) != first  # pinged, found dead, replaced: the caller saw nothing


def test_a_connection_used_moments_ago_is_trusted_and_the_pool_recovers(engine) -> None:
    first = _backend(engine)
    _cut(first)

    # No ping for a connection just used: the one statement on it fails ...
    with pytest.raises(OperationalError):
        _backend(engine)
    # ... and SQLAlchemy, seeing the disconnect, has replaced the pool's connections.
    assert _backend(engine) != first
