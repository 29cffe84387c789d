"""The shape every channel shares: a message in from a person, a reply out to them.

A channel is an adapter (integrations/<channel>/adapter.py) with one small protocol:

- `verify` a webhook request (its secret or signature) before anything is stored;
- `parse` it into what the gateway understands: `Inbound` messages, delivery `Receipt`s;
- `prepare` a message before it is answered (a button's key looked up, a tap acknowledged);
- `fetch` what a message only points to (a photo on the channel's servers);
- `send` one `Reply`, rendered the way the channel can (`Capabilities`).

The gateway (bot/gateway.py) knows no channel: the registry (integrations/registry.py) maps a
channel's name to its adapter. A new channel (Messenger, SMS) is one new folder and one line
there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from feedback.citizen import Identity
from feedback.models import Channel

__all__ = ["Channel"]  # defined with the domain, which validates it; re-exported for adapters


@dataclass
class Reply:
    """What the bot or an official says: text, buttons (title and Rasa payload), an image, and
    documents (a resolution's evidence PDFs, by their URLs on this platform)."""

    text: str | None = None
    buttons: list[dict[str, str]] = field(default_factory=list)
    image: str | None = None
    documents: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "buttons": self.buttons,
            "image": self.image,
            "documents": self.documents,
        }


@dataclass
class Attachment:
    """Something sent with a message: a photo the channel holds, or a place."""

    kind: str  # "photo" | "location"
    ref: str | None = None  # the channel's file id or URL, for `fetch`
    latitude: float | None = None
    longitude: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Attachment:
        return cls(
            kind=str(data["kind"]),
            ref=data.get("ref"),
            latitude=data.get("latitude"),
            longitude=data.get("longitude"),
        )


# The payload of a button that no longer stands for anything (pressed already, or not ours):
# the gateway answers it as it answers any payload it cannot accept.
STALE_BUTTON = ""


@dataclass
class Inbound:
    """One message from a person, as the gateway stores and answers it."""

    channel: str
    channel_user_id: str
    text: str | None = None
    payload: str | None = None
    channel_message_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)
    # What the person sent that the platform cannot read (a sticker, a voice message): stored,
    # and answered with a polite word instead of being passed to Rasa.
    unsupported: str | None = None
    # Whether a sender never seen before starts a conversation. A web chat's conversation
    # starts with the session this server issued (bot/webchat.py), so the web chat says False
    # and an id it did not issue is refused.
    opens_conversation: bool = True

    @property
    def sender_id(self) -> str:
        """Rasa's sender id: <channel>:<channel_user_id> (feedback.citizen.Identity)."""
        return Identity(self.channel, self.channel_user_id).sender


@dataclass(frozen=True)
class Receipt:
    """The channel says one of our messages reached the person ("delivered") or was read."""

    channel_user_id: str
    external_ids: tuple[str, ...]
    state: str  # "delivered" | "seen"


@dataclass(frozen=True)
class Capabilities:
    buttons: bool = True
    images: bool = True
    locations: bool = True
    max_text: int = 4096


@dataclass(frozen=True)
class Pacing:
    """How fast the channel lets us send: to one chat, and in all."""

    per_chat_interval: float = 0.0  # seconds between two messages to the same person
    overall_limit: int = 0  # messages per `overall_window` seconds, 0: no limit
    overall_window: float = 1.0


@dataclass(frozen=True)
class Sent:
    """A reply the channel accepted, with the channel's own id for it (for receipts)."""

    external_id: str | None = None


class RetryLater(Exception):
    """The channel is busy or down: send again after `after` seconds."""

    def __init__(self, reason: str, *, after: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after = after


class Undeliverable(Exception):
    """The channel will not take this reply, now or later (a blocked bot, an expired window)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Outgoing:
    """A stored reply on its way out: the text and buttons, and where it goes."""

    message_id: int
    conversation_id: int
    channel_user_id: str
    reply: Reply
    # The inbound message it answers (some channels thread or price a reply by it).
    in_reply_to: str | None = None


class ChannelAdapter(Protocol):
    """What a channel does for the platform; each method is small and knows no dialogue."""

    name: str
    capabilities: Capabilities
    pacing: Pacing
    # The web chat's page reads stored messages itself: storing a reply is delivering it.
    delivered_by_storing: bool

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """Refuse a request the channel did not send (Unauthorized or Forbidden)."""
        ...

    def parse(self, body: bytes) -> list[Inbound | Receipt]:
        """What the request says; an update the platform does not handle gives nothing."""
        ...

    def prepare(self, inbound: Inbound, *, conversation_id: int) -> Inbound:
        """Before the message is answered: what the channel's own indirections mean (a button
        key looked up), and an acknowledgement the channel expects (a tap answered)."""
        ...

    def fetch(self, attachment: Attachment) -> bytes:
        """The bytes of a photo the channel holds (RetryLater, or Undeliverable when gone)."""
        ...

    def send(self, outgoing: Outgoing) -> Sent:
        """Deliver one reply (RetryLater or Undeliverable when it cannot)."""
        ...
