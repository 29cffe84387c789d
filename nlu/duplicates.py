"""Is this the same problem as an open ticket? Same category, same or neighbouring ward, alike text.

The caller (the routing task) passes the open tickets it found; this module knows no database.
"Neighbouring" is read from the wards' centres (nlu/admin/<province>-wards.csv): the wards
whose centre lies within `NEIGHBOUR_KM`, plus the `NEIGHBOUR_COUNT` nearest, since the
suburban communes are large and their centres far apart. A candidate is only a flag: staff
confirm it before the citizen is linked to the older ticket.
"""

from __future__ import annotations

import csv
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from nlu.similarity import Similarity, Vectors
from nlu.wards import ADMIN_DIR, DEFAULT_PROVINCE

# Tuned on nlu/data/duplicates.jsonl (see nlu/README.md and `tiepdan nlu evaluate`).
NGRAM_WEIGHT = 0.85
THRESHOLD = 0.50
NEIGHBOUR_KM = 3.0
NEIGHBOUR_COUNT = 6
CACHE_SIZE = 5000  # open tickets whose vectors are kept (about 15 KB each)


@dataclass(frozen=True)
class OpenTicket:
    code: str
    text: str
    category: str | None
    ward_code: str | None


@dataclass(frozen=True)
class DuplicateCandidate:
    code: str
    score: float


@lru_cache(maxsize=4)
def neighbours(province_code: str = DEFAULT_PROVINCE) -> dict[str, frozenset[str]]:
    """Each ward's neighbours (itself included), from the distance between ward centres."""
    centres: dict[str, tuple[float, float]] = {}
    with (ADMIN_DIR / f"{province_code}-wards.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["lat"] and row["lon"]:
                centres[row["code"]] = (float(row["lat"]), float(row["lon"]))
    result: dict[str, frozenset[str]] = {}
    for code, centre in centres.items():
        by_distance = sorted(
            (_km(centre, other), other_code) for other_code, other in centres.items()
        )
        near = {c for d, c in by_distance if d <= NEIGHBOUR_KM}
        near |= {c for _, c in by_distance[: NEIGHBOUR_COUNT + 1]}
        result[code] = frozenset(near)
    return result


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat = math.radians((a[0] + b[0]) / 2)
    dy = (a[0] - b[0]) * 111.32
    dx = (a[1] - b[1]) * 111.32 * math.cos(lat)
    return math.hypot(dx, dy)


class DuplicateFinder:
    def __init__(
        self,
        similarity: Similarity,
        *,
        threshold: float = THRESHOLD,
        province_code: str = DEFAULT_PROVINCE,
    ) -> None:
        self.similarity = similarity
        self.threshold = threshold
        self.province_code = province_code
        # Open tickets are compared again and again as new reports arrive: keep their vectors.
        self._cache: OrderedDict[tuple[str, str], Vectors] = OrderedDict()
        self._lock = threading.Lock()

    def find(
        self,
        text: str,
        *,
        category: str | None,
        ward_code: str | None,
        open_tickets: Sequence[OpenTicket],
    ) -> DuplicateCandidate | None:
        """The most similar eligible open ticket above the threshold, or None.

        Without a category or a ward there is no telling whether two reports are about the
        same spot, so nothing is flagged.
        """
        if not category or not ward_code or not text.strip():
            return None
        near = neighbours(self.province_code).get(ward_code, frozenset({ward_code}))
        eligible = [
            t for t in open_tickets if t.category == category and t.ward_code in near and t.text
        ]
        if not eligible:
            return None
        scores = self.similarity.matrix(
            self.similarity.vectors([text]), self._open_ticket_vectors(eligible)
        )[0]
        best = int(scores.argmax())
        if scores[best] < self.threshold:
            return None
        return DuplicateCandidate(code=eligible[best].code, score=float(scores[best]))

    def _open_ticket_vectors(self, tickets: Sequence[OpenTicket]) -> Vectors:
        keys = [(t.code, t.text) for t in tickets]
        with self._lock:  # one finder per process; the lock only guards against a threaded caller
            missing = [i for i, key in enumerate(keys) if key not in self._cache]
            if missing:
                fresh = self.similarity.vectors([tickets[i].text for i in missing])
                for row, i in enumerate(missing):
                    self._cache[keys[i]] = Vectors(fresh.ngrams[row], fresh.dense[row : row + 1])
            rows = []
            for key in keys:
                self._cache.move_to_end(key)
                rows.append(self._cache[key])
            while len(self._cache) > max(CACHE_SIZE, len(keys)):
                self._cache.popitem(last=False)
        return self.similarity.stack(rows)
