"""Telex and VNI typed without the input method: "dduwowngf" → "đường", "ngap65" → "ngập".

When the keyboard's Vietnamese input is off (a new phone, a shared computer), the keys meant to
add marks stay as letters or digits. Telex writes the marks with letters: aa â, aw ă, ee ê,
oo ô, ow ơ, uw ư, dd đ, and the tone as a letter, usually at the end (s sắc, f huyền, r hỏi,
x ngã, j nặng). VNI writes them with digits: 1–5 the tones, 6 â ê ô, 7 ơ ư, 8 ă, 9 đ.

A word is decoded only when the result is a Vietnamese syllable, and a word whose only sign is
a final tone letter ("cos" → "có", "thangs" → "tháng") only in a message that has an
unmistakable sign (a doubled vowel, dd, a w after a vowel, a VNI digit) or two such words and
is not English: "bus" and "yes" stay English.
"""

from __future__ import annotations

import re
import unicodedata

from nlu.language import SYLLABLE, detect_language

_TONE_LETTERS = {"s": "\u0301", "f": "\u0300", "r": "\u0309", "x": "\u0303", "j": "\u0323"}
_TONE_DIGITS = {"1": "\u0301", "2": "\u0300", "3": "\u0309", "4": "\u0303", "5": "\u0323"}
# Longest first: "uwow" and "uow" before "uw" and "ow".
_TELEX_MARKS = [
    ("uwow", "ươ"),
    ("uow", "ươ"),
    ("uw", "ư"),
    ("ow", "ơ"),
    ("aw", "ă"),
    ("aa", "â"),
    ("ee", "ê"),
    ("oo", "ô"),
    ("dd", "đ"),
]
_UNMISTAKABLE = re.compile(r"aa|ee|oo|dd|[aou]w|[a-z][1-9]")
_WORD = re.compile(r"[a-z]+[1-9]*[a-z]*[1-9]*")


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word.replace("đ", "d"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _with_tone(base: str, tone: str | None) -> str:
    from nlu.normalize import place_tone  # normalize imports this module

    base = unicodedata.normalize("NFC", base)
    if tone is None:
        return base
    # On the first vowel, then place_tone moves it where the convention puts it.
    first = next(i for i, ch in enumerate(_fold(base)) if ch in "aeiouy")
    return place_tone(unicodedata.normalize("NFC", base[: first + 1] + tone + base[first + 1 :]))


def _telex(word: str) -> str | None:
    tone = None
    if word[-1] in _TONE_LETTERS and len(word) > 1:
        tone, word = _TONE_LETTERS[word[-1]], word[:-1]
    for typed, letter in _TELEX_MARKS:
        word = word.replace(typed, letter)
    return _with_tone(word, tone) if SYLLABLE.fullmatch(_fold(word)) else None


def _vni(word: str) -> str | None:
    digits = "".join(ch for ch in word if ch.isdigit())
    base = "".join(ch for ch in word if not ch.isdigit())
    tones = [_TONE_DIGITS[d] for d in digits if d in _TONE_DIGITS]
    if len(tones) > 1 or not base:
        return None
    if "6" in digits:
        base = re.sub("[aeo]", lambda m: {"a": "â", "e": "ê", "o": "ô"}[m.group()], base, count=1)
    if "7" in digits:
        base = base.replace("uo", "ươ") if "uo" in base else re.sub("[ou]", _horn, base, count=1)
    if "8" in digits:
        base = base.replace("a", "ă", 1)
    if "9" in digits:
        base = base.replace("d", "đ", 1)
    if not SYLLABLE.fullmatch(_fold(base)):
        return None
    return _with_tone(base, tones[0] if tones else None)


def _horn(match: re.Match[str]) -> str:
    return {"o": "ơ", "u": "ư"}[match.group()]


def decode_word(word: str, *, message_is_typed_raw: bool) -> str:
    """The word as the writer meant it, or the word unchanged."""
    if not _WORD.fullmatch(word) or len(word) < 2:
        return word
    if any(ch.isdigit() for ch in word):
        return _vni(word) or word if word[0].isalpha() else word
    if SYLLABLE.fullmatch(word):
        return word  # already a syllable typed without marks: "duong", "cho"
    if not message_is_typed_raw and not _UNMISTAKABLE.search(word):
        return word
    return _telex(word) or word


def typed_raw(text: str) -> bool:
    """Whether the message was typed without the input method: a word with an unmistakable
    Telex or VNI sign, or, in a message that is not English, two words that are syllables
    only once a final tone letter is read as one ("hoaf binh thuyr")."""
    words = _WORD.findall(text)
    decoded = [w for w in words if decode_word(w, message_is_typed_raw=True) != w]
    if any(_UNMISTAKABLE.search(w) for w in decoded):
        return True
    return len(decoded) >= 2 and detect_language(text) == "vi"
