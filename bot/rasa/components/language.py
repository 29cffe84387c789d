"""Which language a message is written in: Vietnamese or English (foreign-invested firms).

A copy, for the tokenizer (components/vietnamese.py), of the platform's rule in nlu/language.py
(`detect_language`, its word lists); tests/bot/test_rasa_copies.py pins it there, as it pins
the action server's copy (actions/language.py). Kept free of Rasa imports so that the platform's
tests can read it.
"""

from __future__ import annotations

import re
import unicodedata

VIETNAMESE = "vi"
ENGLISH = "en"

_WORD = re.compile(r"[a-zA-Z\u00c0-\u1ef9]+")
_VIETNAMESE_LETTERS = set("ăâđêôơưĂÂĐÊÔƠƯ")
_TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


ENGLISH_WORDS = _words(
    """
    a an the is are was were be been being am do does did have has had i you he she it we they
    me my your our their this that these those there here what which who whom whose when where
    why how not no yes and or but if of to in on at by for with from about into over after
    before since until than then so very please can could would should will shall may might
    must our us company factory street road near since because there's it's isn't don't
    hello hi thanks thank dear sir madam report problem water electricity power broken light
    lights street park industrial since week days day still no one anyone help need
    """
)

VIETNAMESE_SYLLABLES = _words(
    """
    khong duoc nguoi duong phuong xa quan huyen thanh pho cua toi chung minh ban anh chi em
    la va co cho nay nhung cac mot hai ba bon nam sau bay tam chin muoi tren duoi trong
    ngoai gan truoc sau da dang se roi nua lam gi sao nao bao nhieu ai dau khi nhe oi
    nha hem so rac nuoc dien den hong bi xe cay lan chiem vi pham phan anh kien nghi xin
    chao cam on giup voi tai vien ngay tuan thang gio sang chieu toi dem ong ba con rat qua
    lai di den ve ra vao len xuong duoc cu ngap ket tac o nhiem cong ty doanh nghiep thue
    """
)


def _fold(text: str) -> str:
    """nlu/normalize.py's fold: lower case, no diacritics, đ → d."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _has_vietnamese_letters(text: str) -> bool:
    decomposed = unicodedata.normalize("NFD", text)
    return any(ch in _VIETNAMESE_LETTERS for ch in text) or any(ch in _TONES for ch in decomposed)


def _counts(text: str) -> tuple[int, int]:
    """How many words of the message are common English words, and how many common
    Vietnamese syllables typed without diacritics."""
    words = [w.lower() for w in _WORD.findall(text)]
    english = sum(1 for w in words if w in ENGLISH_WORDS)
    vietnamese = sum(1 for w in words if _fold(w) in VIETNAMESE_SYLLABLES)
    return english, vietnamese


def detect_language(text: str) -> str:
    """ "vi" or "en" for one message, as nlu/language.py decides: a Vietnamese letter, or the
    larger share of common words; a tie (a code, a number) is Vietnamese."""
    if _has_vietnamese_letters(text):
        return VIETNAMESE
    english, vietnamese = _counts(text)
    return ENGLISH if english > vietnamese else VIETNAMESE
