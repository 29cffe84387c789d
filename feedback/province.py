"""Province configuration: agencies, wards, categories and routing rules, read from YAML.

This module is pure: it reads files and returns validated Pydantic models. The database seeding
turns a `ProvinceConfig` into rows; nothing here touches the database.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

# `to: ward` in a routing rule means "the People's Committee serving the ticket's ward", so no
# agency may use this code.
WARD_TARGET = "ward"

_PACKAGE_DIR = Path(__file__).resolve().parent
_REPO_DIR = _PACKAGE_DIR.parent


class _Strict(BaseModel):
    # A typo in the YAML (`sla_days`, `prority`) must fail loudly instead of being ignored.
    model_config = ConfigDict(extra="forbid")


class ProvinceInfo(_Strict):
    code: str
    name: str
    timezone: str


class AgencyConfig(_Strict):
    code: str
    name: str
    level: Literal["department", "ward"]
    wards: list[str] = []


class WardConfig(_Strict):
    code: str
    name: str
    lat: float | None = None
    lon: float | None = None


class CategoryConfig(_Strict):
    code: str
    name: str
    sla_working_days: int = Field(ge=1)
    default_agency: str


class RoutingConfig(_Strict):
    category: str
    to: str
    priority: int = 0
    wards: list[str] = []


class ProvinceConfig(_Strict):
    province: ProvinceInfo
    agencies: list[AgencyConfig]
    wards: list[WardConfig]
    categories: list[CategoryConfig]
    routing: list[RoutingConfig]


class Taxonomy(_Strict):
    categories: dict[str, str]
    """Category code -> name."""
    intents: dict[str, str]
    """Intent code -> description."""


def default_province_file() -> Path:
    """Return the bundled configuration of Thành phố Hồ Chí Minh."""
    return _PACKAGE_DIR / "provinces" / "79-ho-chi-minh.yaml"


def default_taxonomy_file() -> Path:
    """Return the repository's copy of the shared taxonomy."""
    return _REPO_DIR / "nlu" / "taxonomy.yaml"


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """Read the taxonomy (category and intent codes) from `path`, or from nlu/taxonomy.yaml."""
    path = path or default_taxonomy_file()
    raw = _read_yaml_mapping(path)
    categories = raw.get("categories")
    intents = raw.get("intents")
    if not isinstance(categories, dict) or not categories:
        raise ValueError(f"{path}: 'categories' must be a non-empty mapping of code -> {{name}}")
    if not isinstance(intents, dict) or not intents:
        raise ValueError(f"{path}: 'intents' must be a non-empty mapping of code -> description")
    names: dict[str, str] = {}
    for code, entry in categories.items():
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name:
            raise ValueError(f"{path}: category {code!r} has no name")
        names[str(code)] = name
    for code, description in intents.items():
        if not isinstance(description, str):
            raise ValueError(f"{path}: intent {code!r} must have a text description")
    return Taxonomy(categories=names, intents={str(k): v for k, v in intents.items()})


def load_province(path: Path, *, taxonomy: Taxonomy | None = None) -> ProvinceConfig:
    """Read and validate a province file against `taxonomy` (default: nlu/taxonomy.yaml)."""
    raw = _read_yaml_mapping(path)
    try:
        config = ProvinceConfig.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"{path}: invalid province configuration\n{exc}") from exc
    _check_references(config, taxonomy or load_taxonomy(), path)
    return config


def _read_yaml_mapping(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read file: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: the top level must be a mapping")
    return raw


def ward_committees(config: ProvinceConfig) -> dict[str, str]:
    """Ward code → the code of the People's Committee that serves it."""
    return {
        ward: agency.code
        for agency in config.agencies
        if agency.level == "ward"
        for ward in agency.wards
    }


def _check_references(config: ProvinceConfig, taxonomy: Taxonomy, path: Path) -> None:
    """Every code the file names exists, once; a ValueError naming the file otherwise."""
    try:
        _check_unique_codes(config)
        _check_agencies(config)
        _check_categories(config, taxonomy)
        _check_routing(config)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _check_unique_codes(config: ProvinceConfig) -> None:
    for kind, codes in (
        ("agency", [a.code for a in config.agencies]),
        ("ward", [w.code for w in config.wards]),
        ("category", [c.code for c in config.categories]),
    ):
        for code, count in Counter(codes).items():
            if count > 1:
                raise ValueError(f"{kind} code {code!r} is duplicated ({count} entries)")


def _check_agencies(config: ProvinceConfig) -> None:
    """Agencies serve known wards, and a ward has at most one People's Committee."""
    if WARD_TARGET in {a.code for a in config.agencies}:
        raise ValueError(f"agency code {WARD_TARGET!r} is reserved for routing rules (`to: ward`)")
    ward_codes = {w.code for w in config.wards}
    committee_of: dict[str, str] = {}
    for agency in config.agencies:
        for ward in agency.wards:
            if ward not in ward_codes:
                raise ValueError(f"agency {agency.code!r} serves unknown ward code {ward!r}")
            if agency.level == "ward":
                if ward in committee_of:
                    raise ValueError(
                        f"ward {ward!r} is served by two ward-level agencies: "
                        f"{committee_of[ward]!r} and {agency.code!r}"
                    )
                committee_of[ward] = agency.code


def _check_categories(config: ProvinceConfig, taxonomy: Taxonomy) -> None:
    """The categories are exactly the taxonomy's, each with a known default agency."""
    agency_codes = {a.code for a in config.agencies}
    category_codes = {c.code for c in config.categories}
    for category in config.categories:
        if category.code not in taxonomy.categories:
            raise ValueError(f"category {category.code!r} is not in the taxonomy")
        if category.default_agency not in agency_codes:
            raise ValueError(
                f"category {category.code!r} has unknown default_agency {category.default_agency!r}"
            )
    for code in taxonomy.categories:
        if code not in category_codes:
            raise ValueError(f"taxonomy category {code!r} is missing from categories")


def _check_routing(config: ProvinceConfig) -> None:
    """Every rule names known codes, `to: ward` always finds a committee, every category is
    routed."""
    agency_codes = {a.code for a in config.agencies}
    ward_codes = {w.code for w in config.wards}
    category_codes = {c.code for c in config.categories}
    committee_of = ward_committees(config)
    routed: set[str] = set()
    for index, rule in enumerate(config.routing):
        where = f"routing rule #{index + 1} (category {rule.category!r})"
        if rule.category not in category_codes:
            raise ValueError(f"{where} names unknown category {rule.category!r}")
        if rule.to != WARD_TARGET and rule.to not in agency_codes:
            raise ValueError(f"{where} routes to unknown agency {rule.to!r}")
        for ward in rule.wards:
            if ward not in ward_codes:
                raise ValueError(f"{where} names unknown ward code {ward!r}")
        if rule.to == WARD_TARGET:
            # Routing to "the ward's committee" must never find none at run time.
            for ward in rule.wards or [w.code for w in config.wards]:
                if ward not in committee_of:
                    raise ValueError(
                        f"{where} routes to the ward, but ward {ward!r} has no ward-level agency"
                    )
        routed.add(rule.category)
    for category in config.categories:
        if category.code not in routed:
            raise ValueError(f"category {category.code!r} has no routing rule")
