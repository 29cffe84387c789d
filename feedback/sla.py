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

from __future__ import annotations

import logging
import threading
import time as time_module
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Invalid
from core.settings import get_settings
from feedback.holiday_files import YEAR_FILE, load_year_file
from feedback.models import CalendarDay, Category, Ticket

logger = logging.getLogger("feedback.sla")

_SATURDAY = 5


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
        # Running totals of working days per year (working_seconds); a race computes one twice.
        self._prefixes: dict[int, list[int]] = {}

    @classmethod
    def from_directory(cls, directory: Path, **kwargs: Any) -> WorkingCalendar:
        """Build a calendar from every YYYY.yaml file in `directory`, validating each one."""
        paths = sorted(path for path in Path(directory).iterdir() if YEAR_FILE.match(path.name))
        if not paths:
            raise FileNotFoundError(f"no YYYY.yaml holiday files in {directory}")
        holidays: dict[date, str] = {}
        working_days: set[date] = set()
        for path in paths:
            year_holidays, year_working_days = load_year_file(path)
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

    @property
    def office_day_seconds(self) -> float:
        """The length of one working day's office hours, in seconds."""
        day = date(2000, 1, 3)
        return (datetime.combine(day, self._close) - datetime.combine(day, self._open)).seconds

    def working_seconds(self, start: datetime, end: datetime) -> float:
        """Office-hours seconds between two moments (negative when `end` is before `start`)."""
        if end < start:
            return -self.working_seconds(end, start)
        local_start, local_end = self._to_local(start), self._to_local(end)
        first, last = local_start.date(), local_end.date()
        total = self._office_overlap(first, local_start, local_end)
        if last > first:
            total += self._office_overlap(last, local_start, local_end)
            # The whole days between: a queue shows tickets months overdue, so they are counted
            # from a running total rather than day by day.
            between = self._working_days_between(first + timedelta(days=1), last)
            total += between * self.office_day_seconds
        return total

    def _office_overlap(self, day: date, start: datetime, end: datetime) -> float:
        if not self.is_working_day(day):
            return 0.0
        opens = datetime.combine(day, self._open, tzinfo=self._tz)
        closes = datetime.combine(day, self._close, tzinfo=self._tz)
        return max((min(closes, end) - max(opens, start)).total_seconds(), 0.0)

    def _working_days_between(self, first: date, last: date) -> int:
        """How many working days in [first, last), from running totals kept per year."""
        if last <= first:
            return 0

        def before(day: date) -> int:  # working days of its year before `day`
            return self._year_prefix(day.year)[day.timetuple().tm_yday - 1]

        if first.year == last.year:
            return before(last) - before(first)
        total = self._year_prefix(first.year)[-1] - before(first)
        total += sum(self._year_prefix(year)[-1] for year in range(first.year + 1, last.year))
        return total + before(last)

    def _year_prefix(self, year: int) -> list[int]:
        """prefix[i]: the working days among the first i days of `year` (computed once)."""
        cached = self._prefixes.get(year)
        if cached is None:
            cached, running, day = [0], 0, date(year, 1, 1)
            while day.year == year:
                running += self.is_working_day(day)
                cached.append(running)
                day += timedelta(days=1)
            self._prefixes[year] = cached
        return cached

    def with_changes(self, days: Mapping[date, tuple[str, bool]]) -> WorkingCalendar:
        """This calendar with some days changed: {day: (name, working)}."""
        holidays = dict(self._holidays)
        working = set(self._extra_working_days)
        for day, (name, is_working) in days.items():
            holidays.pop(day, None)
            working.discard(day)
            if is_working:
                working.add(day)
            else:
                holidays[day] = name
        return WorkingCalendar(
            holidays,
            frozenset(working),
            timezone=str(self._tz),
            office_open=self._open,
            office_close=self._close,
        )

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


# --- The calendar in force, and a ticket's deadline -----------------------------------------


@lru_cache
def get_calendar() -> WorkingCalendar:
    """The working-day calendar from the holiday files (TIEPDAN_HOLIDAYS_DIR to extend)."""
    settings = get_settings()
    open_h, open_m = (int(p) for p in settings.office_open.split(":"))
    close_h, close_m = (int(p) for p in settings.office_close.split(":"))
    return WorkingCalendar.from_directory(
        settings.holidays_dir or default_holidays_dir(),
        timezone=settings.timezone,
        office_open=time(open_h, open_m),
        office_close=time(close_h, close_m),
    )


_current: tuple[float, WorkingCalendar] | None = None
_current_lock = threading.Lock()


def current_calendar(session: Session) -> WorkingCalendar:
    """The holiday files with the days admins changed in the panel (`calendar_days`).

    Kept for TIEPDAN_CALENDAR_REFRESH_SECONDS, so that a change reaches every process within
    that time without a query per deadline.
    """
    global _current
    ttl = get_settings().calendar_refresh_seconds
    cached = _current
    if cached is not None and time_module.monotonic() - cached[0] < ttl:
        return cached[1]
    rows = session.execute(select(CalendarDay.day, CalendarDay.name, CalendarDay.working)).all()
    calendar = get_calendar()
    if rows:
        calendar = calendar.with_changes({day: (name, working) for day, name, working in rows})
    with _current_lock:
        _current = (time_module.monotonic(), calendar)
    return calendar


def forget_calendar() -> None:
    """Drop this process's calendar (after an admin changed a day)."""
    global _current
    with _current_lock:
        _current = None


def set_sla_due(session: Session, ticket: Ticket) -> None:
    """Set the ticket's deadline: its category's working days, counted from when it was filed."""
    if ticket.category_code is None:
        return
    category = session.get(Category, ticket.category_code)
    if category is None:
        raise Invalid(f"Unknown category code '{ticket.category_code}'.")
    ticket.sla_due_at = current_calendar(session).due_at(
        ticket.created_at, category.sla_working_days
    )
