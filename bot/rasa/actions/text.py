"""Reading what people type: ticket codes, phone numbers, tax codes, scores.

The platform's nlu/ package does this more thoroughly, but the action server runs in Rasa's
own Python 3.10 environment without it; these few patterns are all the dialogue needs.
"""

from __future__ import annotations

import re
import unicodedata

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CODE = re.compile(r"(?<![A-Z0-9])PA[\s\-]?((?:[0-9A-Z][\s\-]?){8})(?![0-9A-Z])")
_PHONE = re.compile(r"(?<!\d)(?:\+?84|0)(?:[\s.\-]?\d){9}(?!\d)")
_SCORE = re.compile(r"(?<!\d)([1-5])\s*(?:sao|diem|stars?|\*|/\s*5)?(?!\d)")
# Star emoji, typed or picked from the keyboard: "⭐⭐⭐⭐", "★★★☆☆" (hollow ones count nothing).
_STARS = ("⭐", "★", "🌟")
_BUSINESS = re.compile(
    r"\b(cong ty|cty|doanh nghiep|dn|mst|ma so thue|hop tac xa|htx|kcn|"
    r"company|factory|firm|enterprise|industrial park|tax code|ltd)\b"
)
_NOT_FIXED = re.compile(
    r"chua (duoc )?(xu ly|sua|khac phuc|giai quyet)|van (chua|con|y nhu cu|nhu cu)|"
    r"khong (duoc )?(xu ly|sua)|chua ai (toi|den)|"
    # English, as the firms in the industrial parks write it
    r"not (been |yet )?(fixed|solved|resolved|repaired)|still (broken|not)|"
    r"nothing (was|has been) done"
)
_WORD_SCORES = {
    "rat hai long": 5,
    "hai long": 4,
    "binh thuong": 3,
    "tam duoc": 3,
    "khong hai long": 2,
    "rat khong hai long": 1,
    "te": 1,
    "very satisfied": 5,
    "satisfied": 4,
    "not satisfied": 2,
    "dissatisfied": 2,
    "very dissatisfied": 1,
}
# "rat khong hai long" must be tried before "hai long", which it contains.
_WORD_SCORES_LONGEST_FIRST = sorted(_WORD_SCORES.items(), key=lambda kv: -len(kv[0]))


def fold(text: str) -> str:
    """Lower case without diacritics: "Không" and "khong" read the same."""
    text = unicodedata.normalize("NFD", text.lower()).replace("đ", "d")
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def ticket_code(text: str) -> str | None:
    match = _CODE.search(text.upper())
    if not match:
        return None
    body = re.sub(r"[\s\-]", "", match.group(1)).replace("O", "0").replace("I", "1")
    body = body.replace("L", "1")
    return "PA" + body if all(ch in CODE_ALPHABET for ch in body) else None


def phone_number(text: str) -> str | None:
    """A Vietnamese phone number, written 0xxxxxxxxx."""
    match = _PHONE.search(text)
    if not match:
        return None
    digits = re.sub(r"\D", "", match.group(0))
    return "0" + digits[2:] if digits.startswith("84") else digits


# A copy of feedback/tax_codes.py's rule, pinned by tests/bot/test_rasa_copies.py.
_TAX_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)


def tax_code(text: str) -> str | None:
    """A mã số thuế: 10 digits whose last is the check digit, or 13 for a branch (often written
    0314409058-001); None for anything else, a mistyped code included."""
    digits = re.sub(r"[\s.\-]", "", text.strip())
    if not re.fullmatch(r"\d{10}(\d{3})?", digits) or digits[10:] == "000":
        return None
    check = 10 - sum(w * int(d) for w, d in zip(_TAX_WEIGHTS, digits[:9], strict=True)) % 11
    return digits if check < 10 and check == int(digits[9]) else None


def score(text: str) -> int | None:
    folded = fold(text)
    match = _SCORE.search(folded)
    if match:
        return int(match.group(1))
    stars = sum(folded.count(star) for star in _STARS)
    if 1 <= stars <= 5:
        return stars
    for phrase, value in _WORD_SCORES_LONGEST_FIRST:
        # Whole words: "te" (tệ) is not the end of "rate" or "street".
        if re.search(rf"\b{phrase}\b", folded):
            return value
    return None


def says_not_fixed(text: str) -> bool:
    return bool(_NOT_FIXED.search(fold(text)))


def mentions_business(text: str) -> bool:
    return bool(_BUSINESS.search(fold(text)))


# English is wordier than Vietnamese: "I would like to make a complaint" only says the wish,
# as "tôi muốn phản ánh" does, however many words it takes.
_WISH_WORDS_TEXT = """
    i we would like want wish need to make file send submit give report complain complaint a an
    problem issue suggestion suggest have please hello hi dear sir madam some something about
"""
_WISH_WORDS = frozenset(_WISH_WORDS_TEXT.split())


def says_only_the_wish(text: str) -> bool:
    words = re.findall(r"[a-z']+", fold(text))
    return bool(words) and all(word in _WISH_WORDS for word in words)
