"""The ticket lifecycle: filing a ticket, and the staff actions that move it along.

Routing a new ticket is in feedback/routing.py, reading tickets in feedback/queries.py, the
rules of who may do what in feedback/policy.py. Services never commit: the request or the task
that called them owns the transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from core import metrics
from core.celery_app import enqueue
from core.errors import Conflict, Invalid, NotFound
from feedback import reference
from feedback.attachments import is_photo_url, stored_file_exists
from feedback.auth import SYSTEM, Principal
from feedback.contacts import find_or_create_contact
from feedback.history import record_event
from feedback.lifecycle import check_transition
from feedback.models import (
    Agency,
    Category,
    StaffRole,
    StaffUser,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from feedback.policy import require_action
from feedback.queries import get_ticket
from feedback.quotas import check_ticket_quota
from feedback.schemas import (
    ACTION_BODIES,
    AgencyBody,
    AssigneeBody,
    CategoryBody,
    MergeBody,
    MessageBody,
    NoteBody,
    OptionalMessageBody,
    ReasonBody,
    ResolveBody,
    StartBody,
    TicketCreate,
)
from feedback.sla import set_sla_due
from feedback.ticket_codes import generate_ticket_code
from nlu.language import detect_language


def _now() -> datetime:
    return datetime.now(UTC)


def _agency_by_code(session: Session, code: str) -> Agency:
    agency = session.scalar(select(Agency).where(Agency.code == code, Agency.active.is_(True)))
    if agency is None:
        raise Invalid(f"Unknown agency code '{code}'.")
    return agency


def _check_category(session: Session, code: str) -> None:
    if session.get(Category, code) is None:
        raise Invalid(f"Unknown category code '{code}'.")


# --- Filing ---------------------------------------------------------------------------------


def create_ticket(
    session: Session,
    *,
    data: TicketCreate,
    actor: Principal,
    now: datetime | None = None,
    channel: str | None = None,
) -> Ticket:
    """File a ticket and queue its routing; the caller's commit sends the routing job.

    `channel` names an intake that is not a chat channel (Open311)."""
    now = now or _now()
    if data.category is not None and not reference.category_exists(session, data.category):
        raise Invalid(f"Unknown category code '{data.category}'.")
    if data.ward_code is not None and not reference.ward_exists(session, data.ward_code):
        raise Invalid(f"Unknown ward code '{data.ward_code}'.")
    contact = find_or_create_contact(session, data.contact, actor=actor) if data.contact else None
    if contact is not None and actor.kind != "staff":
        check_ticket_quota(session, contact, now=now)
    # A desk's ticket is not the chat's (feedback/contacts.py): it takes no channel from it.
    chat_channel = data.contact.channel if data.contact and actor.kind != "staff" else None
    ticket = Ticket(
        code=generate_ticket_code(),
        kind=data.kind,
        status=TicketStatus.NEW,
        priority=data.priority,
        description=data.description,
        language=detect_language(data.description),
        ward_code=data.ward_code,
        address=data.address,
        latitude=data.latitude,
        longitude=data.longitude,
        attachments=[{"type": "photo", "url": url} for url in data.photos],
        channel=channel or data.channel or chat_channel,
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
        ("assignee", None),
        ("survey_responses", []),
    ):
        set_committed_value(ticket, name, value)
    enqueue(session, "feedback.route_ticket", ticket_id=ticket.id)
    metrics.record_after_commit(
        session,
        "tickets_created",
        channel=ticket.channel or "none",
        category=data.category or "unclassified",
    )
    return ticket


# --- Staff actions --------------------------------------------------------------------------


def parse_action_body(action: str, payload: dict[str, Any] | None) -> BaseModel:
    """Validate the body of a ticket action against that action's schema."""
    if action not in ACTION_BODIES:
        known = ", ".join(sorted(ACTION_BODIES))
        raise NotFound(f"Unknown action '{action}'. Known actions: {known}.")
    return ACTION_BODIES[action].model_validate(payload or {})


# Status changes the citizen hears about even without a public message.
_STATUSES_TOLD_TO_CITIZEN = frozenset(
    {TicketStatus.RESOLVED.value, TicketStatus.REJECTED.value, TicketStatus.IN_PROGRESS.value}
)


def tells_citizen(event: TicketEvent) -> bool:
    """Whether the citizen hears of this event (bot/notify.py): a public message, or a move to
    a status they are told of. A note on a resolved ticket is neither, though the ticket is
    still resolved."""
    moved = event.to_status != event.from_status
    return event.public or (moved and event.to_status in _STATUSES_TOLD_TO_CITIZEN)


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
    require_action(principal, action)
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

    merged_into: Ticket | None = None

    if isinstance(body, AgencyBody):
        data = _reassign(session, ticket, action=action, body=body)
        message, event_agency_id = body.message, ticket.agency_id
    elif isinstance(body, ResolveBody):
        data = {"attachments": _evidence(body.attachments)}
        message, public = body.message, True
    elif isinstance(body, MessageBody):
        message, public = body.message, body.public
    elif isinstance(body, NoteBody):
        message = body.message
    elif isinstance(body, ReasonBody):
        message, public = body.reason, True
    elif isinstance(body, StartBody | AssigneeBody):
        data = _assign_staff(session, ticket, principal=principal, username=body.assignee)
        message = body.message
    elif isinstance(body, CategoryBody):
        data = _recategorize(session, ticket, category=body.category)
        message = body.message
    elif isinstance(body, MergeBody):
        merged_into = _merge(session, ticket, into=body.into, principal=principal, now=now)
        data = {"into": merged_into.code}
        message = body.message or MERGED_NOTICE.format(code=merged_into.code)
        public = True
    elif isinstance(body, OptionalMessageBody):
        message = body.message

    ticket.status = to_status
    _stamp_times(ticket, action=action, to_status=to_status, now=now)
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
    if ticket.contact_id is not None and tells_citizen(event):
        # The bot tells the citizen on the channel they wrote from (bot/notify.py); if this job
        # is lost (the broker was down), beat's bot.notify_missed_events queues it again.
        enqueue(session, "bot.notify_contact", event_id=event.id)
    if merged_into is not None:
        record_event(
            session,
            merged_into,
            kind="merged_in",
            actor=principal,
            now=now,
            from_status=merged_into.status,
            message=body.message if isinstance(body, MergeBody) else None,
            data={"from": ticket.code},
        )
    session.expire(ticket, ["events", "agency"])
    return get_ticket(session, code=ticket.code, principal=SYSTEM)


def _reassign(session: Session, ticket: Ticket, *, action: str, body: AgencyBody) -> dict[str, Any]:
    """Assign or transfer: the new agency, maybe a corrected category, and a new deadline.

    Returns what the history event records of the change.
    """
    agency = _agency_by_code(session, body.agency)
    if action == "transfer" and agency.id == ticket.agency_id:
        raise Invalid(f"The ticket is already with {agency.code}.")
    data: dict[str, Any] = {}
    if body.category and body.category != ticket.category_code:
        _check_category(session, body.category)
        data = {"category_from": ticket.category_code, "category_to": body.category}
        ticket.category_code = body.category
    if ticket.category_code is None:
        raise Invalid("This ticket has no category yet: give one with the agency.")
    data["agency_from"] = ticket.agency.code if ticket.agency else None
    if agency.id != ticket.agency_id:
        ticket.assignee_id = None  # the new agency decides who handles it
    ticket.agency_id = agency.id
    if ticket.sla_due_at is None or "category_to" in data:
        set_sla_due(session, ticket)
    return data


NO_EVIDENCE = (
    "Cần đính kèm ít nhất một tệp minh chứng (ảnh hoặc tài liệu PDF) để hoàn thành phản ánh: "
    "người dân sẽ thấy câu trả lời cùng minh chứng."
)
MERGED_NOTICE = (
    "Phản ánh của bạn trùng với phản ánh {code} đang được xử lý. Từ nay bạn sẽ nhận thông báo "
    "về phản ánh {code}."
)


def _evidence(urls: list[str]) -> list[str]:
    """The resolution's evidence: at least one file uploaded here, each still stored."""
    if not urls:
        raise Invalid(NO_EVIDENCE)
    missing = [url for url in urls if not stored_file_exists(url)]
    if missing:
        raise Invalid(f"Không tìm thấy tệp minh chứng {missing[0]}: hãy tải tệp lên lại.")
    # Photos first: the citizen's notice shows the first photo (bot/notify.py).
    return sorted(dict.fromkeys(urls), key=lambda url: not is_photo_url(url))


def _assign_staff(
    session: Session, ticket: Ticket, *, principal: Principal, username: str | None
) -> dict[str, Any]:
    """Give the ticket to one official of its agency (by default, whoever starts it)."""
    if username is None:
        if principal.user_id is None or ticket.assignee_id is not None:
            return {}
        user = session.get(StaffUser, principal.user_id)
    else:
        user = session.scalar(select(StaffUser).where(StaffUser.username == username))
    if user is None or not user.active:
        raise Invalid(f"Không có cán bộ '{username}'.")
    if user.agency_id is not None and user.agency_id != ticket.agency_id:
        raise Invalid(f"Cán bộ {user.username} không thuộc cơ quan đang xử lý phản ánh này.")
    if user.agency_id is None and user.role not in (StaffRole.ADMIN, StaffRole.DISPATCHER):
        raise Invalid(f"Cán bộ {user.username} không xử lý phản ánh.")
    previous = ticket.assignee.username if ticket.assignee_id and ticket.assignee else None
    ticket.assignee_id = user.id
    session.expire(ticket, ["assignee"])
    return {"assignee": user.username, "assignee_from": previous}


def _recategorize(session: Session, ticket: Ticket, *, category: str) -> dict[str, Any]:
    """A corrected category: a new deadline, and a training example for the NLU
    (`tiepdan nlu export-corrections` reads the event's `category_to`)."""
    if category == ticket.category_code:
        raise Invalid("Phản ánh đã thuộc lĩnh vực này.")
    _check_category(session, category)
    data = {"category_from": ticket.category_code, "category_to": category}
    ticket.category_code = category
    if ticket.agency_id is not None:
        set_sla_due(session, ticket)
    return data


def _merge(
    session: Session, ticket: Ticket, *, into: str, principal: Principal, now: datetime
) -> Ticket:
    """Link a duplicate to its original; the duplicate's citizen then follows the original
    (feedback.contacts.contacts_to_tell)."""
    original = get_ticket(session, code=into, principal=principal)
    if original.id == ticket.id:
        raise Invalid("Không thể gộp phản ánh vào chính nó.")
    if original.merged_at is not None or original.status in (
        TicketStatus.CLOSED,
        TicketStatus.REJECTED,
    ):
        raise Conflict(
            f"Phản ánh {original.code} đã đóng hoặc đã được gộp: hãy gộp vào phản ánh gốc còn mở."
        )
    ticket.duplicate_of_id = original.id
    ticket.merged_at = now
    session.expire(ticket, ["duplicate_of"])
    return original


def _stamp_times(ticket: Ticket, *, action: str, to_status: TicketStatus, now: datetime) -> None:
    """The first response, resolution and closing times the KPIs are measured by."""
    # A reply, a resolution and a rejection's reason each answer the citizen; a note does not.
    if action in ("reply", "resolve", "reject") and ticket.first_response_at is None:
        ticket.first_response_at = now
    if to_status == TicketStatus.RESOLVED:
        ticket.resolved_at = now
    if to_status == TicketStatus.CLOSED:
        ticket.closed_at = now
    if to_status == TicketStatus.REOPENED:
        ticket.resolved_at = None
