"""Generate feedback/provinces/79-ho-chi-minh.yaml, the province configuration of Hồ Chí Minh City.

The city as it is since 1 July 2025 (Resolution 202/2025/QH15): old TP. Hồ Chí Minh plus the former
Bình Dương and Bà Rịa–Vũng Tàu provinces, 168 commune-level units, no districts.

Inputs:
- `<shared>/data/vn-admin-units-2025/vn_units_34_provinces_3321_wards.json`: the ward list
  (province Code "79"); codes and names come from here.
- `<shared>/data/vn-admin-mapping-2025/2025_34-province-3221-ward_with_location.csv`: lat/lon of
  each new ward, joined on the ward code zero-padded to 5 digits (never on the name: the two
  sources write "Hoà"/"Hòa" differently).
- `nlu/taxonomy.yaml` in this repository: the category codes and names.

The departments, SLAs and routing rules are the tables below. Change them here and re-run, because
a hand edit of the generated file is lost at the next run. The output is checked with
`feedback.province.load_province` before it is written.

Usage, from the repository root:

    python3 scripts/build_province.py                  # write the YAML
    python3 scripts/build_province.py --check          # exit 1 if the committed file is stale
    python3 scripts/build_province.py --shared /path/to/shared --output /tmp/79.yaml

`--shared` defaults to `../shared` relative to the repository.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_DIR = Path(__file__).resolve().parents[1]
if str(REPO_DIR) not in sys.path:
    sys.path.insert(0, str(REPO_DIR))

from feedback.province import (  # noqa: E402  (the repository root must be importable first)
    default_province_file,
    default_taxonomy_file,
    load_province,
    load_taxonomy,
)

PROVINCE_CODE = "79"
PROVINCE_NAME = "Thành phố Hồ Chí Minh"
TIMEZONE = "Asia/Ho_Chi_Minh"

UNITS_FILE = Path("data/vn-admin-units-2025/vn_units_34_provinces_3321_wards.json")
LOCATIONS_FILE = Path("data/vn-admin-mapping-2025/2025_34-province-3221-ward_with_location.csv")

# City-level agencies after the 2025 restructuring of departments (sở). Only those that receive
# citizens' reports are listed; the police and the city People's Committee office are included.
DEPARTMENTS: list[tuple[str, str]] = [
    ("CA_TP", "Công an Thành phố Hồ Chí Minh"),
    ("SXD", "Sở Xây dựng"),
    ("SNNMT", "Sở Nông nghiệp và Môi trường"),
    ("SYT", "Sở Y tế"),
    ("SGDDT", "Sở Giáo dục và Đào tạo"),
    ("SCT", "Sở Công Thương"),
    ("STC", "Sở Tài chính"),
    ("SNV", "Sở Nội vụ"),
    ("SVHTT", "Sở Văn hóa và Thể thao"),
    ("SDL", "Sở Du lịch"),
    ("VP_UBND", "Văn phòng Ủy ban nhân dân Thành phố"),
]

WARD_AGENCY_PREFIX = "UBND_"
WARD_AGENCY_NAME_PREFIX = "Ủy ban nhân dân "


@dataclass(frozen=True)
class Policy:
    sla_working_days: int
    default_agency: str
    """Takes a ticket with no ward, so a ward-level category still needs a city-level one."""
    to: str
    """The routing target: an agency code, or "ward" for the ward's People's Committee."""
    why: str
    """Written above the routing rule in the YAML."""

    @property
    def priority(self) -> int:
        return WARD_PRIORITY if self.to == "ward" else CITY_PRIORITY


WARD_PRIORITY = 100
CITY_PRIORITY = 10

# One routing rule per category; each rule applies in every ward.
POLICIES: dict[str, Policy] = {
    "ha_tang_do_thi": Policy(
        7, "SXD", "SXD", "roads, street lights, drainage and bridges are run by Sở Xây dựng"
    ),
    "giao_thong": Policy(5, "SXD", "SXD", "Sở Giao thông vận tải merged into Sở Xây dựng in 2025"),
    "moi_truong": Policy(
        7,
        "SNNMT",
        "ward",
        "garbage in an alley and illegal dumping are handled by the ward; "
        "a ticket with no ward goes to the default agency, SNNMT",
    ),
    "trat_tu_xay_dung": Policy(
        10,
        "SXD",
        "ward",
        "building without a permit and sidewalk encroachment are enforced by the ward",
    ),
    "dat_dai": Policy(
        15,
        "SNNMT",
        "ward",
        "land certificates and disputes are handled first at commune level "
        "in the two-level government",
    ),
    "an_ninh_trat_tu": Policy(
        3,
        "CA_TP",
        "CA_TP",
        "public order belongs to the police; commune police report directly to the city "
        "police since district police were abolished in March 2025",
    ),
    "y_te": Policy(5, "SYT", "SYT", "hospitals, epidemics and food safety are Sở Y tế's"),
    "giao_duc": Policy(10, "SGDDT", "SGDDT", "schools, enrolment and fees are Sở GD&ĐT's"),
    "dien_nuoc": Policy(
        3,
        "SCT",
        "SCT",
        "Sở Công Thương oversees power supply, which most of these reports are about; "
        "staff transfer a water-supply report if another department should take it",
    ),
    "thu_tuc_hanh_chinh": Policy(
        10,
        "VP_UBND",
        "ward",
        "civil status and residence are registered at the ward's public-service centre",
    ),
    "doanh_nghiep_dau_tu": Policy(
        10, "STC", "STC", "Sở Kế hoạch và Đầu tư merged into Sở Tài chính in 2025"
    ),
    "lao_dong_an_sinh": Policy(
        10, "SNV", "SNV", "Sở Lao động - Thương binh và Xã hội merged into Sở Nội vụ in 2025"
    ),
    "van_hoa_du_lich": Policy(
        10,
        "SVHTT",
        "SVHTT",
        "events, venues, parks and sports grounds are Sở Văn hóa và Thể thao's; "
        "staff transfer a complaint about a tourist site to SDL",
    ),
    "khac": Policy(10, "VP_UBND", "VP_UBND", "the city office forwards what fits no category"),
}


@dataclass(frozen=True)
class Ward:
    code: str
    name: str
    lat: float | None
    lon: float | None


def read_wards(shared: Path) -> list[Ward]:
    """Return the city's wards, with the location joined on the ward code."""
    units = json.loads((shared / UNITS_FILE).read_text(encoding="utf-8"))
    province = next((p for p in units if p["Code"] == PROVINCE_CODE), None)
    if province is None:
        raise SystemExit(f"{shared / UNITS_FILE}: no province with Code {PROVINCE_CODE!r}")

    locations: dict[str, tuple[float, float, str]] = {}
    with (shared / LOCATIONS_FILE).open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            # Codes are written without leading zeros there ("97" for "00097").
            code = str(int(float(row["wardCode"]))).zfill(5)
            locations[code] = (float(row["wardLat"]), float(row["wardLon"]), row["ward"])

    wards = []
    for unit in sorted(province["Wards"], key=lambda u: u["Code"]):
        code, name = unit["Code"], unit["FullName"]
        lat = lon = None
        if code in locations:
            lat, lon, other_name = locations[code]
            if _fold_tone_marks(other_name) != _fold_tone_marks(name):
                print(
                    f"warning: ward {code}: {name!r} here, {other_name!r} in the CSV",
                    file=sys.stderr,
                )
        else:
            print(f"warning: ward {code} {name!r} has no location", file=sys.stderr)
        wards.append(Ward(code=code, name=name, lat=lat, lon=lon))
    return wards


# The two sources place the tone mark differently on oa/oe/uy ("Hoà" here, "Hòa" in the CSV).
# fmt: off
_OLD_STYLE_TONES = {
    "oà": "òa", "oá": "óa", "oả": "ỏa", "oã": "õa", "oạ": "ọa",
    "oè": "òe", "oé": "óe", "oẻ": "ỏe", "oẽ": "õe", "oẹ": "ọe",
    "uỳ": "ùy", "uý": "úy", "uỷ": "ủy", "uỹ": "ũy", "uỵ": "ụy",
}
# fmt: on


def _fold_tone_marks(name: str) -> str:
    for new_style, old_style in _OLD_STYLE_TONES.items():
        name = name.replace(new_style, old_style)
    return name.casefold()


def build_data(wards: list[Ward], category_names: dict[str, str]) -> dict[str, Any]:
    """Return the configuration as plain data, in the schema of feedback.province."""
    if set(POLICIES) != set(category_names):
        raise SystemExit(
            "POLICIES does not match the taxonomy: "
            f"missing {sorted(set(category_names) - set(POLICIES))}, "
            f"unknown {sorted(set(POLICIES) - set(category_names))}"
        )
    agencies: list[dict[str, Any]] = [
        {"code": code, "name": name, "level": "department"} for code, name in DEPARTMENTS
    ]
    agencies += [
        {
            "code": WARD_AGENCY_PREFIX + ward.code,
            "name": WARD_AGENCY_NAME_PREFIX + ward.name,
            "level": "ward",
            "wards": [ward.code],
        }
        for ward in wards
    ]
    return {
        "province": {"code": PROVINCE_CODE, "name": PROVINCE_NAME, "timezone": TIMEZONE},
        "agencies": agencies,
        "wards": [{"code": w.code, "name": w.name, "lat": w.lat, "lon": w.lon} for w in wards],
        "categories": [
            {
                "code": code,
                "name": category_names[code],
                "sla_working_days": POLICIES[code].sla_working_days,
                "default_agency": POLICIES[code].default_agency,
            }
            for code in category_names
        ],
        # Ward-level rules first, then taxonomy order (the sort is stable).
        "routing": sorted(
            (
                {"category": code, "to": POLICIES[code].to, "priority": POLICIES[code].priority}
                for code in category_names
            ),
            key=lambda rule: -rule["priority"],
        ),
    }


HEADER = """\
# Province configuration of Thành phố Hồ Chí Minh (code 79), as it is since 1 July 2025: old
# TP. Hồ Chí Minh plus the former Bình Dương and Bà Rịa–Vũng Tàu provinces, 168 wards, communes
# and one special zone (Côn Đảo), with no district level.
#
# GENERATED by scripts/build_province.py. Do not edit by hand: change the tables in that script
# and re-run `python3 scripts/build_province.py`. feedback/province.py loads and validates it.
#
# Ward codes and names: github.com/thanglequoc/vietnamese-provinces-database (data from the
# General Statistics Office), MIT licence, Copyright (c) 2021 Thang Le Quoc.
# Ward lat/lon: github.com/tranngocminhhieu/vietnamadminunits (from danhmuchanhchinh.gso.gov.vn
# and sapnhap.bando.com.vn), MIT licence, Copyright (c) 2025 Tran Ngoc Minh Hieu.
# Commits and licence texts: SOURCE.md and LICENSE.*.MIT.txt in this folder.
"""


def render(data: dict[str, Any]) -> str:
    """Return the YAML text, with the comments that explain the policy."""
    out = [HEADER, "province:"]
    for key, value in data["province"].items():
        out.append(f"  {key}: {_scalar(value)}")

    out += ["", "# City departments after the 2025 restructuring, then one People's Committee per"]
    out += ["# ward, commune or special zone, each serving exactly its own unit.", "agencies:"]
    for agency in data["agencies"]:
        out.append(f"  - code: {_scalar(agency['code'])}")
        out.append(f"    name: {_scalar(agency['name'])}")
        out.append(f"    level: {_scalar(agency['level'])}")
        if "wards" in agency:
            out.append(f"    wards: {_flow_list(agency['wards'])}")

    out += ["", "# NSO codes; lat/lon is the ward's centre.", "wards:"]
    for ward in data["wards"]:
        fields = ", ".join(
            f"{key}: {_scalar(ward[key], flow=True)}" for key in ("code", "name", "lat", "lon")
        )
        out.append(f"  - {{{fields}}}")

    out += [
        "",
        "# sla_working_days follows the practice of the 1022 hotline (urgent public-order and",
        "# utility reports within days, land matters within weeks). Operators may tune them.",
        "# default_agency takes a ticket that has no ward and no matching routing rule.",
        "categories:",
    ]
    for category in data["categories"]:
        out.append(f"  - code: {_scalar(category['code'])}")
        out.append(f"    name: {_scalar(category['name'])}")
        out.append(f"    sla_working_days: {category['sla_working_days']}")
        note = "  # when the ticket has no ward" if POLICIES[category["code"]].to == "ward" else ""
        out.append(f"    default_agency: {_scalar(category['default_agency'])}{note}")

    out += [
        "",
        "# The matching rule with the highest priority wins. `to: ward` means the People's",
        "# Committee serving the ticket's ward; any other value is an agency code. An optional",
        "# `wards: [...]` limits a rule to those wards.",
        "routing:",
    ]
    for rule in data["routing"]:
        out += textwrap.wrap(
            POLICIES[rule["category"]].why, 100, initial_indent="  # ", subsequent_indent="  # "
        )
        out.append(f"  - category: {_scalar(rule['category'])}")
        out.append(f"    to: {_scalar(rule['to'])}")
        out.append(f"    priority: {rule['priority']}")
    return "\n".join(out) + "\n"


_PLAIN = re.compile(r"[^\W\d][\w .'/–-]*")
_PLAIN_IN_BLOCK = re.compile(r"[^\W\d][\w .,'/–-]*")


def _scalar(value: str | float | None, *, flow: bool = False) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return repr(value)
    # Plain only when YAML reads it back as the same string (not a number, bool or null), with no
    # comma inside a flow mapping; otherwise double-quoted, JSON strings being valid YAML.
    plain = _PLAIN if flow else _PLAIN_IN_BLOCK
    if plain.fullmatch(value) and not value.endswith(" ") and yaml.safe_load(value) == value:
        return value
    return json.dumps(value, ensure_ascii=False)


def _flow_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in values) + "]"


def generate(shared: Path) -> str:
    """Return the YAML text built from the shared data, after checking that it loads."""
    taxonomy = load_taxonomy()
    data = build_data(read_wards(shared), taxonomy.categories)
    text = render(data)
    if yaml.safe_load(text) != data:
        raise SystemExit("internal error: the rendered YAML does not read back as the data")
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "province.yaml"
        probe.write_text(text, encoding="utf-8")
        load_province(probe, taxonomy=taxonomy)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shared",
        type=Path,
        default=REPO_DIR.parent / "shared",
        help="the shared folder holding data/vn-admin-* (default: ../shared next to the repo)",
    )
    parser.add_argument("--output", type=Path, default=default_province_file())
    parser.add_argument(
        "--check", action="store_true", help="do not write; exit 1 if --output is out of date"
    )
    args = parser.parse_args(argv)

    shared_taxonomy = args.shared / "taxonomy.yaml"
    repo_taxonomy = default_taxonomy_file()
    if shared_taxonomy.exists() and shared_taxonomy.read_bytes() != repo_taxonomy.read_bytes():
        print(f"warning: {repo_taxonomy} differs from {shared_taxonomy}", file=sys.stderr)
    text = generate(args.shared)
    current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
    if args.check:
        if current != text:
            print(f"{args.output} is out of date; run scripts/build_province.py")
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({'unchanged' if current == text else 'updated'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
