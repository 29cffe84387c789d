import logging
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path

import pytest

from feedback.sla import WorkingCalendar, default_holidays_dir

HCM = timezone(timedelta(hours=7))


def hcm(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in Hồ Chí Minh City (UTC+7, no DST)."""
    return datetime(year, month, day, hour, minute, tzinfo=HCM)


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def assert_utc(actual: datetime, expected: datetime) -> None:
    assert actual.tzinfo is UTC
    assert actual == expected


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return WorkingCalendar.from_directory(default_holidays_dir())


def write_year(tmp_path: Path, body: str, name: str = "2026.yaml") -> Path:
    (tmp_path / name).write_text(body, encoding="utf-8")
    return tmp_path


# --- clock start and due dates on ordinary weeks (March 2026 has no holidays) ---


def test_filed_during_office_hours_is_due_next_day_at_closing(calendar: WorkingCalendar) -> None:
    filed = hcm(2026, 3, 9, 10)  # Monday
    assert_utc(calendar.clock_start(filed), utc(2026, 3, 9, 3))
    assert_utc(calendar.due_at(filed, 1), utc(2026, 3, 10, 10))  # Tuesday 17:00


def test_friday_evening_filing_starts_monday_and_is_due_tuesday(calendar: WorkingCalendar) -> None:
    filed = hcm(2026, 3, 6, 19)  # Friday 19:00
    assert_utc(calendar.clock_start(filed), utc(2026, 3, 9, 0, 30))  # Monday 07:30
    assert_utc(calendar.due_at(filed, 1), utc(2026, 3, 10, 10))  # Tuesday 17:00


def test_filed_on_saturday_starts_monday(calendar: WorkingCalendar) -> None:
    filed = hcm(2026, 3, 7, 10)
    assert_utc(calendar.clock_start(filed), utc(2026, 3, 9, 0, 30))
    assert_utc(calendar.due_at(filed, 3), utc(2026, 3, 12, 10))  # Thursday 17:00


def test_filed_before_opening_starts_at_opening_same_day(calendar: WorkingCalendar) -> None:
    filed = hcm(2026, 3, 10, 6, 15)  # Tuesday
    assert_utc(calendar.clock_start(filed), utc(2026, 3, 10, 0, 30))
    assert_utc(calendar.due_at(filed, 2), utc(2026, 3, 12, 10))


def test_filed_exactly_at_closing_counts_as_after_hours(calendar: WorkingCalendar) -> None:
    filed = hcm(2026, 3, 10, 17)
    assert_utc(calendar.clock_start(filed), utc(2026, 3, 11, 0, 30))
    assert_utc(calendar.due_at(filed, 1), utc(2026, 3, 12, 10))


def test_input_in_another_timezone_is_judged_in_local_time(calendar: WorkingCalendar) -> None:
    filed = utc(2026, 3, 6, 12, 30)  # Friday 19:30 in Hồ Chí Minh City
    assert_utc(calendar.clock_start(filed), utc(2026, 3, 9, 0, 30))


# --- holidays ---


def test_tet_2026_filed_friday_before_break_is_due_after_it(calendar: WorkingCalendar) -> None:
    # Offices close Sat 14/02 to Sun 22/02/2026.
    filed = hcm(2026, 2, 13, 10)
    assert_utc(calendar.clock_start(filed), utc(2026, 2, 13, 3))
    assert_utc(calendar.due_at(filed, 1), utc(2026, 2, 23, 10))  # Monday 23/02 17:00
    assert calendar.next_working_day(date(2026, 2, 13)) == date(2026, 2, 23)


def test_tet_2026_filed_during_break_starts_when_offices_reopen(calendar: WorkingCalendar) -> None:
    filed = hcm(2026, 2, 17, 9)  # mùng 1 Tết
    assert_utc(calendar.clock_start(filed), utc(2026, 2, 23, 0, 30))
    assert_utc(calendar.due_at(filed, 1), utc(2026, 2, 24, 10))


def test_april_30_and_may_1_2026(calendar: WorkingCalendar) -> None:
    filed = hcm(2026, 4, 29, 10)  # Wednesday; Thu 30/04 and Fri 01/05 are holidays
    assert_utc(calendar.due_at(filed, 1), utc(2026, 5, 4, 10))


def test_gio_to_2026_on_sunday_gives_monday_off(calendar: WorkingCalendar) -> None:
    filed = hcm(2026, 4, 24, 10)  # Friday
    assert_utc(calendar.due_at(filed, 1), utc(2026, 4, 28, 10))  # Tuesday 28/04


def test_april_30_2025_swap_and_make_up_saturday(calendar: WorkingCalendar) -> None:
    # Fri 02/05/2025 was swapped with Sat 26/04/2025.
    assert_utc(calendar.due_at(hcm(2025, 4, 25, 10), 1), utc(2025, 4, 26, 10))
    assert_utc(calendar.due_at(hcm(2025, 4, 29, 10), 1), utc(2025, 5, 5, 10))


def test_year_boundary_filed_new_years_eve(calendar: WorkingCalendar) -> None:
    # 01/01/2026 is Tết Dương lịch and Fri 02/01 was swapped off (làm bù Sat 10/01), so the first
    # working day of 2026 is Monday 05/01.
    filed = hcm(2025, 12, 31, 19)
    assert_utc(calendar.clock_start(filed), utc(2026, 1, 5, 0, 30))
    assert_utc(calendar.due_at(filed, 1), utc(2026, 1, 6, 10))


def test_year_boundary_without_swap_starts_january_2() -> None:
    calendar = WorkingCalendar({date(2026, 1, 1): "Tết Dương lịch"})
    filed = hcm(2025, 12, 31, 19)
    assert_utc(calendar.clock_start(filed), utc(2026, 1, 2, 0, 30))
    assert_utc(calendar.due_at(filed, 1), utc(2026, 1, 5, 10))


def test_make_up_saturday_2026_is_a_working_day(calendar: WorkingCalendar) -> None:
    assert calendar.is_working_day(date(2026, 1, 10))
    assert calendar.is_working_day(date(2026, 8, 22))
    assert not calendar.is_working_day(date(2026, 1, 17))
    assert_utc(calendar.due_at(hcm(2026, 1, 9, 10), 1), utc(2026, 1, 10, 10))
    filed_on_saturday = hcm(2026, 1, 10, 8)
    assert_utc(calendar.clock_start(filed_on_saturday), utc(2026, 1, 10, 1))


def test_quoc_khanh_2026_swap(calendar: WorkingCalendar) -> None:
    # Break Sat 29/08 to Wed 02/09/2026.
    assert_utc(calendar.due_at(hcm(2026, 8, 28, 10), 1), utc(2026, 9, 3, 10))


# --- add_working_days ---


def test_add_working_days_keeps_local_time_of_day(calendar: WorkingCalendar) -> None:
    assert_utc(calendar.add_working_days(hcm(2026, 3, 9, 10), 1), utc(2026, 3, 10, 3))
    assert_utc(calendar.add_working_days(hcm(2026, 2, 13, 15), 1), utc(2026, 2, 23, 8))


def test_add_working_days_moves_to_clock_start_first(calendar: WorkingCalendar) -> None:
    saturday = hcm(2026, 3, 7, 10)
    assert_utc(calendar.add_working_days(saturday, 1), utc(2026, 3, 10, 0, 30))
    assert_utc(calendar.add_working_days(saturday, 0), utc(2026, 3, 9, 0, 30))


# --- misuse ---


@pytest.mark.parametrize(
    "call",
    [
        lambda c, moment: c.clock_start(moment),
        lambda c, moment: c.due_at(moment, 1),
        lambda c, moment: c.add_working_days(moment, 1),
    ],
    ids=["clock_start", "due_at", "add_working_days"],
)
def test_naive_datetime_is_rejected(
    calendar: WorkingCalendar, call: Callable[[WorkingCalendar, datetime], datetime]
) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        call(calendar, datetime(2026, 3, 9, 10))


def test_due_at_needs_at_least_one_working_day(calendar: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        calendar.due_at(hcm(2026, 3, 9, 10), 0)


def test_is_working_day_rejects_datetime(calendar: WorkingCalendar) -> None:
    with pytest.raises(TypeError):
        calendar.is_working_day(hcm(2026, 2, 17, 10))


def test_office_hours_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="before office_close"):
        WorkingCalendar({}, office_open=time(17), office_close=time(8))


# --- the shipped holiday files ---


def year_files() -> list[Path]:
    return sorted(default_holidays_dir().glob("[0-9][0-9][0-9][0-9].yaml"))


def test_shipped_files_cover_2025_to_2027() -> None:
    assert [path.stem for path in year_files()][:3] == ["2025", "2026", "2027"]


@pytest.mark.parametrize("path", year_files(), ids=lambda path: path.name)
def test_each_year_has_the_statutory_holidays(calendar: WorkingCalendar, path: Path) -> None:
    year = int(path.stem)
    holidays = calendar.holidays
    assert holidays[date(year, 1, 1)] == "Tết Dương lịch"
    assert holidays[date(year, 4, 30)] == "Ngày Chiến thắng"
    assert holidays[date(year, 5, 1)] == "Ngày Quốc tế Lao động"
    assert holidays[date(year, 9, 2)] == "Quốc khánh"
    names = [name for day, name in holidays.items() if day.year == year]
    assert names.count("Tết Nguyên đán") >= 5
    assert "Giỗ Tổ Hùng Vương" in names
    assert sum(name.startswith("Quốc khánh") for name in names) == 2


@pytest.mark.parametrize(
    ("year", "tet_weekdays", "gio_to"),
    [
        (2025, [date(2025, 1, day) for day in (27, 28, 29, 30, 31)], date(2025, 4, 7)),
        (2026, [date(2026, 2, day) for day in (16, 17, 18, 19, 20)], date(2026, 4, 26)),
        (2027, [date(2027, 2, day) for day in (4, 5, 8, 9, 10)], date(2027, 4, 16)),
    ],
)
def test_tet_and_gio_to_dates(
    calendar: WorkingCalendar, year: int, tet_weekdays: list[date], gio_to: date
) -> None:
    for day in tet_weekdays:
        assert calendar.holidays[day] == "Tết Nguyên đán"
        assert not calendar.is_working_day(day)
    assert calendar.holidays[gio_to] == "Giỗ Tổ Hùng Vương"


def test_default_holidays_dir_is_next_to_the_module() -> None:
    assert default_holidays_dir().name == "holidays"
    assert (default_holidays_dir() / "2026.yaml").is_file()


# --- a year without a file ---


def test_year_without_file_counts_weekends_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    calendar = WorkingCalendar.from_directory(default_holidays_dir())
    caplog.set_level(logging.WARNING, logger="feedback.sla")

    assert calendar.is_working_day(date(2031, 1, 1))  # a Wednesday; no holidays known for 2031
    assert not calendar.is_working_day(date(2031, 1, 4))
    assert_utc(calendar.due_at(hcm(2031, 1, 3, 19), 1), utc(2031, 1, 7, 10))
    calendar.is_working_day(date(2026, 3, 9))

    warnings = [record for record in caplog.records if record.name == "feedback.sla"]
    assert [record.getMessage()[:27] for record in warnings] == ["No holiday file for 2031: c"]
    assert warnings[0].levelno == logging.WARNING


# --- file validation ---

VALID_ENTRY = "  - {date: 2026-01-01, name: Tết Dương lịch}\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "year: 2026\nholidays:\n" + VALID_ENTRY + "  - {date: 2025-12-31, name: Giao thừa}\n",
            r"2026\.yaml: holidays\[1\]: 2025-12-31 is outside 2026",
        ),
        (
            "year: 2026\nholidays:\n" + VALID_ENTRY + "  - {date: 2026-02-30, name: Tết}\n",
            r"2026\.yaml: holidays\[1\]: bad date '2026-02-30'",
        ),
        (
            "year: 2026\nholidays:\n" + VALID_ENTRY + "  - {date: 2026-1-2, name: Tết}\n",
            r"2026\.yaml: holidays\[1\]: bad date '2026-1-2'",
        ),
        (
            "year: 2026\nholidays:\n" + VALID_ENTRY + "  - {date: 2026-01-01, name: Nghỉ}\n",
            r"2026\.yaml: holidays\[1\]: 2026-01-01 is listed twice \(already 'Tết Dương lịch'\)",
        ),
        (
            "year: 2026\nholidays:\n" + VALID_ENTRY + "  - {date: 2026-04-30}\n",
            r"2026\.yaml: holidays\[1\]: a holiday needs a name",
        ),
        (
            "year: 2025\nholidays:\n" + VALID_ENTRY,
            r"2026\.yaml: 'year: 2025' does not match the file name",
        ),
        (
            "year: 2026\nholidays:\n" + VALID_ENTRY + "working_days:\n  - 2026-01-09\n",
            r"2026\.yaml: working_days\[0\]: 2026-01-09 is a weekday",
        ),
        (
            "year: 2026\nholidays:\n" + VALID_ENTRY + "working_days: [2026-01-10, 2026-01-10]\n",
            r"2026\.yaml: working_days\[1\]: 2026-01-10 is listed twice",
        ),
        (
            "year: 2026\nholidays:\n" + VALID_ENTRY + "working_day: []\n",
            r"2026\.yaml: unknown keys \['working_day'\]",
        ),
        ("year: 2026\nholidays: []\n", r"2026\.yaml: 'holidays' must be a non-empty list"),
        ("- just a list\n", r"2026\.yaml: expected a mapping"),
        ("year: [2026\n", r"2026\.yaml: not valid YAML"),
    ],
    ids=[
        "date-outside-year",
        "impossible-date",
        "not-iso-date",
        "duplicate-holiday",
        "holiday-without-name",
        "year-mismatch",
        "weekday-as-working-day",
        "duplicate-working-day",
        "unknown-key",
        "no-holidays",
        "not-a-mapping",
        "bad-yaml",
    ],
)
def test_invalid_file_is_rejected_naming_file_and_entry(
    tmp_path: Path, body: str, message: str
) -> None:
    write_year(tmp_path, body)
    with pytest.raises(ValueError, match=message):
        WorkingCalendar.from_directory(tmp_path)


def test_valid_file_loads_with_bare_and_named_working_days(tmp_path: Path) -> None:
    body = (
        "year: 2026\nholidays:\n"
        + VALID_ENTRY
        + "  - {date: 2026-01-02, name: Nghỉ hoán đổi}\n"
        + "working_days:\n  - 2026-01-10\n  - {date: 2026-08-22, name: Làm bù}\n"
    )
    write_year(tmp_path, body)
    (tmp_path / "README.md").write_text("not a year file", encoding="utf-8")
    calendar = WorkingCalendar.from_directory(tmp_path)
    assert dict(calendar.holidays) == {
        date(2026, 1, 1): "Tết Dương lịch",
        date(2026, 1, 2): "Nghỉ hoán đổi",
    }
    assert calendar.is_working_day(date(2026, 1, 10))
    assert calendar.is_working_day(date(2026, 8, 22))


def test_directory_without_year_files_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path))):
        WorkingCalendar.from_directory(tmp_path)
