"""The shape every channel shares: a message in from a person, a reply out to them.

A channel (web chat, Telegram, Zalo) turns what it receives into an `Inbound` for the gateway
(bot/gateway.py), and renders each `Reply` the way it can.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    """What the bot or an official says: text, buttons (title and Rasa payload), an image."""

    text: str | None = None
    buttons: list[dict[str, str]] = field(default_factory=list)
    image: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.text, "buttons": self.buttons, "image": self.image}


@dataclass
class Inbound:
    """One message from a person, as the gateway stores and answers it."""

    channel: str
    channel_user_id: str
    text: str | None = None
    payload: str | None = None
    channel_message_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # Whether a sender never seen before starts a conversation. A web chat's conversation
    # starts with the session this server issued (bot/webchat.py), so the web chat says False
    # and an id it did not issue is refused.
    opens_conversation: bool = True

    @property
    def sender_id(self) -> str:
        """Rasa's sender, as Conversation.sender_id has it: <channel>:<channel_user_id>."""
        return f"{self.channel}:{self.channel_user_id}"
