"""The conversation's language, set after every message (the `language` slot's custom mapping).

Rasa's `action_extract_slots` runs this action after each message, before anything answers, so
the responses (their English variations) and the actions' texts follow the message just read.
"""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.language import language_shown
from actions.message import is_payload, latest


class ActionDetectLanguage(Action):
    def name(self) -> str:
        return "action_detect_language"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        _, message_text = latest(tracker)
        if not message_text or is_payload(message_text):
            return []  # a button or a shared place says nothing of the language
        shown = language_shown(message_text)
        if shown is None or shown == tracker.get_slot("language"):
            return []
        return [SlotSet("language", shown)]
