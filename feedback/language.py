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

from nlu.language import Language, detect_language

VIETNAMESE: Language = "vi"
ENGLISH: Language = "en"
LANGUAGES: tuple[Language, ...] = (VIETNAMESE, ENGLISH)
# What the admin panel writes beside an English report's original text.
LANGUAGE_NAMES = {VIETNAMESE: "Tiếng Việt", ENGLISH: "Tiếng Anh"}


def language_shown(text: str | None) -> Language | None:
    """The language the message shows, or None when it shows none.

    nlu/language.py answers "vi" for a Vietnamese letter, for more Vietnamese syllables than
    English words, and for a tie (a code, a number, "ok"). One more common English word tips
    only the tie to English, so it tells the tie apart without a second copy of the rule.
    """
    if not text or not text.strip():
        return None
    detected = detect_language(text)
    if detected == ENGLISH:
        return ENGLISH
    return None if detect_language(f"{text} the") == ENGLISH else VIETNAMESE
