"""The migrations build what the models describe: a column added to a model without its
migration (or the other way round) fails here, not on a production upgrade."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

import tiepdan.models  # noqa: F401  (registers every table on the metadata)
from core.database import Base, make_engine
from tiepdan.db import alembic_config, upgrade


def _differences(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_the_postgresql_schema_matches_the_models(database: str) -> None:
    assert _differences(database) == []  # the test database was built by the migrations


def test_the_sqlite_schema_matches_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tiepdan.sqlite3'}"
    upgrade(url)
    assert _differences(url) == []


def test_every_migration_can_be_undone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tiepdan.sqlite3'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "base")
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            tables = connection.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'alembic_version'"
            ).all()
    finally:
        engine.dispose()
    assert tables == []
