"""Forgetting a person everywhere (`tiepdan contact forget`, Decree 13/2023): their contacts and
tickets (feedback/privacy.py says what goes and what stays there), their conversations, and
what Rasa remembers of them.

A person is found by a phone number, a channel identity (`<channel>:<user id>`) or a ticket
code; then by every phone number and identity their contacts have.

- The text of everything they wrote in a chat is replaced by a fixed marker, with the payload
  and what came with it (a photo, a place, the channel's metadata); the photos they sent are
  deleted. What the bot and staff wrote to them stays, with phone numbers and their name
  masked: it is the platform's side of the exchange.
- Each conversation keeps its row, its channel and its messages' direction, state and times
  (the chat's statistics), under a random placeholder instead of the channel's user id, so
  nothing links it back to the person; their next message starts a new conversation. A
  web-chat session id is that user id: the session goes.
- Rasa's conversation of each of their sender ids is erased after the commit. While Rasa
  cannot be reached the sender id waits in `tracker_erasures` (what is left to do), and beat
  tries again every few minutes.
- One audit entry records that a forget happened, who ran it and how many rows it changed,
  never whom it was about.

Running it again is harmless: what is already forgotten stays so and counts as nothing new.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    Text,
    cast,
    create_engine,
    delete,
    func,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.orm import Session

from bot import rasa_rest
from bot.models import Conversation, Direction, Message, TrackerErasure, WebchatSession
from core.errors import Invalid, NotFound
from core.settings import Settings, get_settings
from feedback import privacy
from feedback.audit import record_audit
from feedback.auth import Principal
from feedback.citizen import Identity
from feedback.models import Channel, Contact, ContactIdentity, Ticket
from feedback.privacy import REMOVED
from feedback.ticket_codes import normalize_ticket_code

logger = logging.getLogger(__name__)

PLACEHOLDER_PREFIX = "forgotten-"
UNKNOWN_PERSON = "Không tìm thấy người dân nào theo {selector} đã cho: không có gì để xoá."


@dataclass
class Person:
    """Whom a forget is about: their contacts and their conversations (each may be empty, not
    both)."""

    selector: str  # "phone", "sender" or "ticket": how they were found, never the value
    contacts: list[Contact]
    conversations: list[Conversation]
    senders: list[str]  # every Rasa sender id they wrote from


def find_person(
    session: Session,
    *,
    phone: str | None = None,
    sender: str | None = None,
    ticket_code: str | None = None,
) -> Person:
    """The person one selector names; NotFound when nobody matches (nothing is left of them)."""
    if sum(x is not None for x in (phone, sender, ticket_code)) != 1:
        raise Invalid("Give exactly one of a phone number, a sender or a ticket code.")
    identities: set[tuple[str, str]] = set()
    if phone is not None:
        selector = "phone"
        contacts = privacy.find_contacts(session, phone=phone)
    elif sender is not None:
        selector = "sender"
        identity = Identity.from_sender(sender)
        if identity.channel not in {c.value for c in Channel}:
            channels = ", ".join(c.value for c in Channel)
            raise Invalid(f"Unknown channel '{identity.channel}': one of {channels}.")
        identities.add((identity.channel, identity.channel_user_id))
        contacts = privacy.find_contacts(
            session, channel=identity.channel, channel_user_id=identity.channel_user_id
        )
    else:
        assert ticket_code is not None
        selector = "ticket"
        code = normalize_ticket_code(ticket_code)
        if session.scalar(select(Ticket.id).where(Ticket.code == code)) is None:
            raise NotFound(f"Không có phản ánh {code}.")
        contacts = privacy.find_contacts(session, ticket_code=code)
    identities.update(privacy.contact_identities(session, [c.id for c in contacts]))
    conversations = (
        list(
            session.scalars(
                select(Conversation)
                .where(tuple_(Conversation.channel, Conversation.channel_user_id).in_(identities))
                .order_by(Conversation.id)
            )
        )
        if identities
        else []
    )
    if not contacts and not conversations:
        raise NotFound(UNKNOWN_PERSON.format(selector=_SELECTOR_WORDS[selector]))
    senders = sorted(Identity(channel, user).sender for channel, user in identities)
    return Person(selector, contacts, conversations, senders)


_SELECTOR_WORDS = {"phone": "số điện thoại", "sender": "định danh kênh", "ticket": "mã phản ánh"}


def describe_person(session: Session, person: Person) -> dict[str, int]:
    """What forgetting this person would touch, in counts (nothing personal)."""
    contact_ids = [c.id for c in person.contacts]
    conversation_ids = [c.id for c in person.conversations]
    tickets = _count(session, select(Ticket.id).where(Ticket.contact_id.in_(contact_ids)))
    return {
        "contacts": len(person.contacts),
        "identities": _count(
            session,
            select(ContactIdentity.id).where(ContactIdentity.contact_id.in_(contact_ids)),
        ),
        "tickets": tickets,
        "conversations": len(person.conversations),
        "messages_written": _count(
            session,
            select(Message.id).where(
                Message.conversation_id.in_(conversation_ids),
                Message.direction == Direction.INBOUND,
                _not_yet_removed(),
            ),
        ),
        "rasa_conversations": len(person.senders),
    }


def _count(session: Session, query: Select[Any]) -> int:
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def _not_yet_removed() -> ColumnElement[bool]:
    """An inbound message that still holds something of its writer."""
    return or_(
        Message.text.is_not(None) & (Message.text != REMOVED),
        Message.payload.is_not(None),
        cast(Message.content, Text) != "{}",
    )


@dataclass
class Forgotten:
    """What a forget did: counts for the operator and the audit, files to delete, and the
    Rasa conversations now waiting to be erased."""

    counts: dict[str, int]
    files: list[Path] = field(default_factory=list)
    senders: list[str] = field(default_factory=list)

    def delete_files(self) -> int:
        """Delete the photos (a file already gone is fine); how many were deleted."""
        return privacy.delete_files(self.files)


def forget_person(
    session: Session, person: Person, *, actor: Principal, now: datetime | None = None
) -> Forgotten:
    """Forget this person in the database (the module says what goes and what stays) and queue
    the erasure of their Rasa conversations, which `erase_pending_trackers` does after the
    commit. The caller deletes `files`."""
    now = now or datetime.now(UTC)
    names = privacy.personal_names(person.contacts)
    contacts = privacy.forget_contacts(session, person.contacts, names=names)
    files = list(contacts.files)
    messages_removed = messages_masked = photos = 0
    conversation_ids = [c.id for c in person.conversations]
    if conversation_ids:
        for message in session.scalars(
            select(Message).where(Message.conversation_id.in_(conversation_ids))
        ):
            if message.direction == Direction.INBOUND:
                if message.text in (None, REMOVED) and not message.payload and not message.content:
                    continue
                for path in _photo_files(message):
                    files.append(path)
                    photos += 1
                message.text, message.payload, message.content = REMOVED, None, {}
                messages_removed += 1
            elif message.text:
                masked = privacy.mask_text(message.text, names=names)
                if masked != message.text:
                    message.text = masked
                    messages_masked += 1
        for conversation in person.conversations:
            conversation.channel_user_id = PLACEHOLDER_PREFIX + secrets.token_urlsafe(18)
            conversation.handed_off = False
            conversation.rasa_restart_due = False
        session.execute(
            delete(WebchatSession).where(WebchatSession.conversation_id.in_(conversation_ids))
        )
    waiting = set(
        session.scalars(
            select(TrackerErasure.sender_id).where(TrackerErasure.sender_id.in_(person.senders))
        )
    )
    for sender in person.senders:
        if sender not in waiting:
            session.add(TrackerErasure(sender_id=sender, requested_at=now))
    counts = {
        **contacts.counts(),
        "conversations": len(person.conversations),
        "messages_removed": messages_removed,
        "messages_masked": messages_masked,
        "photos_removed": contacts.photos + photos,
        "rasa_conversations": len(person.senders),
    }
    record_audit(
        session,
        actor=actor,
        action="contact.forget",
        detail={"selector": person.selector, **counts},
        now=now,
    )
    session.flush()
    return Forgotten(counts=counts, files=files, senders=person.senders)


def _photo_files(message: Message) -> list[Path]:
    """The stored photo a web-chat message sent (`/share_photo{"photo_url": ...}`), if any."""
    payload = message.payload or ""
    if not payload.startswith("/share_photo{"):
        return []
    try:
        url = json.loads(payload.removeprefix("/share_photo")).get("photo_url")
    except (ValueError, AttributeError):
        return []
    path = privacy.photo_file(str(url or ""))
    return [path] if path is not None else []


@dataclass
class Erasures:
    erased: int
    pending: int
    errors: list[str]


def erase_pending_trackers(
    session: Session, *, settings: Settings | None = None, senders: list[str] | None = None
) -> Erasures:
    """Erase the Rasa conversations waiting in `tracker_erasures` (only `senders`' when given),
    dropping each row once done. A failure leaves the row for the next try (beat's task)."""
    settings = settings or get_settings()
    query = select(TrackerErasure).order_by(TrackerErasure.id).limit(200)
    if senders is not None:
        query = query.where(TrackerErasure.sender_id.in_(senders))
    rows = list(session.scalars(query))
    erased, errors = 0, []
    for row in rows:
        try:
            rasa_rest.erase_tracker(settings.rasa_url, settings.rasa_token, row.sender_id)
            _delete_stored_events(settings, row.sender_id)
        except Exception as exc:  # Rasa or its tracker database down: left for the next try
            row.attempts += 1
            row.last_error = _error(exc)
            errors.append(row.last_error)
            continue
        session.delete(row)
        erased += 1
    session.flush()
    pending = session.scalar(select(func.count(TrackerErasure.id))) or 0
    if errors:
        logger.warning("%d Rasa conversations not erased yet: %s", len(errors), errors[0])
    return Erasures(erased=erased, pending=pending, errors=errors)


def _error(exc: Exception) -> str:
    # The exception's class and first line: never the sender id, which an URL would carry.
    return f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]


def _delete_stored_events(settings: Settings, sender: str) -> None:
    """Rasa's SQL tracker store keeps every event it was given: after the PUT, which waited for
    Rasa's lock on the conversation, delete the rows of this sender (Rasa reads them back on
    each turn, and this sender will not write again)."""
    if not settings.rasa_tracker_store_url:
        return
    with _tracker_engine(settings.rasa_tracker_store_url).begin() as connection:
        connection.execute(text("DELETE FROM events WHERE sender_id = :sender"), {"sender": sender})


_engines: dict[str, Engine] = {}


def _tracker_engine(url: str) -> Engine:
    """An engine on Rasa's tracker database (a postgresql:// URL, as Rasa is given it)."""
    if url not in _engines:
        parts = urlsplit(url)
        postgres = parts.scheme in ("postgresql", "postgres")
        scheme = "postgresql+psycopg" if postgres else parts.scheme
        # A few erasures now and then: one connection, checked before use.
        _engines[url] = create_engine(
            urlunsplit(parts._replace(scheme=scheme)), pool_size=1, pool_pre_ping=True
        )
    return _engines[url]
