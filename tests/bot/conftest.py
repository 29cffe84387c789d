"""The web chat's fixtures: Rasa down (a closed port), and a folder for photos. The gateway
commits in its own transactions (a message is saved before anything can fail), so rasa_down
cleans up the rows the test made."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import delete, select

from bot.models import Conversation, Message, WebchatSession
from core.database import session_scope
from core.settings import get_settings
from feedback.models import Contact, ContactIdentity, Ticket, TicketEvent
from tests.e2e.processes import free_port


@pytest.fixture
def rasa_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(get_settings(), "rasa_url", f"http://127.0.0.1:{free_port()}")
    yield
    forget_chats()


def forget_chats() -> None:
    """Delete what web (and test-channel) chats committed: sessions, messages, their tickets."""
    with session_scope() as session:
        conversations = select(Conversation.id).where(Conversation.channel.in_(["web", "test"]))
        users = select(Conversation.channel_user_id).where(
            Conversation.channel.in_(["web", "test"])
        )
        tickets = select(Ticket.id).where(Ticket.channel.in_(["web", "test"]))
        contacts = select(ContactIdentity.contact_id).where(
            ContactIdentity.channel_user_id.in_(users)
        )
        contact_ids = list(session.scalars(contacts))
        session.execute(delete(TicketEvent).where(TicketEvent.ticket_id.in_(tickets)))
        session.execute(delete(Ticket).where(Ticket.channel.in_(["web", "test"])))
        session.execute(delete(ContactIdentity).where(ContactIdentity.contact_id.in_(contact_ids)))
        session.execute(delete(Contact).where(Contact.id.in_(contact_ids)))
        session.execute(delete(Message).where(Message.conversation_id.in_(conversations)))
        session.execute(delete(WebchatSession))
        session.execute(delete(Conversation).where(Conversation.channel.in_(["web", "test"])))


@pytest.fixture
def photo_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(get_settings(), "var_dir", tmp_path)
    return tmp_path / "uploads" / "photos"
