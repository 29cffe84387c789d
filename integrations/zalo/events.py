"""A Zalo webhook request: is it Zalo's (the signature), and what does it say (the events).

Both run inline in the webhook route, inside Zalo's two seconds: no network, no database.
Shapes and the signature formula: channels.md 1.3–1.5.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

from core.errors import Unauthorized
from integrations.channel import Attachment, Channel, Inbound, Receipt

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-ZEvent-Signature"
# A signed event older (or newer) than this is refused. Zalo resends an event it could not
# deliver for up to 12 hours by one account (channels.md 1.3, unconfirmed): a day lets every
# genuine retry in, while a captured request cannot be replayed for ever.
REPLAY_WINDOW_SECONDS = 24 * 3600

# A text that looks like a Rasa payload ("/affirm", '/rate{"score": 5}'): what an
# `oa.query.hide` button sends when tapped. bot/rasa_rest.py decides whether it is a valid one.
_PAYLOAD = re.compile(r"^/[a-z_]+(\{.*\})?$")

# What people can send that the assistant cannot read: answered politely by the gateway.
_UNSUPPORTED = {
    "user_send_sticker": "sticker",
    "user_send_gif": "gif",
    "user_send_audio": "audio",
    "user_send_video": "video",
    "user_send_file": "file",
    "user_send_link": "link",
    "user_send_business_card": "business_card",
}


def signature(app_id: str, body: bytes, timestamp: str, oa_secret: str) -> str:
    """Zalo's signature of a webhook body: sha256(app id + body + timestamp + OA secret key)."""
    digest = hashlib.sha256(app_id.encode() + body + timestamp.encode() + oa_secret.encode())
    return digest.hexdigest()


def verify(
    headers: Mapping[str, str],
    body: bytes,
    *,
    app_id: str,
    oa_secret: str,
    now: float | None = None,
) -> None:
    """Unauthorized unless `body`, exactly as received, carries Zalo's signature."""
    header = (headers.get(SIGNATURE_HEADER) or headers.get(SIGNATURE_HEADER.lower()) or "").strip()
    if not header:
        raise Unauthorized(f"Missing {SIGNATURE_HEADER}.")
    timestamp = _timestamp(body)
    given = header[4:] if header[:4].lower() == "mac=" else header
    expected = signature(app_id, body, timestamp, oa_secret)
    if not hmac.compare_digest(given.lower().encode(), expected.encode()):
        raise Unauthorized(f"Bad {SIGNATURE_HEADER}.")
    age = (time.time() if now is None else now) - int(timestamp) / 1000
    if abs(age) > REPLAY_WINDOW_SECONDS:
        raise Unauthorized("This event is too old (or from the future) to be accepted.")


def _timestamp(body: bytes) -> str:
    """The signed timestamp, from the body (epoch milliseconds, as Zalo wrote it)."""
    try:
        event = json.loads(body)
    except ValueError:
        event = None
    timestamp = event.get("timestamp") if isinstance(event, dict) else None
    if not isinstance(timestamp, str | int) or not str(timestamp).isdigit():
        raise Unauthorized(f"Cannot check {SIGNATURE_HEADER}: the body has no timestamp.")
    return str(timestamp)


def parse(body: bytes) -> list[Inbound | Receipt]:
    """What one event says; nothing for events the platform does not act on."""
    try:
        event = json.loads(body)
    except ValueError as exc:
        raise ValueError("the body is not JSON") from exc
    if not isinstance(event, dict) or not isinstance(event.get("event_name"), str):
        raise ValueError("no event_name")
    name: str = event["event_name"]
    if name.startswith(("oa_", "anonymous_")):
        # Our own messages echoed back (never fed to Rasa: that would loop), and visitors of
        # the OA's web widget, who have no user id we can answer.
        logger.debug("zalo: %s ignored", name)
        return []
    if name == "follow":
        return [_follow(event)]
    if name in ("user_received_message", "user_seen_message"):
        return [_receipt(event)]
    if name.startswith("user_send_") or name == "user_click_button":
        return [_message(event)]
    logger.info("zalo: event %s not handled", name)  # unfollow, tags, calls, ...
    return []


def _follow(event: dict[str, Any]) -> Inbound:
    """A new follower is greeted. A follow has no msg_id: its id is made from the event, so a
    redelivered follow is stored once."""
    user = _id(event.get("follower")) or _id(event.get("sender"))
    if not user:
        raise ValueError("a follow without follower.id")
    return Inbound(
        channel=Channel.ZALO,
        channel_user_id=user,
        payload="/greet",
        channel_message_id=derived_id("follow", user, str(event.get("timestamp", ""))),
    )


def _receipt(event: dict[str, Any]) -> Receipt:
    """Delivered (`message.msg_id`) or seen (`message.msg_ids`); the person is the recipient."""
    user = _id(event.get("recipient"))
    message = event.get("message")
    if not user or not isinstance(message, dict):
        raise ValueError("a receipt without recipient.id or message")
    if event["event_name"] == "user_received_message":
        ids: list[Any] = [message.get("msg_id")]
        state = "delivered"
    else:
        ids = message.get("msg_ids") or [message.get("msg_id")]
        state = "seen"
    return Receipt(
        channel_user_id=user,
        external_ids=tuple(str(i) for i in ids if i not in (None, "")),
        state=state,
    )


def _message(event: dict[str, Any]) -> Inbound:
    name: str = event["event_name"]
    user = _id(event.get("sender"))
    message = event.get("message")
    if not user or not isinstance(message, dict):
        raise ValueError(f"a {name} without sender.id or message")
    text = message.get("text") if isinstance(message.get("text"), str) else None
    msg_id = message.get("msg_id")
    inbound = Inbound(
        channel=Channel.ZALO,
        channel_user_id=user,
        text=text,
        channel_message_id=(
            str(msg_id) if msg_id else derived_id(name, user, str(event.get("timestamp", "")))
        ),
    )
    if name in ("user_send_text", "user_click_button") and text and _PAYLOAD.match(text.strip()):
        inbound.payload, inbound.text = text.strip(), None
    elif name == "user_send_image":
        urls = [a["payload"].get("url") for a in _attachments(message, "image")]
        inbound.attachments = [Attachment(kind="photo", ref=str(u)) for u in urls if u]
        if not inbound.attachments:
            raise ValueError("an image without its URL")
    elif name == "user_send_location":
        inbound.attachments = [_location(message)]
    elif name in _UNSUPPORTED:
        inbound.unsupported = _UNSUPPORTED[name]
    elif name not in ("user_send_text", "user_click_button"):
        inbound.unsupported = name.removeprefix("user_send_")
    return inbound


def _location(message: dict[str, Any]) -> Attachment:
    """A shared place. The attachment's coordinates are the documented shape; two others have
    been seen (channels.md 1.5), so each is tried."""
    candidates = [a["payload"].get("coordinates") for a in _attachments(message, "location")]
    candidates += [message.get("location"), message.get("coordinates")]
    for place in candidates:
        if not isinstance(place, dict):
            continue
        latitude = place.get("latitude", place.get("lat"))
        longitude = place.get("longitude", place.get("long", place.get("lng")))
        if latitude is None or longitude is None:
            continue
        try:
            lat, lon = float(latitude), float(longitude)  # Zalo sends them as strings
        except (TypeError, ValueError):
            continue
        if -90 <= lat <= 90 and -180 <= lon <= 180:
            return Attachment(kind="location", latitude=lat, longitude=lon)
    raise ValueError("a location without coordinates")


def _attachments(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    items = message.get("attachments")
    return [
        a
        for a in (items if isinstance(items, list) else [])
        if isinstance(a, dict) and a.get("type") == kind and isinstance(a.get("payload"), dict)
    ]


def _id(party: Any) -> str | None:
    """A sender, recipient or follower's id, kept as a string (Zalo's ids overflow JS numbers)."""
    value = party.get("id") if isinstance(party, dict) else None
    return str(value) if value not in (None, "") else None


def derived_id(event_name: str, user: str, timestamp: str) -> str:
    """The id of an event that has no msg_id. Zalo's msg_ids are hex, without ':'."""
    return f"{event_name}:{user}:{timestamp}"


def is_zalo_message_id(channel_message_id: str) -> bool:
    """Whether an inbound message's id is Zalo's own (one we can reply to), not derived_id's."""
    return ":" not in channel_message_id
