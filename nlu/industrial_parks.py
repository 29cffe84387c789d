"""Industrial parks as places: "VSIP 1, Thuan An", "KCN Sóng Thần 2", "Song Than IP".

Firms write the park, not the ward. `admin/79-industrial-parks.csv` places each park in today's
ward (or lists the candidates where that is not one ward; admin/SOURCE.md says how it was made).
A park's name is read as a park only next to a park word, because most of them are also ward or
street names: "KCN Tân Tạo" is the park, "phường Tân Tạo" the ward, which wards.py reads.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

from nlu.normalize import fold

PARKS_FILE = Path(__file__).resolve().parent / "admin" / "79-industrial-parks.csv"
# Folded words that say "industrial park" before or after a name.
_BEFORE = [("kcn",), ("khu", "cong", "nghiep"), ("kcx",), ("khu", "che", "xuat")]
_AFTER = [("industrial", "park"), ("industrial", "zone"), ("ip",), ("epz",), ("iz",)]
# Brands that name a park by themselves.
_BRANDS = {"vsip"}


@lru_cache(maxsize=1)
def _names() -> dict[tuple[str, ...], frozenset[str]]:
    """Folded name words → today's ward codes, for every name of every park."""
    names: dict[tuple[str, ...], frozenset[str]] = {}
    with PARKS_FILE.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            codes = frozenset(row["new_codes"].split())
            for name in row["names"].split("|"):
                names[tuple(fold(name).split())] = codes
    return names


def _follows(words: list[str], start: int, phrases: list[tuple[str, ...]]) -> bool:
    return any(tuple(words[start - len(p) : start]) == p for p in phrases if start >= len(p))


def _precedes(words: list[str], end: int, phrases: list[tuple[str, ...]]) -> bool:
    return any(tuple(words[end : end + len(p)]) == p for p in phrases)


def park_wards(words: list[str]) -> frozenset[str] | None:
    """The ward codes of the first park named in these folded words, or None.

    The longest name wins at each position ("vsip 2a" over "vsip 2" over "vsip")."""
    names = _names()
    longest = max(len(name) for name in names)
    for start in range(len(words)):
        for length in range(min(longest, len(words) - start), 0, -1):
            name = tuple(words[start : start + length])
            if name not in names:
                continue
            if (
                name[0] in _BRANDS
                or _follows(words, start, _BEFORE)
                or _precedes(words, start + length, _AFTER)
            ):
                return names[name]
    return None


def mentions_park(text: str) -> frozenset[str] | None:
    """park_wards() for raw text."""
    return park_wards(fold(text).replace(",", " ").replace(".", " ").split())
