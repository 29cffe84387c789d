"""Pydantic input and output of the feedback API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from core.settings import get_settings
from core.text import clean_text
from feedback.attachments import DOCUMENT_URL_PREFIX, URL_PREFIX
from feedback.models import (
    Channel,
    ContactKind,
    SurveyResponse,
    Ticket,
    TicketEvent,
    TicketKind,
    TicketPriority,
)
from feedback.tax_codes import normalize_tax_code

_PHONE = re.compile(r"^\+?\d{9,12}$")


def _clean_if_text(value: object) -> object:
    return clean_text(value) if isinstance(value, str) else value


# Free text from outside (citizens, staff) loses control and direction-override characters
# first (core/text.py), then is stripped before the length check: a blank description, reply or
# reject reason says nothing.
_Clean = BeforeValidator(_clean_if_text)
# (The cleaning comes last in the list: pydantic runs a "before" validator first wherever it
# stands, and placed before the constraints it would hide them.)
Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000), _Clean
]
# Optional short free texts, cleaned the same way.
Name = Annotated[str | None, Field(max_length=200), _Clean]
CompanyName = Annotated[str | None, Field(max_length=300), _Clean]
Address = Annotated[str | None, Field(max_length=500), _Clean]
LongText = Annotated[str | None, Field(max_length=5000), _Clean]


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ContactKind = ContactKind.CITIZEN
    name: Name = None
    phone: str | None = Field(default=None, description="Kept only with phone_consent=true")
    phone_consent: bool = False
    company_name: CompanyName = None
    tax_code: str | None = Field(default=None, description="Mã số thuế: 10 or 13 digits")
    channel: Channel | None = Field(default=None, examples=["web"])
    channel_user_id: str | None = Field(default=None, max_length=200)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        digits = re.sub(r"[\s.\-()]", "", value)
        if not _PHONE.match(digits):
            raise ValueError("a phone number has 9 to 12 digits")
        return digits

    @field_validator("tax_code")
    @classmethod
    def _tax_code(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = normalize_tax_code(value)
        if code is None:
            raise ValueError(
                "not a valid tax code (MST): 10 digits whose last is the check digit, "
                "or 13 for a branch (0314409058-001)"
            )
        return code

    @model_validator(mode="after")
    def _consent_and_identity(self) -> ContactIn:
        if self.phone and not self.phone_consent:
            raise ValueError("a phone number is stored only with phone_consent=true")
        if bool(self.channel) != bool(self.channel_user_id):
            raise ValueError("channel and channel_user_id go together")
        return self


def _our_photo_or_allowed_host(url: str) -> str:
    """A photo stored here, or one on a host the province trusts (TIEPDAN_PHOTO_HOSTS): a
    ticket must not point staff's browsers at any address a caller chooses."""
    if url.startswith(URL_PREFIX):
        return url
    host = urlsplit(url).hostname or ""
    if url.startswith("https://") and host in get_settings().photo_host_list:
        return url
    raise ValueError("a photo is one stored by the chat, or on a host in TIEPDAN_PHOTO_HOSTS")


# A photo a chat stored (feedback/attachments.py), or one on a trusted host.
PhotoUrl = Annotated[
    str,
    Field(max_length=500, pattern=r"^[^\s]+$"),
    AfterValidator(_our_photo_or_allowed_host),
]


class TicketCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "description": "Đèn đường trước số 12 Yersin tắt cả tuần nay",
                    "kind": "complaint",
                    "ward_code": "25747",
                    "address": "12 Yersin, Phường Thủ Dầu Một",
                    "category": "ha_tang_do_thi",
                    "contact": {
                        "name": "Nguyễn Văn A",
                        "phone": "0912345678",
                        "phone_consent": True,
                    },
                }
            ]
        },
    )

    description: Text
    kind: TicketKind = TicketKind.COMPLAINT
    ward_code: str | None = Field(default=None, max_length=10)
    address: Address = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    category: str | None = Field(default=None, max_length=40)
    priority: TicketPriority = TicketPriority.NORMAL
    channel: Channel | None = None
    contact: ContactIn | None = None
    photos: list[PhotoUrl] = Field(
        default_factory=list, max_length=5, description="Photos attached in the chat (their URLs)"
    )


class EventOut(BaseModel):
    kind: str
    from_status: str | None
    to_status: str | None
    agency: str | None
    actor: str
    message: str | None
    public: bool
    # What the event records besides its message: a rating's score and "fixed", a
    # resolution's evidence ("attachments"), a correction's categories.
    data: dict[str, Any] = {}
    created_at: datetime


class RatingOut(BaseModel):
    """The citizen's latest answer to the satisfaction question."""

    score: int
    fixed: bool | None = Field(description="false: the citizen says it was not fixed")
    comment: str | None
    created_at: datetime


class ContactOut(BaseModel):
    kind: ContactKind
    name: str | None
    phone: str | None
    company_name: str | None
    tax_code: str | None


class TicketOut(BaseModel):
    code: str
    kind: TicketKind
    status: str
    priority: TicketPriority
    category: str | None
    category_confidence: float | None
    predicted_category: str | None
    agency: str | None
    ward_code: str | None
    address: str | None
    latitude: float | None
    longitude: float | None
    description: str
    language: str = Field(description='The language the report is written in: "vi" or "en"')
    photos: list[str]
    channel: str | None
    is_public: bool
    duplicate_of: str | None
    merged: bool
    assignee: str | None
    overdue: bool
    created_at: datetime
    sla_due_at: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    contact: ContactOut | None
    rating: RatingOut | None
    events: list[EventOut]


class TicketPage(BaseModel):
    items: list[TicketOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= to get the next page")


class PublicReply(BaseModel):
    message: str
    agency: str | None
    created_at: datetime


class TicketSummaryOut(BaseModel):
    """A ticket without personal data: no description, no contact, no location detail."""

    code: str
    kind: TicketKind
    status: str
    category: str | None
    agency_name: str | None
    created_at: datetime
    sla_due_at: datetime | None
    resolved_at: datetime | None


class PublicTicketOut(TicketSummaryOut):
    """What anyone holding the code may see: the summary and the public replies."""

    replies: list[PublicReply]


class AgencyOut(BaseModel):
    code: str
    name: str
    level: str


class EvidenceOut(BaseModel):
    url: str = Field(description="Pass it in resolve's `attachments`")


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"


# Bodies of POST /tickets/{code}/{action}.
class _ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MessageBody(_ActionBody):
    message: Text
    public: bool = True


class NoteBody(_ActionBody):
    message: Text


class AgencyBody(_ActionBody):
    agency: str = Field(min_length=1, max_length=40)
    category: str | None = Field(default=None, max_length=40)
    message: LongText = None


class ReasonBody(_ActionBody):
    reason: Text


class OptionalMessageBody(_ActionBody):
    message: LongText = None


# Evidence a resolution shows the citizen: a file uploaded with POST .../attachments.
EvidenceUrl = Annotated[
    str,
    Field(
        max_length=500,
        pattern=rf"^({re.escape(URL_PREFIX)}|{re.escape(DOCUMENT_URL_PREFIX)})[A-Za-z0-9_.-]+$",
    ),
]


class ResolveBody(_ActionBody):
    """A resolution: the public answer and at least one piece of evidence (the service checks
    the evidence, so that every caller meets the same rule)."""

    message: Text
    attachments: list[EvidenceUrl] = Field(default_factory=list, max_length=10)


class StartBody(OptionalMessageBody):
    # Who handles it: a username of the ticket's agency; empty, the staff member starting it.
    assignee: str | None = Field(default=None, max_length=80)


class AssigneeBody(OptionalMessageBody):
    assignee: str = Field(min_length=1, max_length=80)


class CategoryBody(OptionalMessageBody):
    category: str = Field(min_length=1, max_length=40)


class MergeBody(OptionalMessageBody):
    into: str = Field(min_length=1, max_length=20, description="The original ticket's code")


ACTION_BODIES: dict[str, type[_ActionBody]] = {
    "assign": AgencyBody,
    "transfer": AgencyBody,
    "reply": MessageBody,
    "resolve": ResolveBody,
    "note": NoteBody,
    "reject": ReasonBody,
    "start": StartBody,
    "reopen": OptionalMessageBody,
    "close": OptionalMessageBody,
    "assign_staff": AssigneeBody,
    "recategorize": CategoryBody,
    "merge": MergeBody,
}

ActionPayload = dict[str, Any]


# --- Tickets as JSON: one place that decides what a ticket's JSON shows ----------------------


def _event_out(event: TicketEvent) -> EventOut:
    actor = event.actor.username if event.actor is not None else event.actor_type
    return EventOut(
        kind=event.kind,
        from_status=event.from_status,
        to_status=event.to_status,
        agency=event.agency.code if event.agency else None,
        actor=actor,
        message=event.message,
        public=event.public,
        data=event.data or {},
        created_at=event.created_at,
    )


def latest_rating(ticket: Ticket) -> SurveyResponse | None:
    """The citizen's latest rating of the ticket (its survey responses must be loaded)."""
    return ticket.survey_responses[-1] if ticket.survey_responses else None


def rating_out(survey: SurveyResponse | None) -> RatingOut | None:
    if survey is None:
        return None
    return RatingOut(
        score=survey.score, fixed=survey.fixed, comment=survey.comment, created_at=survey.created_at
    )


def ticket_out(ticket: Ticket) -> TicketOut:
    contact = ticket.contact
    return TicketOut(
        code=ticket.code,
        kind=ticket.kind,
        status=ticket.status.value,
        priority=ticket.priority,
        category=ticket.category_code,
        category_confidence=ticket.category_confidence,
        predicted_category=ticket.predicted_category_code,
        agency=ticket.agency.code if ticket.agency else None,
        ward_code=ticket.ward_code,
        address=ticket.address,
        latitude=ticket.latitude,
        longitude=ticket.longitude,
        description=ticket.description,
        language=ticket.language,
        photos=[a["url"] for a in ticket.attachments if a.get("type") == "photo"],
        channel=ticket.channel,
        is_public=ticket.is_public,
        duplicate_of=ticket.duplicate_of.code if ticket.duplicate_of else None,
        merged=ticket.merged_at is not None,
        assignee=ticket.assignee.username if ticket.assignee else None,
        overdue=ticket.overdue_at is not None,
        created_at=ticket.created_at,
        sla_due_at=ticket.sla_due_at,
        first_response_at=ticket.first_response_at,
        resolved_at=ticket.resolved_at,
        closed_at=ticket.closed_at,
        contact=ContactOut(
            kind=contact.kind,
            name=contact.name,
            phone=contact.phone,
            company_name=contact.company_name,
            tax_code=contact.tax_code,
        )
        if contact
        else None,
        rating=rating_out(latest_rating(ticket)),
        events=[_event_out(e) for e in ticket.events],
    )


def ticket_summary(ticket: Ticket) -> TicketSummaryOut:
    return TicketSummaryOut(
        code=ticket.code,
        kind=ticket.kind,
        status=ticket.status.value,
        category=ticket.category_code,
        agency_name=ticket.agency.name if ticket.agency else None,
        created_at=ticket.created_at,
        sla_due_at=ticket.sla_due_at,
        resolved_at=ticket.resolved_at,
    )
