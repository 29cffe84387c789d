"""Reference data: the agencies, and the category and ward codes cached per process.

Every filed ticket names a category and a ward to check. Both lists change only when an
operator seeds the province, so a process keeps the codes it has seen. The cache only ever says
"known": a code it does not hold is looked up again, so a category seeded a second ago is
accepted at once (the whole list is then read again), and a wrong code costs one query, as it
would without the cache.
"""

from __future__ import annotations

import math
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
    global _ward_centres
    with _lock:
        _known.clear()
        _ward_centres = None


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


# A shared location further than this from every ward centre is outside the province.
NEAREST_WARD_MAX_KM = 15.0
_ward_centres: list[tuple[str, float, float]] | None = None


def nearest_ward_code(session: Session, *, latitude: float, longitude: float) -> str | None:
    """The ward whose centre is nearest to a shared location, within NEAREST_WARD_MAX_KM.

    An approximation, said as one where it is used: wards are not circles, and a point near a
    boundary may belong to the neighbour. The centres are the province file's (`lat`, `lon`).
    """
    global _ward_centres
    if _ward_centres is None:
        rows = session.execute(select(Ward.code, Ward.latitude, Ward.longitude)).all()
        _ward_centres = [
            (code, lat, lon) for code, lat, lon in rows if lat is not None and lon is not None
        ]
    best = min(
        _ward_centres,
        key=lambda ward: _km(latitude, longitude, ward[1], ward[2]),
        default=None,
    )
    if best is None or _km(latitude, longitude, best[1], best[2]) > NEAREST_WARD_MAX_KM:
        return None
    return best[0]


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))
