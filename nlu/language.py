"""Which language a message is written in: Vietnamese or English (foreign-invested firms).

A first, transparent rule rather than a model:

1. Any letter only Vietnamese uses (ă â đ ê ô ơ ư, or a vowel with a tone mark) → Vietnamese.
2. Otherwise the words are compared with two short lists of the commonest words: English
   function words, and Vietnamese syllables as people type them without diacritics
   ("khong", "duoc", "phuong"). The larger share wins; a tie, or a message with neither (a
   code, a number, an address) is Vietnamese, the platform's first language.

A third of Vietnamese messages come without diacritics, so rule 2 decides them; English never
carries Vietnamese letters, so rule 1 never mistakes it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from nlu.normalize import fold

Language = Literal["vi", "en"]

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


def detect_language(text: str) -> Language:
    """ "vi" or "en" for one message (see the module's rule)."""
    decomposed = unicodedata.normalize("NFD", text)
    if any(ch in _VIETNAMESE_LETTERS for ch in text) or any(ch in _TONES for ch in decomposed):
        return "vi"
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return "vi"
    english = sum(1 for w in words if w in ENGLISH_WORDS)
    vietnamese = sum(1 for w in words if fold(w) in VIETNAMESE_SYLLABLES)
    return "en" if english > vietnamese else "vi"
