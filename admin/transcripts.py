"""What the ticket page shows besides the ticket: the citizen's conversations on every channel,
the ward with its former names, and who in the agency can take the ticket."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.conversations import conversation_messages, find_conversation
from bot.models import Message
from feedback.models import ContactIdentity, StaffRole, StaffUser, Ticket, Ward
from nlu.wards import former_names

# The dialogue that led to the ticket starts shortly before it was filed.
TRANSCRIPT_FROM = timedelta(hours=6)
TRANSCRIPT_LIMIT = 300


@dataclass(frozen=True)
class Transcript:
    channel: str
    messages: list[Message]


def transcripts(session: Session, ticket: Ticket) -> list[Transcript]:
    """The conversations of the ticket's contact, from a little before it was filed."""
    if ticket.contact_id is None:
        return []
    identities = session.execute(
        select(ContactIdentity.channel, ContactIdentity.channel_user_id).where(
            ContactIdentity.contact_id == ticket.contact_id
        )
    ).all()
    since = ticket.created_at - TRANSCRIPT_FROM
    found = []
    for channel, user in identities:
        conversation = find_conversation(session, channel, user)
        if conversation is None:
            continue
        messages = [
            m for m in conversation_messages(session, conversation.id) if m.created_at >= since
        ][-TRANSCRIPT_LIMIT:]
        found.append(Transcript(channel=channel, messages=messages))
    return found


@dataclass(frozen=True)
class Place:
    code: str
    name: str
    former: list[str]


def place(session: Session, ticket: Ticket) -> Place | None:
    if ticket.ward_code is None:
        return None
    ward = session.get(Ward, ticket.ward_code)
    name = ward.name if ward else ticket.ward_code
    return Place(code=ticket.ward_code, name=name, former=former_names(ticket.ward_code))


def agency_staff(session: Session, ticket: Ticket) -> list[StaffUser]:
    """Who may be given the ticket: the active staff of its agency."""
    if ticket.agency_id is None:
        return []
    return list(
        session.scalars(
            select(StaffUser)
            .where(
                StaffUser.agency_id == ticket.agency_id,
                StaffUser.active.is_(True),
                StaffUser.role == StaffRole.AGENCY_STAFF,
            )
            .order_by(StaffUser.username)
        )
    )
