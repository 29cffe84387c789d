"""Reading one holiday file, `feedback/holidays/YYYY.yaml` (the format is in its README).

The structure is a pydantic model; the messages name the file and the entry ("2026.yaml:
holidays[1]: 2026-02-30 ..."), because the person fixing the file reads them, not a developer.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

YEAR_FILE = re.compile(r"^(\d{4})\.yaml$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SATURDAY = 5
_Date = date  # the type, where a field named `date` hides it


class _DatesAsStringsLoader(yaml.SafeLoader):
    """A SafeLoader that leaves dates as strings."""


# PyYAML parses dates itself and fails on 2026-02-30 with a bare "day is out of range for month";
# keeping them as strings lets the validation below name the file and the entry.
_DatesAsStringsLoader.yaml_implicit_resolvers = {
    first_char: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first_char, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _custom(kind: str, message: str) -> PydanticCustomError:
    # The message is already formatted: braces in it are not placeholders.
    return PydanticCustomError(kind, message.replace("{", "{{").replace("}", "}}"))


class _DayEntry(BaseModel):
    """One line of `holidays:` or `working_days:`: `{date: YYYY-MM-DD, name: ...}` or a date."""

    model_config = ConfigDict(extra="forbid")

    date: _Date
    name: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_date(cls, value: object) -> object:
        return value if isinstance(value, dict) else {"date": value}

    @field_validator("date", mode="before")
    @classmethod
    def _iso_date_of_this_year(cls, raw: object, info: ValidationInfo) -> _Date:
        if not isinstance(raw, str) or not _ISO_DATE.match(raw):
            raise _custom("bad_date", f"bad date {raw!r}, expected YYYY-MM-DD")
        try:
            day = _Date.fromisoformat(raw)
        except ValueError as exc:
            raise _custom("bad_date", f"bad date {raw!r}: {exc}") from exc
        year = (info.context or {}).get("year")
        if year is not None and day.year != year:
            raise _custom("other_year", f"{day} is outside {year}, the year of this file")
        return day

    @field_validator("name", mode="before")
    @classmethod
    def _non_empty_name(cls, name: object) -> str | None:
        if name is None:
            return None
        if not isinstance(name, str) or not name.strip():
            raise _custom("bad_name", f"name must be non-empty text, got {name!r}")
        return name.strip()


class _YearFile(BaseModel):
    """A whole YYYY.yaml file."""

    model_config = ConfigDict(extra="forbid")

    year: int
    holidays: list[_DayEntry]
    # `working_days:` left empty reads as null: that is just "none this year".
    working_days: list[_DayEntry] | None = None

    @model_validator(mode="before")
    @classmethod
    def _lists(cls, data: object) -> object:
        if isinstance(data, dict):
            holidays = data.get("holidays")
            if not isinstance(holidays, list) or not holidays:
                raise _custom("no_holidays", "'holidays' must be a non-empty list")
            if not isinstance(data.get("working_days") or [], list):
                raise _custom("bad_working_days", "'working_days' must be a list")
        return data

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> _YearFile:
        file_year = (info.context or {}).get("year")
        if file_year is not None and self.year != file_year:
            raise _custom("year_mismatch", f"'year: {self.year}' does not match the file name")
        named: dict[date, str] = {}
        for index, entry in enumerate(self.holidays):
            where = f"holidays[{index}]"
            if entry.name is None:
                raise _custom("unnamed", f"{where}: a holiday needs a name")
            if entry.date in named:
                raise _custom(
                    "twice",
                    f"{where}: {entry.date} is listed twice (already '{named[entry.date]}')",
                )
            named[entry.date] = entry.name
        seen: set[date] = set()
        for index, entry in enumerate(self.working_days or []):
            where, day = f"working_days[{index}]", entry.date
            if day in seen:
                raise _custom("twice", f"{where}: {day} is listed twice")
            if day in named:
                raise _custom("clash", f"{where}: {day} is also a holiday ('{named[day]}')")
            if day.weekday() < _SATURDAY:
                raise _custom(
                    "weekday",
                    f"{where}: {day} is a weekday; only a Saturday or Sunday can be made a "
                    "working day",
                )
            seen.add(day)
        return self


def load_year_file(path: Path) -> tuple[dict[date, str], set[date]]:
    match = YEAR_FILE.match(path.name)
    if match is None:
        raise ValueError(f"{path}: holiday files must be named YYYY.yaml")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_DatesAsStringsLoader)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with year, holidays and working_days")
    try:
        year_file = _YearFile.model_validate(data, context={"year": int(match.group(1))})
    except ValidationError as exc:
        raise ValueError(f"{path}: {_first_problem(exc)}") from None
    holidays = {entry.date: entry.name or "" for entry in year_file.holidays}
    return holidays, {entry.date for entry in year_file.working_days or []}


def _first_problem(exc: ValidationError) -> str:
    """The first error as the file's author would fix it: `holidays[1]: bad date ...`."""
    errors = exc.errors()
    unknown = [err["loc"] for err in errors if err["type"] == "extra_forbidden"]
    if unknown:
        *parent, _ = unknown[0]
        names = sorted(str(loc[-1]) for loc in unknown if list(loc[:-1]) == parent)
        if not parent:
            return f"unknown keys {names}; expected year, holidays, working_days"
        return f"{_where(tuple(parent))}: unknown keys {names}; expected date and name"
    first = errors[0]
    loc = tuple(part for part in first["loc"] if part not in ("date", "name"))
    return f"{_where(loc)}: {first['msg']}" if loc else first["msg"]


def _where(loc: tuple[int | str, ...]) -> str:
    """('holidays', 1) -> 'holidays[1]'."""
    return "".join(f"[{part}]" if isinstance(part, int) else str(part) for part in loc)
