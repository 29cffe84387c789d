"""Open311 GeoReport v2 over the tickets: services are the categories, requests the tickets.

What leaves, and what does not (the rule "nothing personal leaves the platform" overrides the
spec where they meet):

- `service_request_id` is the ticket's number, not its code: the code is the citizen's key to
  the public status page, and a public list must not hand it out;
- `description` is the category's name, never the citizen's text; `status_notes` is a fixed
  phrase per status, never a staff reply (a reply may quote the citizen);
- `address` is the ward's name, and `lat`/`long` the ward's centre; `media_url` is always
  empty (photos are the citizen's); `address_id` and `zipcode` are empty;
- a request filed through Open311 keeps no reporter details (email, names, phone): the
  platform keeps a phone only with consent, which Open311 cannot express.

`status` is the spec's open|closed; mySociety's extended status (fixed, in_progress,
action_scheduled, for_triage, reopen, duplicate, no_further_action ...) is in
`extended_attributes.status`, as in their Open311 extensions.

Tickets without a category (waiting in triage) have no service yet and are not listed.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import AppError
from core.settings import get_settings
from feedback import reference, service
from feedback.auth import Principal
from feedback.models import OPEN_STATUSES, Agency, Category, Ticket, TicketKind, TicketStatus, Ward
from feedback.schemas import TicketCreate

MAX_REQUESTS = 1000
MAX_WINDOW = timedelta(days=90)
CHANNEL = "open311"  # tickets.channel of the requests filed here (not a chat channel)

KIND_NAMES = {
    TicketKind.COMPLAINT: "Phản ánh",
    TicketKind.SUGGESTION: "Kiến nghị",
    TicketKind.BUSINESS_REQUEST: "Yêu cầu của doanh nghiệp",
    TicketKind.QUESTION: "Câu hỏi",
}
# Our status → (Open311 status, mySociety's extended status, a fixed note).
_STATUS = {
    TicketStatus.NEW: ("open", "open", "Đã tiếp nhận."),
    TicketStatus.TRIAGE: ("open", "for_triage", "Đang phân loại, chuyển cơ quan xử lý."),
    TicketStatus.ASSIGNED: ("open", "action_scheduled", "Đã chuyển cơ quan có thẩm quyền."),
    TicketStatus.IN_PROGRESS: ("open", "in_progress", "Cơ quan đang xử lý."),
    TicketStatus.REOPENED: ("open", "reopen", "Mở lại: người dân cho biết chưa được xử lý."),
    TicketStatus.RESOLVED: ("closed", "fixed", "Đã xử lý xong."),
    TicketStatus.CLOSED: ("closed", "fixed", "Đã xử lý xong."),
    TicketStatus.REJECTED: ("closed", "no_further_action", "Không thuộc diện xử lý."),
}


class Open311Error(AppError):
    """An error in the spec's shape: [{"code": ..., "description": ...}]."""


def _names(session: Session) -> tuple[dict[str, str], dict[int, str], dict[str, Any]]:
    categories = dict(session.execute(select(Category.code, Category.name)).all())
    agencies = dict(session.execute(select(Agency.id, Agency.name)).all())
    wards = {
        code: (name, lat, lon)
        for code, name, lat, lon in session.execute(
            select(Ward.code, Ward.name, Ward.latitude, Ward.longitude)
        )
    }
    return categories, agencies, wards


def services(session: Session) -> list[dict[str, Any]]:
    """GET services: one per category."""
    return [
        {
            "service_code": code,
            "service_name": name,
            "description": f"Phản ánh, kiến nghị về {name.lower()}.",
            "metadata": True,
            "type": "realtime",
            "keywords": name.lower(),
            "group": "Phản ánh, kiến nghị",
        }
        for code, name in session.execute(
            select(Category.code, Category.name).order_by(Category.code)
        )
    ]


def service_definition(session: Session, code: str) -> dict[str, Any]:
    """GET services/{code}: the attributes a request of this service may carry."""
    if session.get(Category, code) is None:
        raise Open311Error(f"Unknown service_code '{code}'.", status_code=404)
    return {
        "service_code": code,
        "attributes": [
            {
                "variable": True,
                "code": "kind",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": "Loại: phản ánh (mặc định), kiến nghị, câu hỏi...",
                "order": 1,
                "description": "Loại phản ánh, kiến nghị",
                "values": [{"key": kind.value, "name": name} for kind, name in KIND_NAMES.items()],
            }
        ],
    }


@dataclass(frozen=True)
class RequestFilter:
    service_request_ids: list[int] | None = None
    service_codes: list[str] | None = None
    start: datetime | None = None
    end: datetime | None = None
    status: str | None = None  # open | closed


def _parse_ids(value: str) -> list[int]:
    try:
        return [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise Open311Error("service_request_id must be numbers, comma-separated.") from None


def request_filter(
    *,
    service_request_id: str | None,
    service_code: str | None,
    start_date: str | None,
    end_date: str | None,
    status: str | None,
    now: datetime | None = None,
) -> RequestFilter:
    """The query parameters of GET requests, checked as the spec says."""
    if service_request_id:
        return RequestFilter(service_request_ids=_parse_ids(service_request_id))
    start, end = _moment(start_date, "start_date"), _moment(end_date, "end_date")
    now = now or datetime.now(UTC)
    if start is None and end is None:
        start = now - MAX_WINDOW
    elif start is None:
        assert end is not None
        start = end - MAX_WINDOW
    if end is not None and start >= end:
        raise Open311Error("start_date must be before end_date.")
    if end is not None and end - start > MAX_WINDOW:
        raise Open311Error("start_date and end_date may not span more than 90 days.")
    statuses = None
    if status:
        statuses = {part.strip() for part in status.split(",")}
        if not statuses <= {"open", "closed"}:
            raise Open311Error("status must be 'open' or 'closed' (or both, comma-separated).")
    return RequestFilter(
        service_codes=[c for c in service_code.split(",") if c] if service_code else None,
        start=start,
        end=end,
        status=statuses.pop() if statuses and len(statuses) == 1 else None,
    )


def _moment(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(f"{name} must be a W3C datetime, e.g. 2026-11-01T00:00:00Z.") from None
    if moment.tzinfo is None:
        raise Open311Error(f"{name} needs a time zone, e.g. 2026-11-01T00:00:00+07:00.")
    return moment


def list_requests(session: Session, filters: RequestFilter) -> list[dict[str, Any]]:
    """GET requests: at most 1000, the most recent first."""
    query = select(Ticket).where(Ticket.category_code.is_not(None))
    if filters.service_request_ids is not None:
        query = query.where(Ticket.id.in_(filters.service_request_ids[:MAX_REQUESTS]))
    else:
        if filters.service_codes:
            query = query.where(Ticket.category_code.in_(filters.service_codes))
        if filters.start is not None:
            query = query.where(Ticket.created_at >= filters.start)
        if filters.end is not None:
            query = query.where(Ticket.created_at < filters.end)
        if filters.status == "open":
            query = query.where(Ticket.status.in_(OPEN_STATUSES))
        elif filters.status == "closed":
            query = query.where(Ticket.status.not_in(OPEN_STATUSES))
    tickets = session.scalars(
        query.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(MAX_REQUESTS)
    ).all()
    categories, agencies, wards = _names(session)
    return [_request(t, categories, agencies, wards) for t in tickets]


def get_request(session: Session, request_id: str) -> dict[str, Any]:
    """GET requests/{id}."""
    if not request_id.isdigit():
        raise Open311Error(f"No service request '{request_id}'.", status_code=404)
    found = list_requests(session, RequestFilter(service_request_ids=[int(request_id)]))
    if not found:
        raise Open311Error(f"No service request '{request_id}'.", status_code=404)
    return found[0]


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def _request(
    ticket: Ticket,
    categories: dict[str, str],
    agencies: dict[int, str],
    wards: dict[str, Any],
) -> dict[str, Any]:
    status, extended, note = _STATUS[ticket.status]
    if ticket.status == TicketStatus.CLOSED and ticket.merged_at is not None:
        extended, note = "duplicate", "Trùng với một phản ánh khác đang được xử lý."
    name = categories.get(ticket.category_code or "", ticket.category_code or "")
    ward_name, lat, lon = wards.get(ticket.ward_code or "", (None, None, None))
    return {
        "service_request_id": str(ticket.id),
        "status": status,
        "status_notes": note,
        "service_name": name,
        "service_code": ticket.category_code,
        "description": name,
        "agency_responsible": agencies.get(ticket.agency_id) if ticket.agency_id else None,
        "service_notice": None,
        "requested_datetime": _iso(ticket.created_at),
        "updated_datetime": _iso(ticket.updated_at),
        "expected_datetime": _iso(ticket.sla_due_at),
        "address": ward_name,
        "address_id": None,
        "zipcode": None,
        "lat": lat,
        "long": lon,
        "media_url": None,
        "extended_attributes": {"status": extended},
    }


# --- POST requests and tokens ---------------------------------------------------------------


def token_for(ticket_id: int) -> str:
    """A token for a request filed here: its number and a MAC, so no table is needed."""
    mac = hmac.new(
        get_settings().secret_key.encode(), f"open311:{ticket_id}".encode(), hashlib.sha256
    ).hexdigest()[:24]
    return f"{ticket_id}-{mac}"


def request_for_token(token: str) -> dict[str, Any]:
    """GET tokens/{token}: the service request id a token stands for."""
    number, _, _mac = token.partition("-")
    if not number.isdigit() or not hmac.compare_digest(token, token_for(int(number))):
        raise Open311Error(f"Unknown token '{token}'.", status_code=404)
    return {"service_request_id": number, "token": token}


def create_request(
    session: Session,
    *,
    principal: Principal,
    service_code: str | None,
    lat: float | None,
    long: float | None,
    address_string: str | None,
    description: str | None,
    media_url: str | None,
    kind: str | None,
) -> dict[str, Any]:
    """POST requests: a ticket, routed like any other (create_ticket queues the routing)."""
    if not service_code:
        raise Open311Error("service_code is required.")
    category = session.get(Category, service_code)
    if category is None:
        raise Open311Error(f"Unknown service_code '{service_code}'.", status_code=404)
    has_point = lat is not None and long is not None
    if not has_point and not (address_string and address_string.strip()):
        raise Open311Error("A location is required: lat and long, or address_string.")
    ward_code = None
    if has_point:
        assert lat is not None and long is not None
        if not (-90 <= lat <= 90 and -180 <= long <= 180):
            raise Open311Error("lat and long must be WGS84 degrees.")
        ward_code = reference.nearest_ward_code(session, latitude=lat, longitude=long)
    try:
        ticket_kind = TicketKind(kind) if kind else TicketKind.COMPLAINT
    except ValueError:
        raise Open311Error(f"Unknown attribute[kind] '{kind}'.") from None
    text = (description or "").strip() or category.name
    if media_url:
        # Kept for staff as a link in the text: the platform does not fetch outside URLs.
        text += f"\n\nẢnh (media_url): {media_url.strip()[:400]}"
    ticket = service.create_ticket(
        session,
        data=TicketCreate(
            description=text,
            kind=ticket_kind,
            ward_code=ward_code,
            address=(address_string or "").strip()[:500] or None,
            latitude=lat if has_point else None,
            longitude=long if has_point else None,
            category=service_code,
        ),
        actor=principal,
        channel=CHANNEL,
    )
    return {
        "service_request_id": str(ticket.id),
        "token": token_for(ticket.id),
        "service_notice": f"Mã tra cứu của người gửi: {ticket.code}",
        "account_id": None,
    }
