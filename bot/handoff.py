"""Handing a conversation to staff and back.

While a conversation is handed off, the gateway stores what the citizen writes and does not
ask Rasa: an official answers instead, and hands the conversation back when done.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.conversations import find_conversation
from bot.delivery import add_outbound
from bot.models import Conversation, Message
from core.errors import NotFound
from feedback.citizen import Identity
from feedback.language import ENGLISH
from integrations.channel import Reply

HANDED_BACK = "Cán bộ đã kết thúc trao đổi. Trợ lý tự động sẽ tiếp tục hỗ trợ bạn."
HANDED_BACK_EN = "The official has ended the conversation. The assistant will help you again."


def conversation_of(session: Session, identity: Identity) -> Conversation:
    conversation = find_conversation(session, identity.channel, identity.channel_user_id)
    if conversation is None:
        raise NotFound("No conversation with this sender.")
    return conversation


def hand_off(session: Session, identity: Identity) -> Conversation:
    conversation = conversation_of(session, identity)
    conversation.handed_off = True
    return conversation


def handed_off_conversations(session: Session, *, limit: int = 100) -> list[Conversation]:
    """The conversations waiting for an official, the longest waiting first."""
    return list(
        session.scalars(
            select(Conversation)
            .where(Conversation.handed_off.is_(True))
            .order_by(Conversation.last_message_at)
            .limit(limit)
        )
    )


def conversation_by_id(session: Session, conversation_id: int) -> Conversation:
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFound(f"Conversation {conversation_id} not found.")
    return conversation


def staff_reply(session: Session, conversation_id: int, *, text: str, username: str) -> Message:
    """An official's message into the chat, on its way on the person's channel. It carries a
    channel id, so the web chat pushes it."""
    conversation = conversation_by_id(session, conversation_id)
    message = add_outbound(
        session,
        conversation,
        Reply(text=text),
        channel_message_id=f"staff:{secrets.token_hex(8)}",
        extra={"staff": username},
    )
    session.flush()
    return message


def hand_back(session: Session, conversation_id: int, *, username: str) -> Conversation:
    conversation = conversation_by_id(session, conversation_id)
    if conversation.handed_off:
        conversation.handed_off = False
        said = HANDED_BACK_EN if conversation.language == ENGLISH else HANDED_BACK
        staff_reply(session, conversation_id, text=said, username=username)
    return conversation
