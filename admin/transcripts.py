"""What the ticket page shows besides the ticket: the citizen's conversations on every channel,
the ward with its former names, and who in the agency can take the ticket."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.conversations import conversation_messages, find_conversation
from bot.models import Message
from feedback.auth import Principal
from feedback.models import ContactIdentity, StaffRole, StaffUser, Ticket, Ward
from feedback.policy import can_see_ticket
from nlu.wards import former_names

TRANSCRIPT_LIMIT = 500


@dataclass(frozen=True)
class Transcript:
    channel: str
    messages: list[Message]


def transcripts(session: Session, ticket: Ticket, *, principal: Principal) -> list[Transcript]:
    """The ticket's part of its contact's conversations, on every channel.

    A person may report several problems in one chat, to different agencies. The ticket's
    part runs from the contact's previous report to the next one, and what follows this
    report is shown only if the reader may also see the next report: a ward officer must not
    read a report that went to a department. The notices about this ticket are always shown.
    """
    if ticket.contact_id is None:
        return []
    others = session.scalars(
        select(Ticket)
        .where(Ticket.contact_id == ticket.contact_id, Ticket.id != ticket.id)
        .order_by(Ticket.created_at)
    ).all()
    before = [t for t in others if t.created_at <= ticket.created_at]
    after = [t for t in others if t.created_at > ticket.created_at]
    start = before[-1].created_at if before else None
    end = after[0].created_at if after else None
    if after and not can_see_ticket(principal, after[0]):
        end = ticket.created_at + timedelta(seconds=30)  # the filing's own confirmation
    identities = session.execute(
        select(ContactIdentity.channel, ContactIdentity.channel_user_id).where(
            ContactIdentity.contact_id == ticket.contact_id
        )
    ).all()
    found = []
    for channel, user in identities:
        conversation = find_conversation(session, channel, user)
        if conversation is None:
            continue
        messages = [
            m
            for m in conversation_messages(session, conversation.id)
            if m.ticket_code == ticket.code
            or ((start is None or m.created_at > start) and (end is None or m.created_at < end))
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
