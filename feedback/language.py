"""The language a citizen writes in, as the platform keeps it: Vietnamese or English.

nlu/language.py decides "vi" or "en" for one message. A conversation keeps a language
(`bot.models.Conversation.language`): a message that shows its language sets it, and one that
shows none ("ok", a phone number, a ticket code, a button) keeps it, so an English firm typing
its phone number still gets English. The Rasa action server keeps the same rule in its own copy
(bot/rasa/actions/language.py, pinned by tests/bot/test_rasa_copies.py).

What the platform says to a citizen (notices, the gateway's own answers) is in the
conversation's language; staff keep working in Vietnamese.
"""

from __future__ import annotations

from nlu.language import Language, language_score

VIETNAMESE: Language = "vi"
ENGLISH: Language = "en"
LANGUAGES: tuple[Language, ...] = (VIETNAMESE, ENGLISH)
# What the admin panel writes beside an English report's original text.
LANGUAGE_NAMES = {VIETNAMESE: "Tiếng Việt", ENGLISH: "Tiếng Anh"}


def language_shown(text: str | None) -> Language | None:
    """The language the message shows, or None when its words show none (a code, a number,
    "ok", a button's payload): nlu/language.py's votes add up to 0."""
    if not text or not text.strip():
        return None
    score = language_score(text)
    if score == 0:
        return None
    return ENGLISH if score < 0 else VIETNAMESE
