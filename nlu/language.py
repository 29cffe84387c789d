"""Which language a message is written in: Vietnamese or English (foreign-invested firms).

A transparent rule rather than a model. Each word votes:

- for Vietnamese, a word with a letter only Vietnamese uses (ă â đ ê ô ơ ư, or a vowel with a
  tone mark), one of the commonest Vietnamese syllables as people type them without
  diacritics ("khong", "duoc", "phuong"), or any word shaped like a Vietnamese syllable
  (onset, vowels, final consonant: "truong", "lanh") that is not a common English word, at
  half a vote, since place names typed without diacritics ("Binh Duong", "Thu Dau Mot") are
  shaped so in English messages too;
- a capitalised word (not all capitals) without Vietnamese letters is a name ("Binh Duong",
  "Yersin") and does not vote, unless it is a common English word;
- for English, one of the commonest English words (function words, and a firm's usual ones);
- other words ("factory", telex leftovers such as "thaats") do not vote.

More English votes than Vietnamese ones → English; otherwise, a tie or a message with neither
(a code, a number) included, Vietnamese, the platform's first language. Words vote rather than
a single Vietnamese letter deciding, because English from the industrial parks carries
Vietnamese place names ("the sidewalk in Thuận An is broken"), and Vietnamese carries English
words ("cái street light bị broken").
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

Language = Literal["vi", "en"]

# Words of letters only: the letters inside a code or a number ("PA7K3M9QXT") are no word.
_WORD = re.compile(r"(?<!\w)[a-zA-Z\u00c0-\u1ef9]+(?!\w)")
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
    lights street park industrial since week days day still no one anyone help need call
    stolen theft robbery thief bike car road hospital school workers worker staff office
    ward district city house home every night morning today yesterday again many much all
    some too also just only here near next front behind ask asked said says pay paid want
    get got go went come please pls thx sorry hey bye good job keep stole wallet bus tree
    fallen removed open closed late fee fees trash smell noise dust flooded flood jam traffic
    speeding trucks truck wrong way sidewalk vendors illegal building floors permit land
    certificate overtime unpaid salary wages allowance benefit canal fish factory beach
    parking tourist museum market card why never wait waiting minutes hours months years
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


# A Vietnamese syllable without diacritics: onset, vowels, final consonant. English words
# ("road", "broken", "street") fail it; so do other scripts.
SYLLABLE = re.compile(
    r"(ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdghklmnpqrstvx])?"
    r"[aeiouy]{1,3}"
    r"(ng|nh|ch|[cmnpt])?"
)


def _vote(written: str) -> float:
    """Positive for Vietnamese, negative for English, 0 for neither."""
    word = written.lower()
    if any(ch in _VIETNAMESE_LETTERS for ch in word):
        return 1.0
    if any(ch in _TONES for ch in unicodedata.normalize("NFD", word)):
        return 1.0
    if written[0].isupper() and not written.isupper() and word not in ENGLISH_WORDS:
        return 0.0  # a name ("Binh Duong", "Yersin") says nothing of the language around it
    if word in VIETNAMESE_SYLLABLES:
        return 1.0
    if word in ENGLISH_WORDS:
        return -1.0
    return 0.5 if SYLLABLE.fullmatch(word) else 0.0


def language_score(text: str) -> float:
    """The words' votes added up: above 0 Vietnamese, below 0 English, 0 shows neither."""
    return sum(_vote(w) for w in _WORD.findall(text))


def detect_language(text: str) -> Language:
    """ "vi" or "en" for one message (see the module's rule)."""
    return "en" if language_score(text) < 0 else "vi"
