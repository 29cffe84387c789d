"""Vietnamese text as people type it, brought to one form.

- Unicode NFC, and one tone-mark placement: "hòa" and "hoà", "thủy" and "thuỷ" become the same
  string (the modern placement, as the NSO's unit names write it).
- Lower case, abbreviations and teen-code spelled out ("ko" → "không", "P.7" → "phường 7").
- Telex and VNI left by a keyboard without its input method read as meant ("dduwowngf" →
  "đường", nlu/telex.py).
- `fold()` gives the diacritic-free view used for matching, since about a third of real
  messages are typed without diacritics.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from nlu.telex import decode_word, typed_raw

# The five tone marks, as combining characters after NFD.
_TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
# Vowels that carry a quality mark (â ă ê ô ơ ư) take the tone in every spelling convention.
_MARKED_VOWELS = set("âăêôơư")
_VOWELS = set("aăâeêioôơuưy")

# Teen-code and abbreviations, by whole token (after lower-casing). Kept to forms that are
# unambiguous in a complaint.
ABBREVIATIONS = {
    "p": "phường",  # "p Tân Định", "f bến thành"
    "f": "phường",
    "q": "quận",
    "ko": "không",
    "k": "không",
    "kh": "không",
    "hok": "không",
    "hông": "không",
    "khg": "không",
    "kg": "không",
    "dc": "được",
    "đc": "được",
    # Not "dk"/"đk": "ko dk" is "không được", but "đk tạm trú" is "đăng ký tạm trú".
    "j": "gì",
    "z": "vậy",
    "vs": "với",
    "ntn": "như thế nào",
    "bt": "bình thường",
    "mn": "mọi người",
    "mng": "mọi người",
    "ng": "người",
    "sđt": "số điện thoại",
    "sdt": "số điện thoại",
    "đt": "điện thoại",
    "tp": "thành phố",
    "tphcm": "thành phố hồ chí minh",
    "hcm": "hồ chí minh",
    "sg": "sài gòn",
    "tx": "thị xã",
    "tt": "thị trấn",
    "kp": "khu phố",
    "cty": "công ty",
    "kcn": "khu công nghiệp",
    "kcx": "khu chế xuất",
    "ubnd": "ủy ban nhân dân",
    "bhxh": "bảo hiểm xã hội",
    "bhyt": "bảo hiểm y tế",
    "csgt": "cảnh sát giao thông",
    "cccd": "căn cước công dân",
    "gcn": "giấy chứng nhận",
    "qsdđ": "quyền sử dụng đất",
    "qsdd": "quyền sử dụng đất",
    "ms": "mới",
    "r": "rồi",
    "ik": "đi",
    "oy": "rồi",
    "bn": "bao nhiêu",
    "bnh": "bao nhiêu",
    "lm": "làm",
    "wa": "quá",
    "qá": "quá",
    "thik": "thích",
    "iu": "yêu",
    "cj": "chị",
    # Chat teen-code. Not "bit" (bịt), "mun" (mụn), "thui" (thúi), "hem" (hẻm), "hong" (hỏng),
    # "mk" (mật khẩu): typed without diacritics they are other words a complaint uses.
    "hk": "không",
    "khum": "không",
    "rùi": "rồi",
    "ròi": "rồi",
    "roài": "rồi",
    "bít": "biết",
    "bik": "biết",
    "mik": "mình",
    "cx": "cũng",
    "cg": "cũng",
    "trc": "trước",
    "nhìu": "nhiều",
    "nhiu": "nhiều",
    "wá": "quá",
    "hnay": "hôm nay",
    "hqua": "hôm qua",
    "lun": "luôn",
    "mún": "muốn",
    "iem": "em",
    "ngta": "người ta",
    "chx": "chưa",
    "đag": "đang",
    "dag": "đang",
    "zậy": "vậy",
    "dzậy": "vậy",
    "zay": "vậy",
}

# Tokens that stand for two words and are left as they are: "v" is "vậy" or "và". The Rasa
# tokenizer's copy of these tables leaves them alone too (tests/bot/test_rasa_copies.py).
AMBIGUOUS = frozenset({"v"})

# "P.7", "p7", "F7", "Q.3", "q3", "X. An Điền", "KP2": a unit word glued to its name or number.
_UNIT_PREFIX = re.compile(
    r"(?<![\w])(p|f|q|x|h|tx|tp|tt|kp)\s*\.\s*(?=\w)|(?<![\w])(p|f|q|kp)(?=\d)", re.IGNORECASE
)
_UNIT_WORDS = {
    "p": "phường",
    "f": "phường",
    "q": "quận",
    "x": "xã",
    "h": "huyện",
    "tx": "thị xã",
    "tp": "thành phố",
    "tt": "thị trấn",
    "kp": "khu phố",
}
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\ufeff]")
_SPACES = re.compile(r"\s+")


# One message is read by the category models, the syllable check and the ward extractor, each
# of which normalises it: the cache makes that one pass instead of four.
@lru_cache(maxsize=1024)
def normalize(text: str) -> str:
    """NFC, one tone placement, lower case, abbreviations spelled out, single spaces."""
    text = _CONTROL.sub(" ", text)
    text = unicodedata.normalize("NFC", text).lower()
    text = text.replace("đ", "đ").replace("\u0110", "đ")
    text = _UNIT_PREFIX.sub(_expand_unit, text)
    raw = typed_raw(text)
    words = []
    for token in _TOKEN.findall(text):
        token = place_tone(decode_word(token, message_is_typed_raw=raw))
        words.append(ABBREVIATIONS.get(token, token))
    return _SPACES.sub(" ", " ".join(words)).strip()


def fold(text: str) -> str:
    """The diacritic-free view: "Phường Thủ Dầu Một" → "phuong thu dau mot"."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def strip_diacritics(text: str) -> str:
    """The same text as typed on a keyboard without Vietnamese input, case kept:
    "Đèn đường hỏng" → "Den duong hong"."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if not unicodedata.combining(c))
    )


def has_diacritics(text: str) -> bool:
    return fold(text) != text.lower()


def _expand_unit(match: re.Match[str]) -> str:
    word = (match.group(1) or match.group(2)).lower()
    return _UNIT_WORDS[word] + " "


def place_tone(word: str) -> str:
    """Put a syllable's tone mark where the modern convention puts it ("hòa" → "hoà")."""
    decomposed = unicodedata.normalize("NFD", word)
    tones = [ch for ch in decomposed if ch in _TONES]
    if len(tones) != 1 or not word.isalpha():
        return word
    base = unicodedata.normalize("NFC", "".join(ch for ch in decomposed if ch not in _TONES))
    target = _tone_position(base)
    if target is None:
        return word
    letters = list(base)
    letters[target] = unicodedata.normalize("NFC", letters[target] + tones[0])
    return "".join(letters)


def _tone_position(base: str) -> int | None:
    start = 0
    # "qu" and "gi" are consonants: their u and i never take the tone ("quý", "giá").
    if base.startswith("qu") or (base.startswith("gi") and len(base) > 2 and base[2] in _VOWELS):
        start = 2
    positions = [i for i in range(start, len(base)) if base[i] in _VOWELS]
    if not positions:
        # "gì": the i of "gi" is the only vowel.
        positions = [i for i in range(len(base)) if base[i] in _VOWELS]
        if not positions:
            return None
    for i in positions:
        if base[i] in _MARKED_VOWELS:
            # "ươ" takes it on the ơ.
            if base[i] == "ư" and i + 1 < len(base) and base[i + 1] == "ơ":
                return i + 1
            return i
    if len(positions) == 1:
        return positions[0]
    cluster = base[positions[0] : positions[-1] + 1]
    has_final = positions[-1] < len(base) - 1
    if has_final or cluster in {"oa", "oe", "uy"}:
        return positions[-1]  # "hoàng", "hoà", "khoẻ", "thuỷ"
    return positions[-2]  # "mùa", "tài", "hỏi", "kìa"
