"""Clean-up of what a fault test's chats committed (the gateway and the worker's code commit in
transactions of their own), by channel and chat id."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select

from bot.models import Conversation, Message
from core.database import session_scope
from feedback.models import Contact, ContactIdentity, Ticket, TicketEvent
from integrations.models import ButtonPayload


def forget(channel: str, users: Iterable[str]) -> None:
    """Delete these chats of a channel: their messages, their tickets and their contacts."""
    users = list(users)
    with session_scope() as session:
        conversations = select(Conversation.id).where(
            Conversation.channel == channel, Conversation.channel_user_id.in_(users)
        )
        contact_ids = list(
            session.scalars(
                select(ContactIdentity.contact_id).where(
                    ContactIdentity.channel == channel, ContactIdentity.channel_user_id.in_(users)
                )
            )
        )
        tickets = select(Ticket.id).where(Ticket.contact_id.in_(contact_ids))
        session.execute(delete(TicketEvent).where(TicketEvent.ticket_id.in_(tickets)))
        session.execute(delete(Ticket).where(Ticket.contact_id.in_(contact_ids)))
        session.execute(delete(ContactIdentity).where(ContactIdentity.contact_id.in_(contact_ids)))
        session.execute(delete(Contact).where(Contact.id.in_(contact_ids)))
        session.execute(
            delete(ButtonPayload).where(ButtonPayload.conversation_id.in_(conversations))
        )
        session.execute(delete(Message).where(Message.conversation_id.in_(conversations)))
        session.execute(
            delete(Conversation).where(
                Conversation.channel == channel, Conversation.channel_user_id.in_(users)
            )
        )
