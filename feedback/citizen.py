"""What citizens may do with their own tickets, known by the channel identity they write from.

The bot's action server reaches these through `bot/api.py`. It knows the conversation's sender,
never a staff login, so a ticket filed from another identity is "not found" here: one chat can
neither read nor rate another's tickets. The callers show codes, statuses and categories only,
no personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from core import metrics
from core.errors import Conflict, Invalid, NotFound
from feedback import service
from feedback.auth import Principal
from feedback.history import record_event
from feedback.models import (
    OPEN_STATUSES,
    Contact,
    ContactIdentity,
    SurveyResponse,
    Ticket,
    TicketStatus,
)
from feedback.schemas import OptionalMessageBody
from feedback.tax_codes import normalize_tax_code
from feedback.ticket_codes import normalize_ticket_code

CITIZEN = Principal(kind="citizen")
RATEABLE = (TicketStatus.RESOLVED, TicketStatus.CLOSED)
REOPEN_MESSAGE = "Người dân cho biết sự việc chưa được xử lý."
# A "not fixed" answer without a score counts as the lowest satisfaction: the handling was
# reported done and the person says it was not.
NOT_FIXED_SCORE = 1


@dataclass(frozen=True)
class Identity:
    """A person on one channel. As Rasa's sender id it reads `<channel>:<channel_user_id>`:
    this class writes and reads that format, and the Rasa actions' copy is pinned to it
    (tests/bot/test_rasa_copies.py)."""

    channel: str
    channel_user_id: str

    @property
    def sender(self) -> str:
        return f"{self.channel}:{self.channel_user_id}"

    @classmethod
    def from_sender(cls, sender: str) -> Identity:
        channel, sep, user = sender.partition(":")
        if not sep or not channel or not user:
            raise Invalid("'sender' must look like '<channel>:<user id>', e.g. 'web:abc123'.")
        return cls(channel=channel, channel_user_id=user)


@dataclass(frozen=True)
class Rating:
    survey: SurveyResponse
    ticket: Ticket
    reopened: bool


def own_tickets(
    session: Session,
    identity: Identity,
    *,
    statuses: tuple[TicketStatus, ...] = OPEN_STATUSES,
    limit: int = 10,
) -> list[Ticket]:
    """This identity's tickets in these statuses, newest first."""
    return list(
        session.scalars(
            select(Ticket)
            .join(ContactIdentity, ContactIdentity.contact_id == Ticket.contact_id)
            .options(joinedload(Ticket.agency))
            .where(
                ContactIdentity.channel == identity.channel,
                ContactIdentity.channel_user_id == identity.channel_user_id,
                Ticket.status.in_(statuses),
            )
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
            .limit(limit)
        )
    )


def firm_tickets(
    session: Session,
    identity: Identity,
    tax_code: str,
    *,
    statuses: tuple[TicketStatus, ...] = OPEN_STATUSES,
    limit: int = 10,
) -> list[Ticket]:
    """A firm's tickets, filed by any of its people, for one of them.

    The identity asking must be one that filed for this tax code: a code alone proves nothing,
    since tax codes are public. A head office's code (10 digits) covers its branches'
    (the same 10 and three more); a branch's covers its own.
    """
    code = normalize_tax_code(tax_code)
    if code is None:
        raise Invalid("Not a valid tax code (MST): 10 digits, or 13 for a branch.")
    own = session.scalar(
        select(Contact.tax_code)
        .join(ContactIdentity, ContactIdentity.contact_id == Contact.id)
        .where(
            ContactIdentity.channel == identity.channel,
            ContactIdentity.channel_user_id == identity.channel_user_id,
        )
    )
    if own is None or not own.startswith(code):
        raise NotFound(f"No reports filed from this chat under tax code {code}.")
    firm = Contact.tax_code == code if len(code) == 13 else Contact.tax_code.startswith(code)
    return list(
        session.scalars(
            select(Ticket)
            .join(Contact, Contact.id == Ticket.contact_id)
            .options(joinedload(Ticket.agency))
            .where(firm, Ticket.status.in_(statuses))
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
            .limit(limit)
        )
    )


# A ticket's description stays readable: details added later stop at this length.
MAX_DESCRIPTION = 20_000


def add_details(session: Session, *, code: str, text: str, now: datetime | None = None) -> bool:
    """Add what the person wrote later to their ticket's description, while it is open: a burst
    of messages while the assistant is down becomes one ticket. False when it is closed."""
    now = now or datetime.now(UTC)
    ticket = session.scalar(
        select(Ticket).where(Ticket.code == code, Ticket.status.in_(OPEN_STATUSES))
    )
    if ticket is None:
        return False
    room = MAX_DESCRIPTION - len(ticket.description) - 1
    if room > 0:
        ticket.description = f"{ticket.description}\n{text[:room]}"
    ticket.updated_at = now
    record_event(
        session,
        ticket,
        kind="details_added",
        actor=CITIZEN,
        now=now,
        from_status=ticket.status,
        data={"characters": min(len(text), max(room, 0))},
    )
    return True


def own_ticket(session: Session, identity: Identity, code: str) -> Ticket:
    ticket = session.scalar(
        select(Ticket)
        .join(ContactIdentity, ContactIdentity.contact_id == Ticket.contact_id)
        .where(
            Ticket.code == normalize_ticket_code(code),
            ContactIdentity.channel == identity.channel,
            ContactIdentity.channel_user_id == identity.channel_user_id,
        )
    )
    if ticket is None:
        raise NotFound(f"Ticket '{code}' not found among this sender's tickets.")
    return ticket


def _this_resolution_survey(session: Session, ticket: Ticket) -> SurveyResponse | None:
    """The answer already given since the ticket was last resolved: a double click, say."""
    if ticket.resolved_at is None:
        return None
    return session.scalar(
        select(SurveyResponse)
        .where(
            SurveyResponse.ticket_id == ticket.id,
            SurveyResponse.created_at >= ticket.resolved_at,
        )
        .order_by(SurveyResponse.id.desc())
        .limit(1)
    )


def rate(
    session: Session,
    identity: Identity,
    code: str,
    *,
    score: int | None = None,
    fixed: bool | None = None,
    comment: str | None = None,
    now: datetime | None = None,
) -> Rating:
    """Record how satisfied the citizen is; "not fixed" reopens a resolved ticket.

    One answer per resolution: rating again before the next resolution updates it. The score
    is kept as a survey response and as a `rating` event in the ticket's history.
    """
    now = now or datetime.now(UTC)
    if score is None and fixed is not False and comment is None:
        raise Invalid("Give a score from 1 to 5, fixed=false, or a comment.")
    ticket = own_ticket(session, identity, code)
    if ticket.status not in RATEABLE:
        raise Conflict(
            f"Ticket {ticket.code} is '{ticket.status.value}': "
            "it can be rated once it has been resolved."
        )
    survey = _this_resolution_survey(session, ticket)
    if survey is None:
        if score is None and fixed is not False:
            raise Conflict("Rate the handling (a score from 1 to 5) before adding a comment.")
        survey = SurveyResponse(ticket_id=ticket.id, score=score or NOT_FIXED_SCORE, created_at=now)
        session.add(survey)
        metrics.record_after_commit(session, "csat_score", survey.score)
    elif score is not None:
        survey.score = score
    if fixed is not None:
        survey.fixed = fixed
    if comment:
        survey.comment = comment
    record_event(
        session,
        ticket,
        kind="rating",
        actor=CITIZEN,
        now=now,
        from_status=ticket.status,
        message=comment,
        data={"score": survey.score, "fixed": survey.fixed},
    )
    session.flush()

    reopened = False
    if fixed is False and ticket.status == TicketStatus.RESOLVED:
        service.perform_action(
            session,
            ticket,
            action="reopen",
            body=OptionalMessageBody(message=comment or REOPEN_MESSAGE),
            principal=CITIZEN,
            now=now,
        )
        reopened = True
    return Rating(survey=survey, ticket=ticket, reopened=reopened)
