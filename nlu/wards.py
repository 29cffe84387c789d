"""Which ward or commune a message names, as today's official code.

People name places the way they knew them: today's wards ("phường Bến Thành"), pre-2025 wards
with their old district ("P. Phú Cường, TP Thủ Dầu Một", "p7 q3", "xa an dien ben cat"), with or
without diacritics. The rules, in order of trust:

1. A unit word ("phường", "xã", "thị trấn", "đặc khu", or "P.", "F", "X." spelled out by
   `normalize`) followed by a name or number.
2. That name read together with an old district named in the same message: the old ward is
   mapped to the new one. A number ("phường 7") means nothing without its district.
3. Otherwise the name as today's ward, or as an old ward whose name is unique in the province.
4. A bare name ("ở Lái Thiêu", "KP2 Thuận Giao") only after "ở" / "tại" / "khu vực" or a
   neighbourhood or hamlet ("khu phố 2", "ấp 3"), or first in the message with its old district
   ("Thuận Giao, Thuận An"); never a former district's name, since many new wards took the name
   of the district they were carved from.
5. Failing all of these, an industrial park ("KCN VSIP 1", "Song Than 3 IP"), placed by
   nlu/industrial_parks.py.

A street, a market or a park named like a ward ("đường Bến Thành", "chợ Gò Vấp") is not a ward,
and a message that names another province is not ours: precision matters more than recall,
because a wrong ward sends the ticket to the wrong People's Committee.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from nlu.industrial_parks import park_wards
from nlu.normalize import fold, normalize

ADMIN_DIR = Path(__file__).resolve().parent / "admin"
DEFAULT_PROVINCE = "79"

_UNIT_WORDS = {  # folded unit word → its accented spelling, checked when the text has accents
    ("phuong",): "phường",
    ("xa",): "xã",
    ("thi", "tran"): "thị trấn",
    ("dac", "khu"): "đặc khu",
}
_DISTRICT_WORDS = [("quan",), ("huyen",), ("thanh", "pho"), ("thi", "xa")]
_LOCATIVES = {"o", "tai", "vuc", "ban"}  # "ở", "tại", "khu vực", "địa bàn"
# Words before a name that make it a street, a place or an institution, not a ward.
_NOT_A_WARD_BEFORE = {
    "duong",
    "pho",
    "hem",
    "ngo",
    "kiet",
    "cho",
    "cau",
    "kenh",
    "rach",
    "song",
    "nga",
    "vong",
    "benh",
    "vien",
    "truong",
    "cong",
    "khu",
    "ben",
    "nghiep",
    "xuat",
    "chung",
    "cu",
    "sieu",
    "thi",
    "tuyen",
    "lo",
    "ql",
    "tinh",
    "tl",
    "dai",
    "ga",
    "san",
    "bay",
    "tram",
}
_MAX_NAME = 4  # syllables
# Names of the city and the former provinces: "ở Sài Gòn" means the city, not Phường Sài Gòn.
_CITY_NAMES = {"sai gon", "ho chi minh", "binh duong", "ba ria vung tau"}
# Places people name that share a name with a ward elsewhere: "ở Phú Mỹ Hưng" is the urban area
# of the old Quận 7, not the old commune of Củ Chi, nor today's Phú Mỹ read from its first words.
_LANDMARKS = {"phu my hung"}


@dataclass(frozen=True)
class Candidate:
    code: str
    name: str


@dataclass(frozen=True)
class WardMatch:
    """The ward found: a single code, or several candidates when an old ward was split."""

    code: str | None
    name: str | None
    province_code: str
    candidates: tuple[Candidate, ...] = field(default=())

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "name": self.name,
            "province_code": self.province_code,
            "candidates": [{"code": c.code, "name": c.name} for c in self.candidates],
        }


@dataclass
class Gazetteer:
    """The province's units, indexed by folded name."""

    province_code: str
    names: dict[str, str]  # code → "Phường Bến Thành"
    current: dict[str, set[str]]  # "ben thanh" → {codes}
    accented: dict[str, set[str]]  # "bến thành" → {codes}
    legacy: dict[tuple[str, str], set[str]]  # (old district, old ward) → new codes
    legacy_by_ward: dict[str, set[tuple[str, str]]]  # old ward → {(district, ward)}
    districts: set[str]  # old district names, folded ("thu dau mot", "3")
    elsewhere: set[str]  # other provinces, folded
    elsewhere_accented: set[str]  # and as written with diacritics


def _short(full_name: str) -> str:
    name = normalize(full_name)
    for prefix in ("phường ", "xã ", "thị trấn ", "đặc khu ", "quận ", "huyện ", "thị xã ",
                   "thành phố ", "tỉnh "):  # fmt: skip
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


# Old districts people still name by their pre-merger parts.
_DISTRICT_ALIASES = {"long dat": ["long dien", "dat do"], "thu duc": ["quan 2", "quan 9"]}


@lru_cache(maxsize=4)
def load_gazetteer(province_code: str = DEFAULT_PROVINCE) -> Gazetteer:
    names: dict[str, str] = {}
    current: dict[str, set[str]] = defaultdict(set)
    accented: dict[str, set[str]] = defaultdict(set)
    with (ADMIN_DIR / f"{province_code}-wards.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            names[row["code"]] = row["name"]
            short = _short(row["name"])
            current[fold(short)].add(row["code"])
            accented[short].add(row["code"])
    legacy: dict[tuple[str, str], set[str]] = defaultdict(set)
    legacy_by_ward: dict[str, set[tuple[str, str]]] = defaultdict(set)
    districts: set[str] = set()
    with (ADMIN_DIR / f"{province_code}-legacy.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            district = fold(_short(row["old_district"]))
            ward = fold(_short(row["old_ward"]))
            for alias in [district, *_DISTRICT_ALIASES.get(district, [])]:
                legacy[(alias, ward)].add(row["new_code"])
                legacy_by_ward[ward].add((alias, ward))
                districts.add(alias)
    ours = set(current) | districts
    other_provinces = [
        normalize(line)
        for line in (ADMIN_DIR / f"{province_code}-elsewhere.txt").read_text("utf-8").split("\n")
        if line.strip()
    ]
    elsewhere_accented = {name for name in other_provinces if fold(name) not in ours}
    elsewhere = {fold(name) for name in elsewhere_accented}
    return Gazetteer(
        province_code=province_code,
        names=names,
        current=dict(current),
        accented=dict(accented),
        legacy=dict(legacy),
        legacy_by_ward=dict(legacy_by_ward),
        districts=districts,
        elsewhere=elsewhere,
        elsewhere_accented=elsewhere_accented,
    )


_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass
class _Text:
    words: list[str]  # normalised, accented where the writer used accents
    folded: list[str]
    breaks: set[int]  # positions after which punctuation stood
    accents: bool  # whether the writer typed diacritics at all

    @classmethod
    def of(cls, raw: str) -> _Text:
        text = normalize(raw)
        words: list[str] = []
        breaks: set[int] = set()
        for token in text.split(" "):
            if _WORD.fullmatch(token):
                words.append(token)
            elif words:
                breaks.add(len(words) - 1)
        folded = [fold(w) for w in words]
        return cls(words=words, folded=folded, breaks=breaks, accents=folded != words)

    def phrase(self, start: int, length: int) -> str:
        return " ".join(self.folded[start : start + length])

    def accented_phrase(self, start: int, length: int) -> str:
        return " ".join(self.words[start : start + length])

    def crosses_break(self, start: int, length: int) -> bool:
        return any(i in self.breaks for i in range(start, start + length - 1))


def extract_ward(text: str, province_code: str = DEFAULT_PROVINCE) -> WardMatch | None:
    """The ward the message names, or None when it names none we can be sure of."""
    if not text or not text.strip():
        return None
    gazetteer = load_gazetteer(province_code)
    parsed = _Text.of(text[:5000])
    if _names_elsewhere(parsed, gazetteer):
        return None
    districts = _districts(parsed, gazetteer)
    for codes in _ward_mentions(parsed, gazetteer, districts):
        return _match(codes, gazetteer)
    if province_code == DEFAULT_PROVINCE:
        park = park_wards(parsed.folded)
        if park:
            return _match(set(park), gazetteer)
    return None


def _match(codes: set[str], gazetteer: Gazetteer) -> WardMatch:
    if len(codes) == 1:
        code = next(iter(codes))
        return WardMatch(
            code=code, name=gazetteer.names[code], province_code=gazetteer.province_code
        )
    candidates = tuple(Candidate(c, gazetteer.names[c]) for c in sorted(codes))
    return WardMatch(
        code=None, name=None, province_code=gazetteer.province_code, candidates=candidates
    )


_PROVINCE_WORDS = {"tinh", "pho", "tp"}  # "tỉnh Long An", "thành phố Hà Nội"


def _names_elsewhere(parsed: _Text, gazetteer: Gazetteer) -> bool:
    """Whether the text places itself in another province ("..., Hà Nội", "tỉnh Long An").

    Only as an address: "chung cư Hoàng Anh Gia Lai" names a building, not the province.
    """
    for length in (1, 2, 3):
        for start in range(len(parsed.folded) - length + 1):
            if parsed.phrase(start, length) not in gazetteer.elsewhere:
                continue
            if parsed.accents and (
                parsed.accented_phrase(start, length) not in gazetteer.elsewhere_accented
            ):
                continue  # "Hồ Văn Huê" is a street, "Huế" the province
            end = start + length
            if (
                start == 0
                or parsed.folded[start - 1] in _PROVINCE_WORDS
                or (start - 1) in parsed.breaks
                or end == len(parsed.folded)
                or (end - 1) in parsed.breaks
            ):
                return True
    return False


def _districts(parsed: _Text, gazetteer: Gazetteer) -> set[str]:
    """Old districts named in the text: "quận 3", "q.bình thạnh", "tp thủ dầu một", "bến cát"."""
    found: set[str] = set()
    folded = parsed.folded
    for start in range(len(folded)):
        for length in range(_MAX_NAME, 0, -1):
            if start + length > len(folded) or parsed.crosses_break(start, length):
                continue
            name = parsed.phrase(start, length)
            if name not in gazetteer.districts:
                continue
            if _unit_word_before(parsed, start):
                break  # "xã Củ Chi" is the commune, not the old district
            after_unit_word = _unit_before(folded, start, _DISTRICT_WORDS)
            if name.isdigit() and not after_unit_word:
                continue  # "3" alone is not Quận 3
            found.add(name)  # a bare name counts too: "xã An Điền, Bến Cát"
            break
    return found


def _unit_before(folded: list[str], start: int, units: list[tuple[str, ...]]) -> bool:
    for unit in units:
        size = len(unit)
        if start >= size and tuple(folded[start - size : start]) == unit:
            return True
    return False


def _ward_mentions(parsed: _Text, gazetteer: Gazetteer, districts: set[str]):
    """Code sets of the ward mentions, in the order they appear."""
    folded = parsed.folded
    for start in range(len(folded)):
        unit = _unit_word_before(parsed, start)
        for length in range(_MAX_NAME, 0, -1):
            if start + length > len(folded) or parsed.crosses_break(start, length):
                continue
            name = parsed.phrase(start, length)
            if not unit and name in _LANDMARKS:
                break
            if unit or _bare_allowed(parsed, start, name, gazetteer, districts):
                # Thị trấn were abolished in 2025: "thị trấn Củ Chi" is the old one.
                old_unit = unit == ("thi", "tran")
                codes = _resolve(name, parsed, start, length, gazetteer, districts, old_unit)
            else:
                codes = None
            if codes:
                yield codes
                break


def _unit_word_before(parsed: _Text, start: int) -> tuple[str, ...] | None:
    for unit, spelling in _UNIT_WORDS.items():
        size = len(unit)
        if start >= size and tuple(parsed.folded[start - size : start]) == unit:
            written = " ".join(parsed.words[start - size : start])
            # "xả rác" folds to "xa rac": with accents typed, only "xã" is the unit word.
            if written == fold(written) or written == spelling:
                return unit
    return None


def _bare_allowed(
    parsed: _Text, start: int, name: str, gazetteer: Gazetteer, districts: set[str]
) -> bool:
    """A name with no unit word: "ở Lái Thiêu", "khu phố 2 Thuận Giao", or an old ward
    followed by its old district ("Thuận Giao, Thuận An")."""
    previous = parsed.folded[start - 1] if start else ""
    if previous in _NOT_A_WARD_BEFORE:
        return False
    if any(d != name for (d, _ward) in gazetteer.legacy_by_ward.get(name, ()) if d in districts):
        return len(name.split()) >= 2  # "Phú Cường, TP Thủ Dầu Một"
    if name in gazetteer.districts or name in _CITY_NAMES:
        return False
    if previous not in _LOCATIVES and not _after_neighbourhood(parsed.folded, start):
        return False
    # An old ward's name counts when it is the province's only one: "ở Tân Thạnh Đông" is the
    # old commune of Củ Chi, not today's "Tân Thành" read from its first two words.
    old_districts = {district for district, _ward in gazetteer.legacy_by_ward.get(name, ())}
    return len(name.split()) >= 2 and (name in gazetteer.current or len(old_districts) == 1)


def _after_neighbourhood(folded: list[str], start: int) -> bool:
    """After "khu phố 2" or "ấp 3": a neighbourhood or hamlet is part of a ward, so the name
    that follows it is the ward's ("KP2 Thuận Giao")."""
    if start < 2 or not folded[start - 1].isdigit():
        return False
    return folded[start - 2] == "ap" or tuple(folded[max(0, start - 3) : start - 1]) == (
        "khu",
        "pho",
    )


def _resolve(
    name: str,
    parsed: _Text,
    start: int,
    length: int,
    gazetteer: Gazetteer,
    districts: set[str],
    old_unit: bool = False,
) -> set[str] | None:
    # An old ward with its old district named in the same message: the mapping decides.
    old = {key for key in gazetteer.legacy_by_ward.get(name, ()) if key[0] in districts}
    if not old and old_unit:
        old = set(gazetteer.legacy_by_ward.get(name, ()))
    if old:
        codes: set[str] = set()
        for key in old:
            codes |= gazetteer.legacy[key]
        # Several old districts named: fine if they agree ("quận 2 (nay TP Thủ Đức)").
        if len({frozenset(gazetteer.legacy[key]) for key in old}) == 1:
            return codes
        return None
    if name.isdigit():
        return None  # "phường 7" without its district
    if name in gazetteer.current:
        codes = gazetteer.current[name]
        if len(codes) > 1:  # "Thanh An" and "Thạnh An": the accents tell them apart
            exact = gazetteer.accented.get(parsed.accented_phrase(start, length))
            if exact and parsed.accents:
                return exact
        return codes
    old_anywhere = gazetteer.legacy_by_ward.get(name, set())
    if len({district for district, _ in old_anywhere}) == 1:
        (key,) = old_anywhere
        return gazetteer.legacy[key]
    return None


@lru_cache(maxsize=4)
def _former_names(province_code: str) -> dict[str, list[str]]:
    names: dict[str, list[str]] = defaultdict(list)
    with (ADMIN_DIR / f"{province_code}-legacy.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            label = f"{row['old_ward']}, {row['old_district']}, {row['old_province']}"
            if label not in names[row["new_code"]]:
                names[row["new_code"]].append(label)
    return dict(names)


def former_names(code: str, province_code: str = DEFAULT_PROVINCE) -> list[str]:
    """The pre-2025 wards (ward, district, province) merged into the ward `code`."""
    return _former_names(province_code).get(code, [])
