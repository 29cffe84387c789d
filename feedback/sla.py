"""SLA deadlines counted in Vietnamese working days.

Working days are Monday to Friday, minus the public holidays and swapped days off listed in one
``YYYY.yaml`` file per year (see ``feedback/holidays/README.md``), plus the Saturdays or Sundays the
government makes agencies work in exchange (``working_days:`` in the same file).

Semantics:

- Every datetime passed in must be timezone-aware; a naive one raises ``ValueError``. Every datetime
  returned is in UTC. Days and office hours are judged in the calendar's local timezone
  (Asia/Ho_Chi_Minh by default).
- Office hours run from ``office_open`` up to, not including, ``office_close``: something filed at
  exactly closing time counts as filed after hours.
- ``clock_start(moment)``: during office hours on a working day, the moment itself; before opening
  on a working day, opening time that day; after closing or on a non-working day, opening time of
  the next working day.
- ``due_at(filed_at, n)``: closing time on the n-th working day after the day the clock started
  (n >= 1). Filed Monday 10:00 with n=1: due Tuesday 17:00 local. Filed Friday 19:00 with n=1: the
  clock starts Monday 07:30, due Tuesday 17:00.
- ``add_working_days(moment, n)``: ``clock_start(moment)`` moved n working days later at the same
  local time of day (n >= 0).
- A year with no holiday file counts weekends only, and the ``feedback.sla`` logger warns once per
  year and calendar, so a forgotten file degrades deadlines instead of breaking every request.
"""

import logging
import re
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import yaml

logger = logging.getLogger("feedback.sla")

_YEAR_FILE = re.compile(r"^(\d{4})\.yaml$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FILE_KEYS = frozenset({"year", "holidays", "working_days"})
_ENTRY_KEYS = frozenset({"date", "name"})
_SATURDAY = 5


class _DatesAsStringsLoader(yaml.SafeLoader):
    """A SafeLoader that leaves dates as strings."""


# PyYAML parses dates itself and fails on 2026-02-30 with a bare "day is out of range for month";
# keeping them as strings lets the validation below name the file and the entry.
_DatesAsStringsLoader.yaml_implicit_resolvers = {
    first_char: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first_char, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class WorkingCalendar:
    """Working days and office hours of the city's agencies, for computing SLA deadlines."""

    def __init__(
        self,
        holidays: Mapping[date, str],
        extra_working_days: AbstractSet[date] = frozenset(),
        *,
        timezone: str = "Asia/Ho_Chi_Minh",
        office_open: time = time(7, 30),
        office_close: time = time(17, 0),
    ) -> None:
        if office_open.tzinfo is not None or office_close.tzinfo is not None:
            raise ValueError("office hours are local wall-clock times; pass naive times")
        if office_open >= office_close:
            raise ValueError(
                f"office_open {office_open} must be before office_close {office_close}"
            )
        clash = sorted(set(holidays) & set(extra_working_days))
        if clash:
            raise ValueError(f"dates both holidays and extra working days: {clash}")
        self._holidays = dict(holidays)
        self._extra_working_days = frozenset(extra_working_days)
        self._tz = ZoneInfo(timezone)
        self._open = office_open
        self._close = office_close
        # A year is "covered" when its file listed something; every real year has holidays.
        self._covered_years = {day.year for day in self._holidays} | {
            day.year for day in self._extra_working_days
        }
        # Unsynchronised on purpose: a race only means one extra warning line.
        self._warned_years: set[int] = set()

    @classmethod
    def from_directory(cls, directory: Path, **kwargs: Any) -> "WorkingCalendar":
        """Build a calendar from every YYYY.yaml file in `directory`, validating each one."""
        paths = sorted(path for path in Path(directory).iterdir() if _YEAR_FILE.match(path.name))
        if not paths:
            raise FileNotFoundError(f"no YYYY.yaml holiday files in {directory}")
        holidays: dict[date, str] = {}
        working_days: set[date] = set()
        for path in paths:
            year_holidays, year_working_days = _load_year_file(path)
            holidays.update(year_holidays)
            working_days |= year_working_days
        return cls(holidays, frozenset(working_days), **kwargs)

    @property
    def holidays(self) -> Mapping[date, str]:
        """Days off (holidays, compensatory and swapped days) with their names, read-only."""
        return MappingProxyType(self._holidays)

    def is_working_day(self, day: date) -> bool:
        """Whether agencies are open on `day` (a local calendar date)."""
        # datetime is a date subclass but never equals a date key, so it would silently miss
        # every holiday.
        if isinstance(day, datetime):
            raise TypeError("is_working_day takes a date; pass the local date, not a datetime")
        self._warn_if_uncovered(day.year)
        if day in self._extra_working_days:
            return True
        return day.weekday() < _SATURDAY and day not in self._holidays

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after `day`."""
        candidate = day + timedelta(days=1)
        while not self.is_working_day(candidate):
            candidate += timedelta(days=1)
        return candidate

    def clock_start(self, moment: datetime) -> datetime:
        """When the SLA clock starts for something filed at `moment`, in UTC."""
        local = self._to_local(moment)
        today = local.date()
        if self.is_working_day(today):
            if local.time() < self._open:
                return self._at(today, self._open)
            if local.time() < self._close:
                return local.astimezone(UTC)
        return self._at(self.next_working_day(today), self._open)

    def due_at(self, filed_at: datetime, working_days: int) -> datetime:
        """Closing time on the `working_days`-th working day after the clock starts, in UTC."""
        if working_days < 1:
            raise ValueError(f"working_days must be at least 1, got {working_days}")
        start_day = self._to_local(self.clock_start(filed_at)).date()
        return self._at(self._advance(start_day, working_days), self._close)

    def add_working_days(self, moment: datetime, working_days: int) -> datetime:
        """The clock start of `moment`, `working_days` working days later at the same local time."""
        if working_days < 0:
            raise ValueError(f"working_days must not be negative, got {working_days}")
        start = self._to_local(self.clock_start(moment))
        return self._at(self._advance(start.date(), working_days), start.time())

    def _advance(self, day: date, working_days: int) -> date:
        for _ in range(working_days):
            day = self.next_working_day(day)
        return day

    def _to_local(self, moment: datetime) -> datetime:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"naive datetime {moment.isoformat()}: pass a timezone-aware datetime")
        return moment.astimezone(self._tz)

    def _at(self, day: date, wall_time: time) -> datetime:
        return datetime.combine(day, wall_time, tzinfo=self._tz).astimezone(UTC)

    def _warn_if_uncovered(self, year: int) -> None:
        if year in self._covered_years or year in self._warned_years:
            return
        self._warned_years.add(year)
        logger.warning(
            "No holiday file for %d: counting weekends only. Add %d.yaml to the holidays "
            "directory (see feedback/holidays/README.md).",
            year,
            year,
        )


def default_holidays_dir() -> Path:
    """The feedback/holidays directory shipped next to this module."""
    return Path(__file__).resolve().parent / "holidays"


def _load_year_file(path: Path) -> tuple[dict[date, str], set[date]]:
    match = _YEAR_FILE.match(path.name)
    if match is None:
        raise ValueError(f"{path}: holiday files must be named YYYY.yaml")
    file_year = int(match.group(1))
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_DatesAsStringsLoader)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with year, holidays and working_days")
    unknown = sorted(str(key) for key in set(data) - _FILE_KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown keys {unknown}; expected year, holidays, working_days")
    if data.get("year") != file_year:
        raise ValueError(f"{path}: 'year: {data.get('year')}' does not match the file name")

    raw_holidays = data.get("holidays")
    if not isinstance(raw_holidays, list) or not raw_holidays:
        raise ValueError(f"{path}: 'holidays' must be a non-empty list")
    holidays: dict[date, str] = {}
    for index, entry in enumerate(raw_holidays):
        where = f"{path}: holidays[{index}]"
        day, name = _parse_entry(where, entry, file_year)
        if name is None:
            raise ValueError(f"{where}: a holiday needs a name")
        if day in holidays:
            raise ValueError(f"{where}: {day} is listed twice (already '{holidays[day]}')")
        holidays[day] = name

    # `working_days:` left empty reads as null; that is just "none this year".
    raw_working_days = data.get("working_days") or []
    if not isinstance(raw_working_days, list):
        raise ValueError(f"{path}: 'working_days' must be a list")
    working_days: set[date] = set()
    for index, entry in enumerate(raw_working_days):
        where = f"{path}: working_days[{index}]"
        day, _ = _parse_entry(where, entry, file_year)
        if day in working_days:
            raise ValueError(f"{where}: {day} is listed twice")
        if day in holidays:
            raise ValueError(f"{where}: {day} is also a holiday ('{holidays[day]}')")
        if day.weekday() < _SATURDAY:
            raise ValueError(
                f"{where}: {day} is a weekday; only a Saturday or Sunday can be made a working day"
            )
        working_days.add(day)
    return holidays, working_days


def _parse_entry(where: str, entry: object, year: int) -> tuple[date, str | None]:
    """Read `{date: YYYY-MM-DD, name: ...}` or a bare date into (date, name or None)."""
    name: object = None
    if isinstance(entry, dict):
        unknown = sorted(str(key) for key in set(entry) - _ENTRY_KEYS)
        if unknown:
            raise ValueError(f"{where}: unknown keys {unknown}; expected date and name")
        raw, name = entry.get("date"), entry.get("name")
    else:
        raw = entry
    if not isinstance(raw, str) or not _ISO_DATE.match(raw):
        raise ValueError(f"{where}: bad date {raw!r}, expected YYYY-MM-DD")
    try:
        day = date.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError(f"{where}: bad date {raw!r}: {exc}") from exc
    if day.year != year:
        raise ValueError(f"{where}: {day} is outside {year}, the year of this file")
    if name is None:
        return day, None
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}: name must be non-empty text, got {name!r}")
    return day, name.strip()
