"""Reference data: the agencies, and the category and ward codes cached per process.

Every filed ticket names a category and a ward to check. Both lists change only when an
operator seeds the province, so a process keeps the codes it has seen. The cache only ever says
"known": a code it does not hold is looked up again, so a category seeded a second ago is
accepted at once (the whole list is then read again), and a wrong code costs one query, as it
would without the cache.
"""

from __future__ import annotations

import threading

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedback.models import Agency, Category, Ward

_lock = threading.Lock()
_known: dict[type, frozenset[str]] = {}


def category_exists(session: Session, code: str) -> bool:
    return _exists(session, Category, code)


def ward_exists(session: Session, code: str) -> bool:
    return _exists(session, Ward, code)


def forget() -> None:
    """Drop the cached codes (after seeding, and between tests)."""
    with _lock:
        _known.clear()


def _exists(session: Session, model: type[Category] | type[Ward], code: str) -> bool:
    if code in _known.get(model, frozenset()):
        return True
    if session.scalar(select(model.code).where(model.code == code)) is None:
        return False
    codes = frozenset(session.scalars(select(model.code)))
    with _lock:
        _known[model] = codes
    return True


def list_agencies(session: Session) -> list[Agency]:
    """Active agencies: departments first, then ward People's Committees, by name."""
    return list(
        session.scalars(
            select(Agency).where(Agency.active.is_(True)).order_by(Agency.level, Agency.code)
        )
    )
