"""Text from outside, made safe to keep and to show: what cannot be seen is taken out.

Control characters other than newline and tab (NUL breaks PostgreSQL; a terminal reading a log
obeys ANSI escapes), the bidirectional overrides that make a text read backwards on screen
(the "RLO" trick that hides what a string really says), and invisible zero-width spaces. Line
breaks are made one kind (\\n).
"""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_INVISIBLE = re.compile(r"[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b\ufeff]")
_CODE = re.compile(r"[A-Za-z0-9_]{1,60}")


def clean_text(text: str) -> str:
    """`text` without control, direction-override or zero-width characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _ANSI.sub("", text)
    text = _CONTROL.sub("", text)
    return _INVISIBLE.sub("", text)


def is_code(value: str) -> bool:
    """Whether `value` can be an entry's code (an FAQ entry's, a reply template's): letters
    without diacritics, digits and underscores, 60 at most. `str.isalnum` would also let
    "códấu" through, which the panel's message forbids and a URL would have to escape."""
    return _CODE.fullmatch(value) is not None
