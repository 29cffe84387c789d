"""What the fault tests' chats share: a Telegram person writing to the webhook, reading back
their conversation, and the clean-up of what they committed (the gateway and the worker's code
commit in transactions of their own), by channel and chat id."""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select

from bot.models import Conversation, Message
from core.database import session_scope
from feedback.models import Contact, ContactIdentity, Ticket, TicketEvent
from integrations.models import ButtonPayload
from integrations.telegram.adapter import SECRET_HEADER
from tests.integrations.telegram.conftest import SECRET

# Update and message ids of this run's own, apart from other runs' on the same database.
_ids = itertools.count(random.randrange(10**6, 10**7) * 1000)


def say_on_telegram(client: Any, chat_id: int, text: str, *, first_name: str = "Minh") -> None:
    """A Telegram update with this text, posted to the webhook as Telegram would."""
    person = {"id": chat_id, "is_bot": False, "first_name": first_name}
    update = {
        "update_id": next(_ids),
        "message": {
            "message_id": next(_ids) % 10**6,
            "from": person,
            "chat": {"id": chat_id, "first_name": first_name, "type": "private"},
            "date": int(time.time()),
            "text": text,
        },
    }
    posted = client.post(
        "/webhooks/telegram", content=json.dumps(update), headers={SECRET_HEADER: SECRET}
    )
    assert posted.status_code == 200, posted.text


def telegram_conversation(chat_id: int | str) -> int:
    """The id of a Telegram chat's conversation, which must exist."""
    with session_scope() as session:
        found = session.scalar(
            select(Conversation.id).where(
                Conversation.channel == "telegram", Conversation.channel_user_id == str(chat_id)
            )
        )
    assert found is not None
    return found


def messages_of(conversation_id: int) -> list[Message]:
    """A conversation's messages, both ways, oldest first."""
    with session_scope() as session:
        return list(
            session.scalars(
                select(Message)
                .where(Message.conversation_id == conversation_id)
                .order_by(Message.id)
            )
        )


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
