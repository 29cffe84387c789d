"""Tickets: intake, routing, the staff actions, queues and the public lookup.

Services never commit: the request or the task that called them owns the transaction.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, select, tuple_
from sqlalchemy.orm import Session, joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from core.celery_app import enqueue
from core.errors import Forbidden, Invalid, NotFound
from core.settings import get_settings
from feedback import reference
from feedback.auth import SYSTEM, Principal, can_see_ticket
from feedback.lifecycle import check_transition
from feedback.models import (
    OPEN_STATUSES,
    Agency,
    Category,
    Contact,
    ContactIdentity,
    StaffRole,
    StaffUser,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from feedback.routing import OpenTicketText, TicketClassifier, choose_agency
from feedback.schemas import (
    ACTION_BODIES,
    AgencyBody,
    ContactIn,
    MessageBody,
    NoteBody,
    OptionalMessageBody,
    ReasonBody,
    TicketCreate,
)
from feedback.sla import WorkingCalendar, default_holidays_dir

# Crockford's base32 without I, L, O, U: readable over the phone, no look-alike characters.
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CODE_PREFIX = "PA"
_CODE_LENGTH = 8  # 32**8 ≈ 10**12 codes: guessing a live one is hopeless


def generate_ticket_code() -> str:
    # 32 letters: a random byte modulo 32 is uniform. One read of the OS's generator, not eight.
    return _CODE_PREFIX + "".join(_CODE_ALPHABET[b % 32] for b in secrets.token_bytes(_CODE_LENGTH))


def normalize_ticket_code(raw: str) -> str:
    """Accept what people type: lower case, spaces, dashes, O for 0 and I or L for 1."""
    code = raw.upper().replace("-", "").replace(" ", "")
    if code.startswith(_CODE_PREFIX):
        body = code[len(_CODE_PREFIX) :].replace("O", "0").replace("I", "1").replace("L", "1")
        code = _CODE_PREFIX + body
    return code


@lru_cache
def get_calendar() -> WorkingCalendar:
    """The working-day calendar from the holiday files (TIEPDAN_HOLIDAYS_DIR to extend)."""
    settings = get_settings()
    open_h, open_m = (int(p) for p in settings.office_open.split(":"))
    close_h, close_m = (int(p) for p in settings.office_close.split(":"))
    return WorkingCalendar.from_directory(
        settings.holidays_dir or default_holidays_dir(),
        timezone=settings.timezone,
        office_open=time(open_h, open_m),
        office_close=time(close_h, close_m),
    )


def _now() -> datetime:
    return datetime.now(UTC)


def record_event(
    session: Session,
    ticket: Ticket,
    *,
    kind: str,
    actor: Principal,
    now: datetime,
    from_status: TicketStatus | None = None,
    message: str | None = None,
    public: bool = False,
    agency_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> TicketEvent:
    event = TicketEvent(
        ticket_id=ticket.id,
        kind=kind,
        from_status=from_status.value if from_status else None,
        to_status=ticket.status.value,
        agency_id=agency_id if agency_id is not None else ticket.agency_id,
        actor_type=actor.kind,
        actor_id=actor.user_id,
        message=message,
        public=public,
        data=data or {},
        created_at=now,
    )
    session.add(event)
    if ticket.id is None:  # a ticket being filed: both rows go out in the same flush
        event.ticket = ticket
    elif "events" in ticket.__dict__:  # the history is loaded in this session: keep it current
        set_committed_value(ticket, "events", [*ticket.events, event])
    ticket.updated_at = now
    return event


def _agency_by_code(session: Session, code: str) -> Agency:
    agency = session.scalar(select(Agency).where(Agency.code == code, Agency.active.is_(True)))
    if agency is None:
        raise Invalid(f"Unknown agency code '{code}'.")
    return agency


def _category(session: Session, code: str) -> Category:
    category = session.get(Category, code)
    if category is None:
        raise Invalid(f"Unknown category code '{code}'.")
    return category


def _set_sla(session: Session, ticket: Ticket) -> None:
    if ticket.category_code is None:
        return
    category = _category(session, ticket.category_code)
    ticket.sla_due_at = get_calendar().due_at(ticket.created_at, category.sla_working_days)


def _find_or_create_contact(session: Session, data: ContactIn) -> Contact:
    if data.channel and data.channel_user_id:
        known = session.scalar(
            select(Contact)
            .join(ContactIdentity)
            .where(
                ContactIdentity.channel == data.channel,
                ContactIdentity.channel_user_id == data.channel_user_id,
            )
        )
        if known is not None:
            _update_contact(known, data)
            return known
    contact = Contact(kind=data.kind)
    _update_contact(contact, data)
    session.add(contact)
    if data.channel and data.channel_user_id:
        # Through the relationship, so one flush writes the contact, its identity and the ticket.
        set_committed_value(contact, "identities", [])
        contact.identities.append(
            ContactIdentity(channel=data.channel, channel_user_id=data.channel_user_id)
        )
    return contact


def _update_contact(contact: Contact, data: ContactIn) -> None:
    contact.kind = data.kind
    for field in ("name", "company_name", "tax_code"):
        value = getattr(data, field)
        if value:
            setattr(contact, field, value)
    if data.phone and data.phone_consent:
        contact.phone = data.phone
        contact.phone_consent = True


def create_ticket(
    session: Session, *, data: TicketCreate, actor: Principal, now: datetime | None = None
) -> Ticket:
    """File a ticket and queue its routing; the caller's commit sends the routing job."""
    now = now or _now()
    if data.category is not None and not reference.category_exists(session, data.category):
        raise Invalid(f"Unknown category code '{data.category}'.")
    if data.ward_code is not None and not reference.ward_exists(session, data.ward_code):
        raise Invalid(f"Unknown ward code '{data.ward_code}'.")
    contact = _find_or_create_contact(session, data.contact) if data.contact else None
    ticket = Ticket(
        code=generate_ticket_code(),
        kind=data.kind,
        status=TicketStatus.NEW,
        priority=data.priority,
        description=data.description,
        ward_code=data.ward_code,
        address=data.address,
        latitude=data.latitude,
        longitude=data.longitude,
        attachments=[{"type": "photo", "url": url} for url in data.photos],
        channel=data.channel or (data.contact.channel if data.contact else None),
        category_code=data.category,
        predicted_category_code=None,
        category_confidence=1.0 if data.category else None,
        contact=contact,
        is_public=False,
        created_at=now,
        updated_at=now,
    )
    session.add(ticket)
    event = record_event(session, ticket, kind="created", actor=actor, now=now)
    session.flush()
    # The new ticket's relationships are known: fill them in rather than reload the ticket
    # (the reload was a third of the cost of filing one).
    set_committed_value(event, "agency", None)
    set_committed_value(
        event, "actor", session.get(StaffUser, actor.user_id) if actor.user_id else None
    )
    for name, value in (
        ("events", [event]),
        ("contact", contact),
        ("agency", None),
        ("duplicate_of", None),
    ):
        set_committed_value(ticket, name, value)
    enqueue(session, "feedback.route_ticket", ticket_id=ticket.id)
    return ticket


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
    now = now or _now()
    ticket = session.scalar(select(Ticket).where(Ticket.id == ticket_id).with_for_update())
    if ticket is None or ticket.status != TicketStatus.NEW:
        return ticket
    if ticket.category_code is None or ticket.ward_code is None:
        prediction = classifier.predict(ticket.description)
        known_ward = prediction.ward_code and reference.ward_exists(session, prediction.ward_code)
        if ticket.ward_code is None and known_ward:
            ticket.ward_code = prediction.ward_code
        if ticket.category_code is None:
            ticket.predicted_category_code = prediction.category
            ticket.category_confidence = prediction.confidence
            confident = prediction.confidence >= get_settings().triage_threshold
            if (
                prediction.category
                and confident
                and reference.category_exists(session, prediction.category)
            ):
                ticket.category_code = prediction.category
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
    _set_sla(session, ticket)
    record_event(session, ticket, kind="routed", actor=SYSTEM, now=now, from_status=from_status)
    _flag_duplicate(session, ticket, classifier, now)
    return ticket


# How far back an open ticket may be the same problem as a new one.
DUPLICATE_LOOKBACK_DAYS = 30


def _flag_duplicate(
    session: Session, ticket: Ticket, classifier: TicketClassifier, now: datetime
) -> None:
    """Mark a likely duplicate of an open ticket nearby; staff confirm or clear it."""
    if ticket.category_code is None or ticket.ward_code is None:
        return
    rows = session.execute(
        select(Ticket.id, Ticket.code, Ticket.description, Ticket.ward_code)
        .where(
            Ticket.id != ticket.id,
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


def _ticket_query() -> Select[Ticket]:
    return select(Ticket).options(
        joinedload(Ticket.agency),
        joinedload(Ticket.contact),
        joinedload(Ticket.duplicate_of),
        selectinload(Ticket.events).joinedload(TicketEvent.agency),
        selectinload(Ticket.events).joinedload(TicketEvent.actor),
    )


def get_ticket(session: Session, *, code: str, principal: Principal) -> Ticket:
    """A ticket the principal may see; another agency's ticket is 'not found' to them."""
    _require_ticket_reader(principal)
    ticket = session.scalar(_ticket_query().where(Ticket.code == normalize_ticket_code(code)))
    if ticket is None or not can_see_ticket(principal, ticket):
        raise NotFound(f"Ticket '{code}' not found.")
    return ticket


def _require_ticket_reader(principal: Principal) -> None:
    if principal.kind == "staff" and principal.role == StaffRole.VIEWER:
        raise Forbidden("Viewers see aggregate figures, not individual tickets.")
    if principal.kind == "service":
        # The bot reads a chat's own tickets through /api/v1/bot, never the staff view with
        # every contact's phone number.
        raise Forbidden("The service token reads tickets through /api/v1/bot/tickets only.")


@dataclass(frozen=True)
class TicketFilters:
    status: list[TicketStatus] | None = None
    agency: str | None = None
    category: str | None = None
    ward: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


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
) -> tuple[list[Ticket], str | None]:
    """One page of tickets, newest first, with the cursor of the next page."""
    _require_ticket_reader(principal)
    query = _ticket_query()
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
    if cursor:
        created_at, ticket_id = decode_cursor(cursor)
        query = query.where(tuple_(Ticket.created_at, Ticket.id) < tuple_(created_at, ticket_id))
    query = query.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit + 1)
    tickets = list(session.scalars(query).unique())
    next_cursor = encode_cursor(tickets[limit - 1]) if len(tickets) > limit else None
    return tickets[:limit], next_cursor


def parse_action_body(action: str, payload: dict[str, Any] | None) -> BaseModel:
    """Validate the body of a ticket action against that action's schema."""
    if action not in ACTION_BODIES:
        known = ", ".join(sorted(ACTION_BODIES))
        raise NotFound(f"Unknown action '{action}'. Known actions: {known}.")
    return ACTION_BODIES[action].model_validate(payload or {})


# Actions each kind of principal may take; agency staff act only on their own tickets.
_STAFF_ACTIONS = frozenset(
    {"start", "reply", "transfer", "resolve", "reject", "reopen", "close", "note"}
)


def _require_action(principal: Principal, action: str) -> None:
    if principal.sees_all_agencies and principal.kind != "service":
        return
    if principal.role == StaffRole.AGENCY_STAFF and action in _STAFF_ACTIONS:
        return
    if action == "assign":
        raise Forbidden("Only dispatchers and admins assign tickets.")
    raise Forbidden(f"This account may not {action} tickets.")


# Status changes the citizen hears about even without a public message.
_STATUSES_TOLD_TO_CITIZEN = frozenset(
    {TicketStatus.RESOLVED, TicketStatus.REJECTED, TicketStatus.IN_PROGRESS}
)


def apply_action(
    session: Session,
    *,
    code: str,
    action: str,
    body: BaseModel,
    principal: Principal,
    now: datetime | None = None,
) -> Ticket:
    """Run one staff action on a ticket, enforcing the status machine and the role rules."""
    ticket = get_ticket(session, code=code, principal=principal)
    _require_action(principal, action)
    return perform_action(session, ticket, action=action, body=body, principal=principal, now=now)


def perform_action(
    session: Session,
    ticket: Ticket,
    *,
    action: str,
    body: BaseModel,
    principal: Principal,
    now: datetime | None = None,
) -> Ticket:
    """Run an action on a ticket whose caller's right to it has already been checked."""
    now = now or _now()
    from_status = ticket.status
    to_status = check_transition(action, from_status)
    message: str | None = None
    public = False
    data: dict[str, Any] = {}
    event_agency_id: int | None = None

    if isinstance(body, AgencyBody):
        agency = _agency_by_code(session, body.agency)
        if action == "transfer" and agency.id == ticket.agency_id:
            raise Invalid(f"The ticket is already with {agency.code}.")
        if body.category and body.category != ticket.category_code:
            _category(session, body.category)
            data = {"category_from": ticket.category_code, "category_to": body.category}
            ticket.category_code = body.category
        if ticket.category_code is None:
            raise Invalid("This ticket has no category yet: give one with the agency.")
        data["agency_from"] = ticket.agency.code if ticket.agency else None
        ticket.agency_id = agency.id
        event_agency_id = agency.id
        message = body.message
        if ticket.sla_due_at is None or "category_to" in data:
            _set_sla(session, ticket)
    elif isinstance(body, MessageBody):
        message, public = body.message, body.public
    elif isinstance(body, NoteBody):
        message = body.message
    elif isinstance(body, ReasonBody):
        message, public = body.reason, True
    elif isinstance(body, OptionalMessageBody):
        message = body.message

    ticket.status = to_status
    # A reply, a resolution and a rejection's reason each answer the citizen; a note does not.
    if action in ("reply", "resolve", "reject") and ticket.first_response_at is None:
        ticket.first_response_at = now
    if to_status == TicketStatus.RESOLVED:
        ticket.resolved_at = now
    if to_status == TicketStatus.CLOSED:
        ticket.closed_at = now
    if to_status == TicketStatus.REOPENED:
        ticket.resolved_at = None
    event = record_event(
        session,
        ticket,
        kind=action,
        actor=principal,
        now=now,
        from_status=from_status,
        message=message,
        public=public,
        agency_id=event_agency_id,
        data=data,
    )
    session.flush()
    # A public message, or a move to a status the citizen hears about; a note on a resolved
    # ticket is neither, though the ticket is still resolved.
    told = public or (to_status != from_status and to_status in _STATUSES_TOLD_TO_CITIZEN)
    if ticket.contact_id is not None and told:
        # The bot tells the citizen on the channel they wrote from (bot/notify.py).
        enqueue(session, "bot.notify_contact", event_id=event.id)
    session.expire(ticket, ["events", "agency"])
    return get_ticket(session, code=ticket.code, principal=SYSTEM)


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


def list_agencies(session: Session) -> list[Agency]:
    """Active agencies: departments first, then ward People's Committees, by name."""
    return list(
        session.scalars(
            select(Agency).where(Agency.active.is_(True)).order_by(Agency.level, Agency.code)
        )
    )
