"""Routing: which agency handles a ticket, given its category and ward.

The category and ward come from a classifier. Until the Vietnamese NLU is plugged in
(`TIEPDAN_CLASSIFIER`), the `none` classifier knows nothing, so tickets filed without a
category go to the dispatchers' triage queue rather than to a guessed agency.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from feedback.models import Agency, Category, RoutingRule


@dataclass(frozen=True)
class Prediction:
    category: str | None
    confidence: float
    ward_code: str | None = None


class TicketClassifier(Protocol):
    def predict(self, text: str) -> Prediction: ...


class NoClassifier:
    """Predicts nothing: every uncategorised ticket is triaged by a person."""

    def predict(self, text: str) -> Prediction:
        return Prediction(category=None, confidence=0.0)


CLASSIFIERS: dict[str, type[TicketClassifier]] = {"none": NoClassifier}

_classifier: TicketClassifier | None = None


def get_classifier(name: str = "none") -> TicketClassifier:
    """The process's classifier, built on first use (models load lazily, not at import)."""
    global _classifier
    if _classifier is None:
        _classifier = CLASSIFIERS[name]()
    return _classifier


def choose_agency(session: Session, *, category_code: str, ward_code: str | None) -> Agency | None:
    """The agency for (category, ward): a ward's own rule first, then by priority, then the
    category's default agency."""
    ward_match = (
        RoutingRule.ward_code == ward_code if ward_code else RoutingRule.ward_code.is_(None)
    )
    rule_agency_id = session.scalar(
        select(RoutingRule.agency_id)
        .where(
            RoutingRule.category_code == category_code,
            ward_match | RoutingRule.ward_code.is_(None),
        )
        .order_by(
            case((RoutingRule.ward_code.is_(None), 1), else_=0),
            RoutingRule.priority.desc(),
            RoutingRule.id,
        )
        .limit(1)
    )
    if rule_agency_id is not None:
        return session.get(Agency, rule_agency_id)
    category = session.get(Category, category_code)
    if category is None or category.default_agency_id is None:
        return None
    return session.get(Agency, category.default_agency_id)
