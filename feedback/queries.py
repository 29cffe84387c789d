"""Reading tickets: one ticket with its history, a page of a staff queue, the public lookup.

Every read for staff goes through the rules of feedback/policy.py: a ticket of another agency
is "not found" to agency staff.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, exists, func, or_, select, tuple_
from sqlalchemy.orm import Session, joinedload, selectinload

from core.errors import Forbidden, Invalid, NotFound
from feedback.auth import Principal
from feedback.models import OPEN_STATUSES, Agency, Ticket, TicketEvent, TicketStatus
from feedback.policy import can_see_ticket, require_ticket_reader
from feedback.ticket_codes import normalize_ticket_code


def ticket_query() -> Select[Ticket]:
    """A ticket with everything its JSON shows: agency, contact, duplicate-of and history."""
    return select(Ticket).options(
        joinedload(Ticket.agency),
        joinedload(Ticket.contact),
        joinedload(Ticket.duplicate_of),
        joinedload(Ticket.assignee),
        selectinload(Ticket.survey_responses),
        selectinload(Ticket.events).joinedload(TicketEvent.agency),
        selectinload(Ticket.events).joinedload(TicketEvent.actor),
    )


def queue_query() -> Select[Ticket]:
    """A ticket as a queue row shows it: no history, no contact."""
    return select(Ticket).options(joinedload(Ticket.agency), joinedload(Ticket.assignee))


def get_ticket(session: Session, *, code: str, principal: Principal) -> Ticket:
    """A ticket the principal may see; another agency's ticket is 'not found' to them."""
    require_ticket_reader(principal)
    ticket = session.scalar(ticket_query().where(Ticket.code == normalize_ticket_code(code)))
    if ticket is None or not can_see_ticket(principal, ticket):
        raise NotFound(f"Ticket '{code}' not found.")
    return ticket


def get_public_ticket(session: Session, *, code: str) -> Ticket:
    """A ticket for the public lookup; the caller shows only non-personal fields."""
    ticket = session.scalar(
        select(Ticket)
        .options(
            joinedload(Ticket.agency),
            selectinload(Ticket.events).joinedload(TicketEvent.agency),
        )
        .where(Ticket.code == normalize_ticket_code(code))
    )
    if ticket is None:
        raise NotFound(f"Ticket '{code}' not found.")
    return ticket


@dataclass(frozen=True)
class TicketFilters:
    status: list[TicketStatus] | None = None
    agency: str | None = None
    category: str | None = None
    ward: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    channel: str | None = None
    # Open and past the SLA deadline at `now`.
    overdue: bool = False
    now: datetime | None = None
    assignee_id: int | None = None
    # A ticket code (with or without its PA prefix) or words of the description.
    search: str | None = None


def encode_cursor(ticket: Ticket) -> str:
    raw = json.dumps([ticket.created_at.isoformat(), ticket.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_BAD_CURSOR = "The cursor is not valid: pass the next_cursor of a previous page."


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, ticket_id = json.loads(raw)
        moment, ticket_id = datetime.fromisoformat(created), int(ticket_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
        raise Invalid(_BAD_CURSOR) from exc
    # A forged id past BIGINT would fail in the database (a 500), a naive time would compare
    # in the server's zone.
    if moment.tzinfo is None or not 0 < ticket_id < 2**63:
        raise Invalid(_BAD_CURSOR)
    return moment, ticket_id


def list_tickets(
    session: Session,
    *,
    principal: Principal,
    filters: TicketFilters,
    cursor: str | None = None,
    limit: int = 50,
    with_history: bool = True,
) -> tuple[list[Ticket], str | None]:
    """One page of tickets, newest first, with the cursor of the next page.

    Without history, the tickets come as a queue shows them (no events, contact or rating).
    """
    require_ticket_reader(principal)
    query = ticket_query() if with_history else queue_query()
    agency_code = filters.agency
    if not principal.sees_all_agencies:
        own = session.get(Agency, principal.agency_id) if principal.agency_id else None
        if own is None:
            raise Forbidden("This account is not attached to an agency.")
        if agency_code and agency_code != own.code:
            raise Forbidden("Agency staff can only list their own agency's tickets.")
        query = query.where(Ticket.agency_id == own.id)
    elif agency_code:
        agency_id = session.scalar(select(Agency.id).where(Agency.code == agency_code))
        if agency_id is None:
            raise Invalid(f"Unknown agency code '{agency_code}'.")
        query = query.where(Ticket.agency_id == agency_id)
    if filters.status:
        query = query.where(Ticket.status.in_(filters.status))
    if filters.category:
        query = query.where(Ticket.category_code == filters.category)
    if filters.ward:
        query = query.where(Ticket.ward_code == filters.ward)
    if filters.created_from:
        query = query.where(Ticket.created_at >= filters.created_from)
    if filters.created_to:
        query = query.where(Ticket.created_at < filters.created_to)
    if filters.channel:
        query = query.where(Ticket.channel == filters.channel)
    if filters.assignee_id is not None:
        query = query.where(Ticket.assignee_id == filters.assignee_id)
    if filters.overdue:
        now = filters.now or datetime.now(UTC)
        query = query.where(Ticket.status.in_(OPEN_STATUSES), Ticket.sla_due_at < now)
    if filters.search and filters.search.strip():
        query = query.where(_search(filters.search.strip()))
    if cursor:
        created_at, ticket_id = decode_cursor(cursor)
        query = query.where(tuple_(Ticket.created_at, Ticket.id) < tuple_(created_at, ticket_id))
    query = query.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit + 1)
    tickets = list(session.scalars(query).unique())
    next_cursor = encode_cursor(tickets[limit - 1]) if len(tickets) > limit else None
    return tickets[:limit], next_cursor


def _search(text: str):  # type: ignore[no-untyped-def]
    """A code finds its ticket; other words are looked for in the description."""
    code = normalize_ticket_code(text)
    words = text.replace("%", "").replace("_", "")
    return or_(Ticket.code == code, Ticket.description.ilike(f"%{words}%"))


def list_duplicates(session: Session, *, ticket: Ticket) -> list[Ticket]:
    """The tickets marked as duplicates of this one (merged or only suspected)."""
    return list(
        session.scalars(
            select(Ticket).where(Ticket.duplicate_of_id == ticket.id).order_by(Ticket.created_at)
        )
    )


def category_corrections(session: Session) -> Iterator[tuple[str, str]]:
    """(description, final category) of each ticket whose category staff changed: the NLU's
    guess overruled, or a category corrected by hand (an event with `category_to`)."""
    corrected_by_hand = exists().where(
        TicketEvent.ticket_id == Ticket.id,
        TicketEvent.kind.in_(("recategorize", "assign", "transfer")),
        func.coalesce(TicketEvent.data["category_to"].as_string(), "") != "",
    )
    rows = session.execute(
        select(Ticket.description, Ticket.category_code)
        .where(
            Ticket.category_code.is_not(None),
            or_(
                (Ticket.predicted_category_code.is_not(None))
                & (Ticket.category_code != Ticket.predicted_category_code),
                corrected_by_hand,
            ),
        )
        .order_by(Ticket.id)
        .execution_options(yield_per=1000)
    )
    for description, category in rows:
        if category is not None:  # the query's filter; spelled out for the type checker
            yield description, category
