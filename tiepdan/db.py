"""Alembic, driven from the CLI with the configured database URL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, table

from core.database import make_engine
from core.settings import get_settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url or get_settings().database_url)
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    return config


def upgrade(database_url: str | None = None, revision: str = "head") -> None:
    """Bring the database to `revision` (every migration runs, in order)."""
    url = database_url or get_settings().database_url
    config = alembic_config(url)
    engine = make_engine(url)  # creates var/ for SQLite and applies its pragmas
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def head_revision() -> str:
    """The newest migration in migrations/versions."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None, "no migrations"
    return head


def current_revision(database_url: str | None = None) -> str | None:
    """The revision the database is at (None: never migrated)."""
    engine = make_engine(database_url or get_settings().database_url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def row_counts(database_url: str | None = None) -> dict[str, int]:
    """Every table's exact row count, by name: what a restore drill compares."""
    engine = make_engine(database_url or get_settings().database_url)
    try:
        with engine.connect() as connection:
            names = sorted(inspect(connection).get_table_names())
            return {
                name: connection.scalar(
                    select(func.count()).select_from(table(name))  # names come from the catalogue
                )
                or 0
                for name in names
            }
    finally:
        engine.dispose()
