"""Mã số thuế (MST), a firm's tax code: ten digits whose last is a check digit, and three more
for a branch (written 0314409058-001).

The check digit catches most mistyped codes before a firm's report is filed under a code that is
not theirs: the first nine digits are weighted 31, 29, 23, 19, 17, 13, 7, 5, 3, and the tenth is
10 minus their sum modulo 11 (a sum whose remainder is 0 would need "10", so no code has it).
The Rasa action server checks codes with a copy of this rule (bot/rasa/actions/text.py);
tests/bot/test_rasa_copies.py pins the copy to this one.
"""

from __future__ import annotations

import re

WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)
_SHAPE = re.compile(r"\d{10}(\d{3})?")
_SEPARATORS = re.compile(r"[\s.\-]")


def check_digit(first_nine: str) -> int | None:
    """The tenth digit the first nine call for, or None when no digit fits."""
    check = 10 - sum(w * int(d) for w, d in zip(WEIGHTS, first_nine, strict=True)) % 11
    return check if check < 10 else None


def normalize_tax_code(text: str) -> str | None:
    """The code as digits only (13 for a branch), or None if it is not a valid MST."""
    digits = _SEPARATORS.sub("", text.strip())
    if not _SHAPE.fullmatch(digits) or digits[10:] == "000":
        return None
    if check_digit(digits[:9]) != int(digits[9]):
        return None
    return digits
