"""Conversations and their messages: every inbound message is stored before anything else runs."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
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
from feedback.citizen import Identity


class Direction(enum.StrEnum):
    INBOUND = "in"
    OUTBOUND = "out"


class MessageState(enum.StrEnum):
    # Inbound
    RECEIVED = "received"  # stored, not yet answered
    ANSWERED = "answered"  # Rasa answered
    FALLBACK = "fallback"  # Rasa was unreachable: acknowledged, maybe a ticket opened
    HANDED_OFF = "handed_off"  # staff have the conversation; the bot stays quiet
    REJECTED = "rejected"  # bad input, answered politely
    # Outbound: queued -> sent -> delivered -> seen, or failed with a reason
    QUEUED = "queued"  # stored, waiting for the channel (bot/delivery.py)
    SENT = "sent"  # the channel took it (on the web chat: stored is sent)
    DELIVERED = "delivered"  # the channel says it reached the person
    SEEN = "seen"  # the channel says the person read it
    FAILED = "failed"  # the channel will not take it; `failure_reason` says why


OUTBOUND_DONE = (MessageState.SENT, MessageState.DELIVERED, MessageState.SEEN)


class Conversation(Base):
    """One person on one channel. The Rasa sender id is `<channel>:<channel_user_id>`."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "channel_user_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    channel_user_id: Mapped[str] = mapped_column(String(100))
    handed_off: Mapped[bool] = mapped_column(Boolean, default=False)
    # A ticket was opened from this person's words while Rasa could not answer: Rasa may still
    # hold the intake it had begun, which would file the same report again. The gateway
    # restarts Rasa's conversation before the next message (bot/gateway.py).
    rasa_restart_due: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The language the person writes in ("vi" or "en"): what the platform says to them (notices,
    # the gateway's own answers) is in it. Each message that shows a language sets it
    # (feedback/language.py); Rasa keeps the same in its `language` slot.
    language: Mapped[str] = mapped_column(String(2), default="vi", server_default="vi")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Leases, so that one worker at a time answers this person (in order) and one delivers to
    # them (in order, paced): a lease that outlives a dead worker simply expires.
    answer_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivery_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation", lazy="raise", order_by="Message.id"
    )

    @property
    def sender_id(self) -> str:
        return Identity(self.channel, self.channel_user_id).sender


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        # A channel's own message id, seen twice, is the same message (a webhook retry).
        UniqueConstraint("conversation_id", "channel_message_id"),
        Index("ix_messages_conversation_id_id", "conversation_id", "id"),
        # The sweeps: messages left received (a lost job), or queued and due again.
        Index("ix_messages_state_next_attempt_at", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    direction: Mapped[Direction] = mapped_column(enum_column(Direction))
    channel_message_id: Mapped[str | None] = mapped_column(String(100))
    text: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[str | None] = mapped_column(Text)
    content: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # buttons, image, ...
    state: Mapped[MessageState] = mapped_column(enum_column(MessageState))
    ticket_code: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Outbound delivery (bot/delivery.py): the channel's id for the message once sent (its
    # receipts name it), the attempts so far, when to try again, and why it failed.
    external_id: Mapped[str | None] = mapped_column(String(100), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failure_reason: Mapped[str | None] = mapped_column(Text)

    conversation: Mapped[Conversation] = relationship(back_populates="messages", lazy="raise")


class WebchatSession(Base):
    """A web-chat session id the server issued: random, so nobody reads a chat by guessing."""

    __tablename__ = "webchat_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrackerErasure(Base):
    """A Rasa conversation still to erase for a person who asked to be forgotten (bot/privacy.py).

    Rasa is called after the database part is committed; while it cannot be reached, the
    sender id waits here, the only trace of it left, and beat tries again. The row goes once
    Rasa has erased the conversation.
    """

    __tablename__ = "tracker_erasures"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(300), unique=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
