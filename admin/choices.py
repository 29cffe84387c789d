"""The lists every page's forms offer (categories, wards, agencies), kept per process for a
minute: they change only when an operator seeds the province or an admin renames an agency,
and reading them on every page view cost a fifth of a queue page."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedback.models import Agency, AgencyLevel, Category, Ward

TTL_SECONDS = 60.0


@dataclass(frozen=True)
class AgencyChoice:
    id: int
    code: str
    name: str
    level: AgencyLevel


@dataclass(frozen=True)
class Choices:
    categories: list[tuple[str, str]]  # (code, name), by name
    category_names: dict[str, str]
    wards: list[tuple[str, str]]
    agencies: list[AgencyChoice]  # the active ones: departments first, then wards


_lock = threading.Lock()
_cached: tuple[float, Choices] | None = None


def choices(session: Session) -> Choices:
    global _cached
    cached = _cached
    if cached is not None and time.monotonic() - cached[0] < TTL_SECONDS:
        return cached[1]
    categories = [
        (code, name)
        for code, name in session.execute(
            select(Category.code, Category.name).order_by(Category.name)
        )
    ]
    fresh = Choices(
        categories=categories,
        category_names=dict(categories),
        wards=[
            (c, n) for c, n in session.execute(select(Ward.code, Ward.name).order_by(Ward.name))
        ],
        agencies=[
            AgencyChoice(*row)
            for row in session.execute(
                select(Agency.id, Agency.code, Agency.name, Agency.level)
                .where(Agency.active.is_(True))
                .order_by(Agency.level, Agency.code)
            )
        ],
    )
    with _lock:
        _cached = (time.monotonic(), fresh)
    return fresh


def forget() -> None:
    """After an admin changed an agency: this process shows it at once."""
    global _cached
    with _lock:
        _cached = None
