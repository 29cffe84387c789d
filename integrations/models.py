"""What the channels keep between requests: their API tokens, and button payloads too long for
the channel to carry."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.database import Base, BigId, UTCDateTime, utcnow


class ChannelToken(Base):
    """A channel's current access token and the refresh token that renews it (Zalo OA).

    A refresh token works once: the new pair is written, under a row lock, before it is used.
    """

    __tablename__ = "channel_tokens"

    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    access_token: Mapped[str] = mapped_column(Text)
    refresh_token: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ButtonPayload(Base):
    """A button's Rasa payload behind a short random key: Telegram's callback_data holds 64
    bytes, a payload may not fit. The key is only good in the conversation it was sent to."""

    __tablename__ = "button_payloads"

    key: Mapped[str] = mapped_column(String(24), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("messages.id"))
    title: Mapped[str] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
