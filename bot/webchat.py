"""The web chat's conversations: sessions this server issues, messages in, the history out.

The routes are in bot/webchat_api.py; the widget and its demo page in integrations/webchat/.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.orm import Session

from bot import gateway
from bot.conversations import conversation_messages, record_rejected_upload, reply_of
from bot.models import Conversation, Direction, WebchatSession
from core.database import session_scope
from core.errors import Forbidden
from integrations.channel import Inbound

CHANNEL = "web"


def open_webchat_session(session: Session) -> str:
    """A new web-chat session: an unguessable id bound to a conversation of its own."""
    session_id = secrets.token_urlsafe(32)
    conversation = Conversation(channel=CHANNEL, channel_user_id=session_id)
    session.add(conversation)
    session.flush()
    session.add(WebchatSession(id=session_id, conversation_id=conversation.id))
    return session_id


def refuse_malformed_session_id(session_id: str) -> None:
    """An id this server cannot have issued is refused before any query."""
    if not session_id or len(session_id) > 64:
        raise Forbidden("Unknown web-chat session.")


def webchat_conversation(session: Session, session_id: str) -> Conversation:
    """The conversation behind a session id this server issued; anything else is refused."""
    refuse_malformed_session_id(session_id)
    row = session.get(WebchatSession, session_id)
    if row is None:
        raise Forbidden("Unknown web-chat session.")
    return session.get_one(Conversation, row.conversation_id)


# --- What the routes call (each in its own transaction) ---------------------------------------


def open_session() -> str:
    with session_scope() as session:
        return open_webchat_session(session)


def send(session_id: str, *, text: str | None, payload: str | None) -> list[dict[str, Any]]:
    """Store the message, answer it, and return the replies."""
    refuse_malformed_session_id(session_id)
    # A web chat's conversation is keyed by its session id (open_webchat_session).
    outcome = gateway.handle_inbound(
        Inbound(
            channel=CHANNEL,
            channel_user_id=session_id,
            text=text,
            payload=payload,
            opens_conversation=False,
        )
    )
    return [reply.as_dict() for reply in outcome.replies]


def history(session_id: str, *, after: int) -> list[dict[str, Any]]:
    """The session's messages after id `after`, both ways, oldest first."""
    with session_scope() as session:
        conversation = webchat_conversation(session, session_id)
        return [
            {
                "id": m.id,
                "direction": m.direction.value,
                "pushed": m.direction == Direction.OUTBOUND and m.channel_message_id is not None,
                **(
                    reply_of(m).as_dict()
                    if m.direction == Direction.OUTBOUND
                    else {"text": m.text or m.payload, "buttons": [], "image": None}
                ),
            }
            for m in conversation_messages(session, conversation.id, after_id=after)
        ]


def check_session(session_id: str) -> None:
    """Raise when this server did not issue the session id."""
    with session_scope() as session:
        webchat_conversation(session, session_id)


def reject_upload(session_id: str, *, reason: str, size: int) -> None:
    """Keep a record of an upload that was refused, in the session's conversation."""
    with session_scope() as session:
        conversation = webchat_conversation(session, session_id)
        record_rejected_upload(session, conversation, reason=reason, size=size)
