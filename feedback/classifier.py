"""The classifier that reads a ticket's text: its category, its ward, and likely duplicates.

Chosen by `TIEPDAN_CLASSIFIER`: `nlu` (the Vietnamese NLU, the default) or `none`, which knows
nothing, so tickets filed without a category go to the dispatchers' triage queue rather than to
a guessed agency. Routing (feedback/routing.py) asks it; nothing here touches the database.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from core import metrics

if TYPE_CHECKING:
    from nlu.pipeline import NLU

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    category: str | None
    confidence: float
    ward_code: str | None = None
    # The best categories and their confidences, best first.
    candidates: tuple[tuple[str, float], ...] = ()
    # Sure enough to route without a dispatcher (nlu/pipeline.py's triage threshold).
    confident: bool = False


@dataclass(frozen=True)
class OpenTicketText:
    code: str
    text: str
    category: str | None
    ward_code: str | None


@dataclass(frozen=True)
class DuplicateHint:
    code: str
    score: float


class TicketClassifier(Protocol):
    def predict(self, text: str) -> Prediction: ...

    def neighbour_wards(self, ward_code: str) -> frozenset[str]:
        """The wards whose open tickets may be the same problem (the ward itself included)."""
        ...

    def find_duplicate(
        self, text: str, *, category: str, ward_code: str, open_tickets: list[OpenTicketText]
    ) -> DuplicateHint | None: ...


class NoClassifier:
    """Predicts nothing: every uncategorised ticket is triaged by a person."""

    def predict(self, text: str) -> Prediction:
        return Prediction(category=None, confidence=0.0)

    def neighbour_wards(self, ward_code: str) -> frozenset[str]:
        return frozenset({ward_code})

    def find_duplicate(
        self, text: str, *, category: str, ward_code: str, open_tickets: list[OpenTicketText]
    ) -> DuplicateHint | None:
        return None


class NluClassifier:
    """The Vietnamese NLU (nlu/): category, ward and duplicate check.

    The model loads on first use. Without a trained model every prediction is "unknown", so
    tickets go to the dispatchers' triage queue instead of failing in the worker, and the
    error is logged each time so that the missing `tiepdan nlu train` is noticed.
    """

    def _nlu(self) -> NLU | None:
        from nlu.pipeline import ModelNotTrained, get_nlu

        try:
            return get_nlu()
        except ModelNotTrained as exc:
            logger.error("NLU unavailable, routing to triage: %s", exc)
            return None

    def predict(self, text: str) -> Prediction:
        nlu = self._nlu()
        if nlu is None:
            return Prediction(category=None, confidence=0.0)
        started = time.perf_counter()
        analysis = nlu.analyse(text)
        metrics.observe("nlu_seconds", time.perf_counter() - started)
        return Prediction(
            category=analysis.category,
            confidence=analysis.category_confidence,
            # A split old ward gives candidates, not a code: the ticket keeps no ward then.
            ward_code=analysis.ward.code if analysis.ward else None,
            candidates=analysis.top_categories,
            confident=nlu.routes(analysis),
        )

    def neighbour_wards(self, ward_code: str) -> frozenset[str]:
        from nlu.duplicates import neighbours

        return neighbours().get(ward_code, frozenset({ward_code}))

    def find_duplicate(
        self, text: str, *, category: str, ward_code: str, open_tickets: list[OpenTicketText]
    ) -> DuplicateHint | None:
        from nlu.duplicates import OpenTicket

        nlu = self._nlu()
        if nlu is None:
            return None
        found = nlu.find_duplicate(
            text,
            category=category,
            ward_code=ward_code,
            open_tickets=[
                OpenTicket(code=t.code, text=t.text, category=t.category, ward_code=t.ward_code)
                for t in open_tickets
            ],
        )
        return DuplicateHint(code=found.code, score=found.score) if found else None


CLASSIFIERS: dict[str, type[TicketClassifier]] = {"none": NoClassifier, "nlu": NluClassifier}

_classifier: TicketClassifier | None = None


def get_classifier(name: str = "none") -> TicketClassifier:
    """The process's classifier, built on first use (models load lazily, not at import)."""
    global _classifier
    if _classifier is None:
        _classifier = CLASSIFIERS[name]()
    return _classifier
