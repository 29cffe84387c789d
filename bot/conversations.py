"""Conversations and their stored messages: finding them, reading them, marking them."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.models import Conversation, Direction, Message, MessageState
from core.database import utcnow
from integrations.channel import Reply


def find_conversation(session: Session, channel: str, channel_user_id: str) -> Conversation | None:
    return session.scalar(
        select(Conversation).where(
            Conversation.channel == channel, Conversation.channel_user_id == channel_user_id
        )
    )


def conversation_messages(
    session: Session, conversation_id: int, *, after_id: int = 0
) -> list[Message]:
    return list(
        session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.id > after_id)
            .order_by(Message.id)
        )
    )


def reply_of(message: Message) -> Reply:
    """A stored outbound message as the reply it was."""
    content = message.content or {}
    return Reply(
        text=message.text, buttons=content.get("buttons") or [], image=content.get("image")
    )


def record_rejected_upload(
    session: Session, conversation: Conversation, *, reason: str, size: int
) -> None:
    """An upload that was refused is still an inbound message: kept, with the reason given."""
    session.add(
        Message(
            conversation_id=conversation.id,
            direction=Direction.INBOUND,
            text=None,
            content={"upload": {"bytes": size, "refused": reason}},
            state=MessageState.REJECTED,
        )
    )
    conversation.last_message_at = utcnow()


def set_rasa_restart_due(session: Session, conversation_id: int, *, due: bool) -> None:
    """Flag (or clear) that Rasa must forget this conversation's intake (see the model)."""
    session.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(rasa_restart_due=due)
    )
