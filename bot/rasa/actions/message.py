"""What the person just said, as every action reads it from the tracker."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker


def latest(tracker: Tracker) -> tuple[str, str]:
    """The latest message's intent and its text, stripped ("" when there is none)."""
    message = tracker.latest_message or {}
    intent = (message.get("intent") or {}).get("name") or ""
    return intent, (message.get("text") or "").strip()


def entity(tracker: Tracker, name: str) -> Any:
    """The first value of an entity in the latest message, or None."""
    return next(tracker.get_latest_entity_values(name), None)


def is_payload(message_text: str) -> bool:
    """A button's payload ("/intent{...}") rather than something typed."""
    return message_text.startswith("/")


def in_english(tracker: Tracker) -> bool:
    """The conversation is in English (the `language` slot, see actions/language_slot.py)."""
    return tracker.get_slot("language") == "en"


def pick(tracker: Tracker, vietnamese: str, english: str) -> str:
    """The text in the conversation's language."""
    return english if in_english(tracker) else vietnamese
