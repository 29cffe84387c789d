"""Folding a chat token to one form: lower case, no diacritics, abbreviations spelled out.

A copy, for Rasa's environment, of nlu/normalize.py's `fold` and of the chat abbreviations it
agrees with; tests/bot/test_rasa_copies.py pins it there. Kept free of Rasa imports so that
the platform's tests can read it.
"""

from __future__ import annotations

import unicodedata

# Folded abbreviation -> folded word. Kept small: only what is unambiguous in a chat ("v" may be
# "vậy" or "và", so it is left alone, as nlu/normalize.py leaves it).
ABBREVIATIONS = {
    "ko": "khong",
    "k": "khong",
    "kh": "khong",
    "hok": "khong",
    "hong": "khong",
    "khg": "khong",
    "dc": "duoc",
    "dk": "duoc",
    "j": "gi",
    "z": "vay",
    "ok": "ok",
    "oke": "ok",
    "oki": "ok",
    "okie": "ok",
    "mn": "moi nguoi",
    "ad": "admin",
    "sdt": "so dien thoai",
    "cty": "cong ty",
    "dn": "doanh nghiep",
    "tks": "thanks",
    "thx": "thanks",
    "pa": "phan anh",
    # Chat teen-code, as nlu/normalize.py spells it out.
    "hk": "khong",
    "khum": "khong",
    "rui": "roi",
    "roai": "roi",
    "r": "roi",
    "oy": "roi",
    "bik": "biet",
    "mik": "minh",
    "cx": "cung",
    "cg": "cung",
    "trc": "truoc",
    "nhiu": "nhieu",
    "wa": "qua",
    "hnay": "hom nay",
    "hqua": "hom qua",
    "lun": "luon",
    "iem": "em",
    "ngta": "nguoi ta",
    "chx": "chua",
    "dag": "dang",
    "zay": "vay",
    "dzay": "vay",
    "ms": "moi",
    "vs": "voi",
    "ntn": "nhu the nao",
    "okela": "ok",
    "camon": "cam on",
}


def fold(text: str) -> str:
    """The diacritic-free view: "Phường Thủ Dầu Một" → "phuong thu dau mot"."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
