"""Inline-keyboard buttons whose Rasa payload sits behind a short key.

Telegram's callback_data holds 64 bytes, and a payload with a ticket code and a score is close to
that already, so every button carries a random key instead; the payload stays here. A key is
good once, in the conversation it was sent to: a tap claims every key of its keyboard, so the
same question cannot be answered twice, and a key from someone else's chat is worth nothing.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select, update

from core.database import session_scope, utcnow
from integrations.models import ButtonPayload


def keys_for(conversation_id: int, message_id: int, buttons: list[dict[str, str]]) -> list[str]:
    """The keys of a message's buttons: the ones stored at its first attempt, or new ones."""
    with session_scope() as session:
        known = {
            (row.title, row.payload): row.key
            for row in session.scalars(
                select(ButtonPayload).where(ButtonPayload.message_id == message_id)
            )
        }
        wanted = [(button["title"][:200], button["payload"]) for button in buttons]
        if known and all(pair in known for pair in wanted):
            return [known[pair] for pair in wanted]
        keys = [secrets.token_urlsafe(12) for _ in buttons]  # 16 characters of 64 allowed
        now = utcnow()
        for key, button in zip(keys, buttons, strict=True):
            session.add(
                ButtonPayload(
                    key=key,
                    conversation_id=conversation_id,
                    message_id=message_id,
                    title=button["title"][:200],
                    payload=button["payload"],
                    created_at=now,
                )
            )
        return keys


def claim(key: str, *, conversation_id: int) -> str | None:
    """The payload behind a tapped key, once; None for a key already used or not this chat's.

    Claiming is serialized per conversation (the gateway answers one message of a person at a
    time), so reading then marking is safe.
    """
    with session_scope() as session:
        row = session.scalar(
            select(ButtonPayload).where(
                ButtonPayload.key == key,
                ButtonPayload.conversation_id == conversation_id,
                ButtonPayload.used_at.is_(None),
            )
        )
        if row is None:
            return None
        session.execute(
            update(ButtonPayload)
            .where(
                ButtonPayload.conversation_id == conversation_id,
                ButtonPayload.message_id == row.message_id
                if row.message_id is not None
                else ButtonPayload.key == key,
            )
            .values(used_at=utcnow())
        )
        return row.payload
