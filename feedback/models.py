"""Tables of the feedback domain: agencies, categories, routing, contacts, tickets and staff."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.database import Base, BigId, UTCDateTime, enum_column, utcnow


class AgencyLevel(enum.StrEnum):
    DEPARTMENT = "department"
    WARD = "ward"


class TicketKind(enum.StrEnum):
    COMPLAINT = "complaint"
    SUGGESTION = "suggestion"
    BUSINESS_REQUEST = "business_request"
    QUESTION = "question"


class TicketStatus(enum.StrEnum):
    NEW = "new"
    TRIAGE = "triage"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    CLOSED = "closed"
    REJECTED = "rejected"


OPEN_STATUSES = (
    TicketStatus.NEW,
    TicketStatus.TRIAGE,
    TicketStatus.ASSIGNED,
    TicketStatus.IN_PROGRESS,
    TicketStatus.REOPENED,
)


class TicketPriority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Channel(enum.StrEnum):
    """Where people write from: the names conversations, contacts, tickets and Rasa's sender ids
    carry (integrations/ has an adapter for each)."""

    WEB = "web"
    TELEGRAM = "telegram"
    ZALO = "zalo"


class ContactKind(enum.StrEnum):
    CITIZEN = "citizen"
    BUSINESS = "business"


class StaffRole(enum.StrEnum):
    ADMIN = "admin"
    DISPATCHER = "dispatcher"
    AGENCY_STAFF = "agency_staff"
    VIEWER = "viewer"


class Ward(Base):
    __tablename__ = "wards"

    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    province_code: Mapped[str] = mapped_column(String(5), index=True)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)


class AgencyWard(Base):
    __tablename__ = "agency_wards"

    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), primary_key=True)
    ward_code: Mapped[str] = mapped_column(ForeignKey("wards.code"), primary_key=True)


class Agency(Base):
    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[AgencyLevel] = mapped_column(enum_column(AgencyLevel))
    province_code: Mapped[str] = mapped_column(String(5))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    wards: Mapped[list[Ward]] = relationship(secondary="agency_wards", lazy="raise")


class Category(Base):
    __tablename__ = "categories"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    sla_working_days: Mapped[int] = mapped_column(Integer)
    default_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))

    default_agency: Mapped[Agency | None] = relationship(lazy="raise")


class RoutingRule(Base):
    """(category, ward) → agency; a rule without a ward applies to the whole province."""

    __tablename__ = "routing_rules"
    __table_args__ = (
        UniqueConstraint("category_code", "ward_code", "agency_id"),
        Index("ix_routing_rules_lookup", "category_code", "ward_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category_code: Mapped[str] = mapped_column(ForeignKey("categories.code"))
    ward_code: Mapped[str | None] = mapped_column(ForeignKey("wards.code"))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    priority: Mapped[int] = mapped_column(Integer, default=0)

    agency: Mapped[Agency] = relationship(lazy="raise")


class Contact(Base):
    """A citizen or a business. The phone is kept only with the person's consent."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[ContactKind] = mapped_column(enum_column(ContactKind), default=ContactKind.CITIZEN)
    name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    phone_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    company_name: Mapped[str | None] = mapped_column(String(300))
    tax_code: Mapped[str | None] = mapped_column(String(20), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    identities: Mapped[list[ContactIdentity]] = relationship(
        back_populates="contact", lazy="raise", cascade="all, delete-orphan"
    )


class ContactIdentity(Base):
    """How we reach a contact on one channel; one channel user is one contact."""

    __tablename__ = "contact_identities"
    __table_args__ = (UniqueConstraint("channel", "channel_user_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    channel_user_id: Mapped[str] = mapped_column(String(200))

    contact: Mapped[Contact] = relationship(back_populates="identities", lazy="raise")


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        # The staff queue: one agency's tickets in one status, newest first (keyset pagination).
        Index("ix_tickets_agency_status_created", "agency_id", "status", "created_at", "id"),
        Index("ix_tickets_status_created", "status", "created_at", "id"),
        Index("ix_tickets_created", "created_at", "id"),
        Index("ix_tickets_category_created", "category_code", "created_at"),
        Index("ix_tickets_ward_created", "ward_code", "created_at"),
        Index("ix_tickets_open_due", "status", "sla_due_at"),
        # The KPI aggregates read the tickets changed since their last refresh.
        Index("ix_tickets_updated", "updated_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[TicketKind] = mapped_column(enum_column(TicketKind), default=TicketKind.COMPLAINT)
    status: Mapped[TicketStatus] = mapped_column(
        enum_column(TicketStatus), default=TicketStatus.NEW
    )
    priority: Mapped[TicketPriority] = mapped_column(
        enum_column(TicketPriority), default=TicketPriority.NORMAL
    )
    description: Mapped[str] = mapped_column(Text)
    ward_code: Mapped[str | None] = mapped_column(ForeignKey("wards.code"))
    address: Mapped[str | None] = mapped_column(String(500))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    channel: Mapped[str | None] = mapped_column(String(20))
    # The language the report is written in ("vi" or "en", nlu/language.py). Staff read it as
    # written; the panel marks an English one ("Tiếng Anh").
    language: Mapped[str] = mapped_column(String(2), default="vi", server_default="vi")

    predicted_category_code: Mapped[str | None] = mapped_column(String(40))
    category_confidence: Mapped[float | None] = mapped_column(Float)
    category_code: Mapped[str | None] = mapped_column(ForeignKey("categories.code"))
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    # Set when staff confirmed the duplicate and merged it: its citizen follows the original.
    merged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The official handling it inside the agency, once someone has taken it.
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    # The NLU's best categories, [{"category", "confidence"}], for the dispatcher's triage.
    category_candidates: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    # Made by `tiepdan seed --demo-tickets` (feedback/demo.py), removed by --remove-demo-tickets.
    demo: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sla_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    agency: Mapped[Agency | None] = relationship(lazy="raise")
    category: Mapped[Category | None] = relationship(lazy="raise")
    contact: Mapped[Contact | None] = relationship(lazy="raise")
    duplicate_of: Mapped[Ticket | None] = relationship(remote_side=[id], lazy="raise")
    assignee: Mapped[StaffUser | None] = relationship(lazy="raise", foreign_keys=[assignee_id])
    survey_responses: Mapped[list[SurveyResponse]] = relationship(
        lazy="raise", order_by="SurveyResponse.id"
    )
    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", lazy="raise", order_by="TicketEvent.id"
    )


class TicketEvent(Base):
    """Append-only history: every status change, assignment, reply, note and transfer."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))
    actor_type: Mapped[str] = mapped_column(String(20))  # staff, citizen, system, service
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    message: Mapped[str | None] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="events", lazy="raise")
    agency: Mapped[Agency | None] = relationship(lazy="raise")
    actor: Mapped[StaffUser | None] = relationship(lazy="raise")


class SurveyResponse(Base):
    __tablename__ = "survey_responses"
    __table_args__ = (CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    fixed: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    full_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[StaffRole] = mapped_column(enum_column(StaffRole))
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Sign-in protection: consecutive failed passwords, the lock they led to, and the TOTP
    # secret of the second factor (required for admins in the panel).
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    agency: Mapped[Agency | None] = relationship(lazy="raise")


class Notification(Base):
    """An outbox of notices to agencies, dispatchers and citizens.

    The dedupe key makes producing a notice idempotent: a task that runs twice finds the row.
    """

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(80), index=True)  # agency:CODE, role:dispatcher
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StaffSession(Base):
    """A signed-in browser of the admin panel. The cookie holds a random token; only its hash
    is stored, so a copy of the table signs nobody in. Logging out deletes the row."""

    __tablename__ = "staff_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie token
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    # False until the second factor is given (or set up, for an admin without one yet).
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    user: Mapped[StaffUser] = relationship(lazy="raise")


class AuditEntry(Base):
    """Who changed what and when: staff actions on settings and reads of personal data."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_created", "created_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    actor: Mapped[str] = mapped_column(String(80))  # the username, kept if the user is renamed
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CalendarDay(Base):
    """A day the admins changed in the working calendar, over the holiday files: a day off
    (working=False) or a weekend day worked in exchange (working=True)."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    working: Mapped[bool] = mapped_column(Boolean, default=False)


class FaqEntry(Base):
    """A question and answer the bot replies with; staff edit them in the panel. Empty, the
    bot answers from the shipped nlu/faq.yaml, which `tiepdan seed` copies here."""

    __tablename__ = "faq_entries"

    id: Mapped[str] = mapped_column(String(60), primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    # For firms' staff and expats; empty, an English question goes to staff.
    answer_en: Mapped[str] = mapped_column(Text, default="", server_default="")
    alternatives: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReplyTemplateEntry(Base):
    """A reply template staff pick on a ticket's page, in Vietnamese and English; admins edit
    them in the panel. Empty, the panel offers the shipped feedback/reply_templates.yaml, which
    `tiepdan seed` copies here."""

    __tablename__ = "reply_templates"

    id: Mapped[str] = mapped_column(String(60), primary_key=True)
    action: Mapped[str] = mapped_column(String(10))  # "reply" or "resolve"
    title: Mapped[str] = mapped_column(String(200))
    vi: Mapped[str] = mapped_column(Text)
    en: Mapped[str] = mapped_column(Text)
    # The order staff see them in: the shipped file's, new ones last.
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKeyScope(enum.StrEnum):
    IOC = "ioc"  # the IOC's pull API (/api/v1/ioc/...)
    OPEN311 = "open311"  # filing requests through Open311 (POST /open311/v2/requests)


class ApiKey(Base):
    """A key an admin gives to a system outside (the IOC, an Open311 client). The key is shown
    once when created; only its sha256 is stored, so a copy of the table opens nothing."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    scope: Mapped[ApiKeyScope] = mapped_column(enum_column(ApiKeyScope))
    # The key's first characters, to tell keys apart in the list.
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
