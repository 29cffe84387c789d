"""Alembic, driven from the CLI with the configured database URL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

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
