"""Routing: which agency handles a ticket, given its category and ward.

The province file's compact rules (`feedback/provinces/*.yaml`) are expanded once, here, into
one row per (category, ward or the whole province) → agency. Seeding stores those rows, routing
reads them from the database, and `RuleBook` reads the same rows from the file for tools that
have no database (`tiepdan nlu predict`). Both pick a rule the same way: a rule for the ticket's
own ward first, then by priority, then the category's default agency.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from feedback import reference
from feedback.auth import SYSTEM
from feedback.classifier import OpenTicketText, TicketClassifier
from feedback.history import record_event
from feedback.lifecycle import check_transition
from feedback.models import OPEN_STATUSES, Agency, Category, RoutingRule, Ticket, TicketStatus
from feedback.province import (
    WARD_TARGET,
    ProvinceConfig,
    default_province_file,
    load_province,
    ward_committees,
)
from feedback.sla import set_sla_due

# --- The rules ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One expanded rule: a category in one ward (or in the whole province: None) → an agency."""

    category: str
    ward_code: str | None
    agency: str
    priority: int


def expand_rules(config: ProvinceConfig) -> list[Route]:
    """The file's rules as rows; `to: ward` becomes one row per ward, to its People's Committee."""
    committee_of = ward_committees(config)
    priorities: dict[tuple[str, str | None, str], int] = {}
    for rule in config.routing:
        if rule.to == WARD_TARGET:
            for ward_code in rule.wards or list(committee_of):
                priorities[(rule.category, ward_code, committee_of[ward_code])] = rule.priority
        else:
            scopes: list[str | None] = list(rule.wards) or [None]  # None: the whole province
            for scope in scopes:
                priorities[(rule.category, scope, rule.to)] = rule.priority
    return [Route(c, w, a, priority) for (c, w, a), priority in priorities.items()]


def pick_route(routes: Iterable[Route], *, ward_code: str | None) -> Route | None:
    """The route that applies in `ward_code`: one for that ward first, then by priority.

    `choose_agency` orders the stored rows the same way in SQL.
    """
    applicable = [r for r in routes if r.ward_code is None or r.ward_code == ward_code]
    return min(applicable, key=lambda r: (r.ward_code is None, -r.priority), default=None)


class RuleBook:
    """The province's routing read from its file, for tools that have no database."""

    def __init__(self, config: ProvinceConfig) -> None:
        self.config = config
        self._routes: dict[str, list[Route]] = {}
        for route in expand_rules(config):
            self._routes.setdefault(route.category, []).append(route)
        self.default_agency = {c.code: c.default_agency for c in config.categories}

    @classmethod
    def from_file(cls, path: Path | None = None) -> RuleBook:
        return cls(load_province(path or default_province_file()))

    def agency_for(self, category: str, ward_code: str | None) -> str | None:
        route = pick_route(self._routes.get(category, []), ward_code=ward_code)
        return route.agency if route else self.default_agency.get(category)


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


# --- Routing a new ticket -------------------------------------------------------------------


def route_ticket(
    session: Session,
    *,
    ticket_id: int,
    classifier: TicketClassifier,
    now: datetime | None = None,
) -> Ticket | None:
    """Classify a new ticket and send it to an agency, or to triage when unsure.

    Idempotent: a ticket that has left `new` is not routed again.
    """
    now = now or datetime.now(UTC)
    ticket = session.scalar(select(Ticket).where(Ticket.id == ticket_id).with_for_update())
    if ticket is None or ticket.status != TicketStatus.NEW:
        return ticket
    located = _ward_from_location(session, ticket)
    if ticket.category_code is None or ticket.ward_code is None:
        _classify(session, ticket, classifier)
    agency = None
    if ticket.category_code is not None:
        agency = choose_agency(
            session, category_code=ticket.category_code, ward_code=ticket.ward_code
        )
    from_status = ticket.status
    if agency is None:
        check_transition("route", from_status)
        ticket.status = TicketStatus.TRIAGE
        record_event(
            session, ticket, kind="triaged", actor=SYSTEM, now=now, from_status=from_status
        )
        return ticket
    ticket.status = TicketStatus.ASSIGNED
    ticket.agency = agency
    set_sla_due(session, ticket)
    record_event(
        session,
        ticket,
        kind="routed",
        actor=SYSTEM,
        now=now,
        from_status=from_status,
        message=WARD_FROM_LOCATION if located else None,
        data={"ward_from": "location"} if located else None,
    )
    flag_duplicate(session, ticket, classifier, now)
    return ticket


WARD_FROM_LOCATION = (
    "Phường/xã được xác định theo vị trí người dân chia sẻ: phường/xã có trung tâm gần nhất "
    "(có thể là phường/xã giáp ranh)."
)


def _ward_from_location(session: Session, ticket: Ticket) -> bool:
    """A shared location without a ward gets the ward whose centre is nearest (said as such in
    the history: near a boundary it may be the neighbour)."""
    if ticket.ward_code is not None or ticket.latitude is None or ticket.longitude is None:
        return False
    ticket.ward_code = reference.nearest_ward_code(
        session, latitude=ticket.latitude, longitude=ticket.longitude
    )
    return ticket.ward_code is not None


def _classify(session: Session, ticket: Ticket, classifier: TicketClassifier) -> None:
    """Fill in what the ticket was filed without: its ward, and its category when confident."""
    prediction = classifier.predict(ticket.description)
    known_ward = prediction.ward_code and reference.ward_exists(session, prediction.ward_code)
    if ticket.ward_code is None and known_ward:
        ticket.ward_code = prediction.ward_code
    if ticket.category_code is not None:
        return
    ticket.predicted_category_code = prediction.category
    ticket.category_confidence = prediction.confidence
    ticket.category_candidates = [
        {"category": code, "confidence": round(confidence, 4)}
        for code, confidence in prediction.candidates
    ] or None
    if (
        prediction.category
        and prediction.confident
        and reference.category_exists(session, prediction.category)
    ):
        ticket.category_code = prediction.category


# How far back an open ticket may be the same problem as a new one.
DUPLICATE_LOOKBACK_DAYS = 30


def flag_duplicate(
    session: Session, ticket: Ticket, classifier: TicketClassifier, now: datetime
) -> None:
    """Mark a likely duplicate of an open ticket nearby, reported before it; staff confirm or
    clear it.

    Only an earlier ticket can be the original. Two reports of the same problem routed at the
    same moment (two workers) would otherwise each mark the other: each holds its own row
    locked and waits for the other's, a deadlock in which one routing job fails.
    """
    if ticket.category_code is None or ticket.ward_code is None:
        return
    rows = session.execute(
        select(Ticket.id, Ticket.code, Ticket.description, Ticket.ward_code)
        .where(
            Ticket.id != ticket.id,
            Ticket.created_at < ticket.created_at,
            Ticket.category_code == ticket.category_code,
            Ticket.ward_code.in_(classifier.neighbour_wards(ticket.ward_code)),
            Ticket.status.in_(OPEN_STATUSES),
            Ticket.duplicate_of_id.is_(None),
            Ticket.created_at >= now - timedelta(days=DUPLICATE_LOOKBACK_DAYS),
        )
        .order_by(Ticket.created_at.desc())
        .limit(200)
    ).all()
    if not rows:
        return
    hint = classifier.find_duplicate(
        ticket.description,
        category=ticket.category_code,
        ward_code=ticket.ward_code,
        open_tickets=[
            OpenTicketText(r.code, r.description, ticket.category_code, r.ward_code) for r in rows
        ],
    )
    if hint is None:
        return
    ticket.duplicate_of_id = next(r.id for r in rows if r.code == hint.code)
    record_event(
        session,
        ticket,
        kind="duplicate_suspected",
        actor=SYSTEM,
        now=now,
        message=f"Có thể trùng với phản ánh {hint.code}.",
        data={"of": hint.code, "score": round(hint.score, 3)},
    )
