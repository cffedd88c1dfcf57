"""Working-time calendars: SLA deadlines count business hours, across weekends, holidays and DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abmsync.rules.calendar import add_working_time, calendar_for, working_seconds
from abmsync.rules.model import WORKDAYS, Calendar, RuleSet, SlaRule

HOUR = 3600.0
ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
OFFICE = Calendar(timezone="UTC", hours="09:00-17:00")  # Monday to Friday
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def at(day: str, clock: str = "00:00", zone: ZoneInfo | None = None) -> datetime:
    """An aware datetime from '2026-05-04' and '09:30' (UTC unless a zone is given)."""
    naive = datetime.fromisoformat(f"{day}T{clock}")
    return naive.replace(tzinfo=zone or UTC)


def local(instant: datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).strftime("%Y-%m-%d %H:%M")


# 2026-05-04 is a Monday.


def test_without_a_calendar_every_second_counts() -> None:
    start = at("2026-05-08", "18:00")  # Friday evening
    assert add_working_time(start, 48 * HOUR, None) == at("2026-05-10", "18:00")
    assert working_seconds(start, at("2026-05-10", "18:00"), None) == 48 * HOUR


def test_naive_inputs_are_utc_and_results_are_aware_utc() -> None:
    deadline = add_working_time(datetime(2026, 5, 4, 10), HOUR, OFFICE)
    assert deadline == at("2026-05-04", "11:00")
    assert deadline.utcoffset() == timedelta(0)
    assert add_working_time(datetime(2026, 5, 4, 10), HOUR, None).tzinfo is not None
    assert working_seconds(datetime(2026, 5, 4, 10), at("2026-05-04", "12:00"), OFFICE) == 2 * HOUR


def test_a_start_inside_hours_counts_from_the_start() -> None:
    assert add_working_time(at("2026-05-04", "10:15"), 3 * HOUR, OFFICE) == at(
        "2026-05-04", "13:15"
    )


def test_time_left_at_closing_carries_over_to_the_next_working_morning() -> None:
    assert add_working_time(at("2026-05-04", "15:00"), 4 * HOUR, OFFICE) == at(
        "2026-05-05", "11:00"
    )


def test_a_start_before_opening_waits_for_opening() -> None:
    assert add_working_time(at("2026-05-04", "06:30"), HOUR, OFFICE) == at("2026-05-04", "10:00")


def test_a_start_after_closing_waits_for_the_next_opening() -> None:
    assert add_working_time(at("2026-05-04", "19:00"), HOUR, OFFICE) == at("2026-05-05", "10:00")


def test_a_lead_on_friday_evening_is_due_on_monday() -> None:
    friday_evening = at("2026-05-08", "18:00")
    assert add_working_time(friday_evening, 2 * HOUR, OFFICE) == at("2026-05-11", "11:00")


def test_a_lead_at_the_weekend_is_due_counting_from_monday_morning() -> None:
    assert add_working_time(at("2026-05-09", "12:00"), HOUR, OFFICE) == at("2026-05-11", "10:00")
    assert working_seconds(at("2026-05-09", "12:00"), at("2026-05-11", "10:00"), OFFICE) == HOUR


def test_holidays_are_skipped() -> None:
    calendar = Calendar(hours="09:00-17:00", holidays=[date(2026, 5, 14)])  # a Thursday
    wednesday_afternoon = at("2026-05-13", "16:00")
    assert add_working_time(wednesday_afternoon, 2 * HOUR, calendar) == at("2026-05-15", "10:00")
    assert working_seconds(at("2026-05-13"), at("2026-05-16"), calendar) == 16 * HOUR


def test_a_start_on_a_holiday_waits_for_the_next_working_day() -> None:
    calendar = Calendar(hours="09:00-17:00", holidays=[date(2026, 5, 4)])
    assert add_working_time(at("2026-05-04", "10:00"), HOUR, calendar) == at("2026-05-05", "10:00")


def test_holidays_are_dates_in_the_calendars_own_zone() -> None:
    # 2026-05-05 in Berlin (UTC+2) runs from 22:00 UTC on the 4th to 22:00 UTC on the 5th.
    calendar = Calendar(timezone="Europe/Berlin", days=ALL_DAYS, holidays=[date(2026, 5, 5)])
    assert working_seconds(at("2026-05-04", "22:00"), at("2026-05-05", "22:00"), calendar) == 0
    assert working_seconds(at("2026-05-04", "21:00"), at("2026-05-04", "22:00"), calendar) == HOUR


def test_48_working_hours_are_six_office_days_where_the_wall_clock_takes_two() -> None:
    monday = at("2026-05-04", "09:00")
    assert add_working_time(monday, 48 * HOUR, None) == at("2026-05-06", "09:00")
    assert add_working_time(monday, 48 * HOUR, OFFICE) == at("2026-05-11", "17:00")
    assert working_seconds(monday, at("2026-05-06", "09:00"), OFFICE) == 16 * HOUR


def test_a_deadline_that_uses_up_a_day_is_that_days_closing_time() -> None:
    assert add_working_time(at("2026-05-04", "09:00"), 8 * HOUR, OFFICE) == at(
        "2026-05-04", "17:00"
    )


def test_zero_seconds_is_the_start_inside_hours_and_the_next_opening_outside() -> None:
    assert add_working_time(at("2026-05-04", "10:00"), 0, OFFICE) == at("2026-05-04", "10:00")
    assert add_working_time(at("2026-05-04", "17:00"), 0, OFFICE) == at("2026-05-05", "09:00")
    assert add_working_time(at("2026-05-08", "20:00"), 0, OFFICE) == at("2026-05-11", "09:00")
    assert add_working_time(at("2026-05-08", "20:00"), 0, None) == at("2026-05-08", "20:00")


def test_a_negative_or_infinite_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="seconds"):
        add_working_time(at("2026-05-04"), -1, OFFICE)
    with pytest.raises(ValueError, match="seconds"):
        add_working_time(at("2026-05-04"), float("inf"), None)


def test_working_seconds_backwards_is_negative() -> None:
    assert working_seconds(at("2026-05-05", "12:00"), at("2026-05-04", "12:00"), OFFICE) == (
        -8 * HOUR
    )


def test_hours_in_the_calendars_zone_not_in_utc() -> None:
    calendar = Calendar(timezone="America/New_York", hours="09:00-17:00")
    start = at("2026-05-04", "08:00", NEW_YORK)
    assert local(add_working_time(start, HOUR, calendar), NEW_YORK) == "2026-05-04 10:00"


def test_a_year_of_working_time_is_computed_quickly() -> None:
    calendar = Calendar(
        timezone="Europe/Berlin", hours="08:30-17:45", holidays=[date(2026, 12, 25)]
    )
    start = at("2026-01-05", "08:30", BERLIN)
    started = datetime.now(UTC)
    deadline = add_working_time(start, 2000 * HOUR, calendar)
    assert working_seconds(start, deadline, calendar) == 2000 * HOUR
    assert datetime.now(UTC) - started < timedelta(seconds=2)
    assert deadline.astimezone(BERLIN).year == 2026


# Daylight saving: Berlin springs forward on 2026-03-29 and falls back on 2026-10-25,
# New York on 2026-03-08 and 2026-11-01 (all Sundays).
DST_SUNDAYS = [
    pytest.param(BERLIN, "2026-03-29", 23, id="berlin-spring-forward"),
    pytest.param(BERLIN, "2026-10-25", 25, id="berlin-fall-back"),
    pytest.param(NEW_YORK, "2026-03-08", 23, id="new-york-spring-forward"),
    pytest.param(NEW_YORK, "2026-11-01", 25, id="new-york-fall-back"),
]


@pytest.mark.parametrize(("zone", "sunday", "hours"), DST_SUNDAYS)
def test_an_office_day_on_a_dst_sunday_is_still_eight_hours(
    zone: ZoneInfo, sunday: str, hours: int
) -> None:
    calendar = Calendar(timezone=zone.key, hours="09:00-17:00", days=ALL_DAYS)
    start = at(sunday, "09:00", zone)
    assert local(add_working_time(start, 8 * HOUR, calendar), zone) == f"{sunday} 17:00"
    monday = (date.fromisoformat(sunday) + timedelta(days=1)).isoformat()
    assert working_seconds(at(sunday, "00:00", zone), at(monday, "00:00", zone), calendar) == (
        8 * HOUR
    )


@pytest.mark.parametrize(("zone", "sunday", "hours"), DST_SUNDAYS)
def test_eight_office_hours_from_the_dst_sunday_afternoon_end_monday_afternoon(
    zone: ZoneInfo, sunday: str, hours: int
) -> None:
    calendar = Calendar(timezone=zone.key, hours="09:00-17:00", days=ALL_DAYS)
    monday = (date.fromisoformat(sunday) + timedelta(days=1)).isoformat()
    deadline = add_working_time(at(sunday, "13:00", zone), 8 * HOUR, calendar)
    assert local(deadline, zone) == f"{monday} 13:00"


@pytest.mark.parametrize(("zone", "sunday", "hours"), DST_SUNDAYS)
def test_an_all_day_calendar_counts_the_real_length_of_a_dst_day(
    zone: ZoneInfo, sunday: str, hours: int
) -> None:
    calendar = Calendar(timezone=zone.key, days=ALL_DAYS)
    day = date.fromisoformat(sunday)
    midnight = datetime.combine(day, time(), zone)
    next_midnight = datetime.combine(day + timedelta(days=1), time(), zone)
    assert working_seconds(midnight, next_midnight, calendar) == hours * HOUR
    # 24 working hours from Saturday noon are 24 real hours, so the local clock
    # reads 13:00 or 11:00 on Sunday.
    saturday_noon = at((day - timedelta(days=1)).isoformat(), "12:00", zone)
    deadline = add_working_time(saturday_noon, 24 * HOUR, calendar)
    assert deadline == saturday_noon.astimezone(UTC) + timedelta(hours=24)
    assert local(deadline, zone) == f"{sunday} {12 + 24 - hours}:00"


@pytest.mark.parametrize(("zone", "sunday", "hours"), DST_SUNDAYS)
def test_an_all_day_sunday_only_calendar_on_a_dst_sunday_ends_at_local_midnight(
    zone: ZoneInfo, sunday: str, hours: int
) -> None:
    calendar = Calendar(timezone=zone.key, days=["sun"])
    start = at(sunday, "00:00", zone)
    deadline = add_working_time(start, hours * HOUR, calendar)
    next_day = (date.fromisoformat(sunday) + timedelta(days=1)).isoformat()
    assert local(deadline, zone) == f"{next_day} 00:00"


def test_a_night_shift_loses_the_skipped_hour_and_gains_the_repeated_one() -> None:
    night = Calendar(timezone="Europe/Berlin", hours="00:00-03:00", days=["sun"])
    assert working_seconds(at("2026-03-28"), at("2026-03-30"), night) == 2 * HOUR
    assert working_seconds(at("2026-10-24"), at("2026-10-26"), night) == 4 * HOUR
    # Starting inside the skipped hour is impossible; at 03:00 the shift is over.
    spring = add_working_time(at("2026-03-29", "00:00", BERLIN), 2 * HOUR, night)
    assert local(spring, BERLIN) == "2026-03-29 03:00"


def test_hours_that_open_inside_the_skipped_hour_open_when_the_clocks_jump() -> None:
    calendar = Calendar(timezone="Europe/Berlin", hours="02:30-04:00", days=["sun"])
    deadline = add_working_time(at("2026-03-29", "00:00", BERLIN), 0, calendar)
    assert local(deadline, BERLIN) == "2026-03-29 03:00"
    assert working_seconds(at("2026-03-28"), at("2026-03-30"), calendar) == HOUR


def test_an_all_day_calendar_where_midnight_is_skipped_or_repeated() -> None:
    # Havana springs forward at midnight (2026-03-08) and falls back from 01:00 to
    # 00:00 (2026-11-01): Saturday ends when Sunday first begins either way.
    havana = ZoneInfo("America/Havana")
    saturdays = Calendar(timezone="America/Havana", days=["sat"])
    for saturday, sunday_hours in (("2026-03-07", 23), ("2026-10-31", 25)):
        start = at(saturday, "00:00", havana)
        assert working_seconds(start, start + timedelta(days=3), saturdays) == 24 * HOUR
        sundays = Calendar(timezone="America/Havana", days=["sun"])
        assert working_seconds(start, start + timedelta(days=3), sundays) == sunday_hours * HOUR


# calendar_for -------------------------------------------------------------------------


def rules_with_calendars(**queues: Any) -> RuleSet:
    return RuleSet.model_validate(
        {
            "calendars": {
                "berlin": {"timezone": "Europe/Berlin", "hours": "09:00-17:00"},
                "nyc": {"timezone": "America/New_York", "hours": "09:00-18:00"},
            },
            "routing": {
                "on_enter": "mql",
                "queues": {
                    "dach": {"members": [{"owner": "o1"}], "calendar": "berlin"},
                    "us": {"members": [{"owner": "o2"}]},
                    **queues,
                },
            },
        }
    )


def test_the_sla_rules_own_calendar_wins_over_the_queues() -> None:
    rules = rules_with_calendars()
    sla = SlaRule(stage="mql", within="48h", calendar="nyc")
    assert calendar_for(rules, sla, "dach") == rules.calendars["nyc"]


def test_without_its_own_calendar_a_timer_runs_on_the_routing_queues() -> None:
    rules = rules_with_calendars()
    assert (
        calendar_for(rules, SlaRule(stage="mql", within="48h"), "dach") == rules.calendars["berlin"]
    )


def test_a_queue_without_calendar_no_queue_or_a_removed_queue_means_the_wall_clock() -> None:
    rules = rules_with_calendars()
    sla = SlaRule(stage="mql", within="48h")
    assert calendar_for(rules, sla, "us") is None
    assert calendar_for(rules, sla, None) is None
    assert calendar_for(rules, sla, "no longer in the rules") is None
    assert calendar_for(RuleSet(), sla, "dach") is None


def test_an_undefined_calendar_name_is_a_value_error_naming_it() -> None:
    rules = rules_with_calendars()
    with pytest.raises(ValueError, match="unknown calendar 'apac'"):
        calendar_for(rules, SlaRule(stage="mql", within="48h", calendar="apac"), None)
    # The model itself does not check names (the validator does, with locations).
    broken = rules_with_calendars(apac={"members": [{"owner": "o3"}], "calendar": "apac"})
    with pytest.raises(ValueError, match="unknown calendar 'apac'"):
        calendar_for(broken, SlaRule(stage="mql", within="48h"), "apac")


# Properties ---------------------------------------------------------------------------

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # half-hour DST
    "Asia/Kolkata",  # +05:30, no DST
    "America/Havana",  # DST changes at midnight
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/Sao_Paulo",
]
# Sundays on which a zone above changes its clocks, to aim starts near them.
DST_DAYS = [
    date(2026, 3, 8),
    date(2026, 3, 29),
    date(2026, 10, 25),
    date(2026, 11, 1),
    date(2026, 4, 5),
    date(2026, 10, 4),
    date(2026, 9, 27),
    date(2025, 3, 9),
    date(2025, 11, 2),
    date(2025, 10, 26),
]
QUARTER_HOURS = 24 * 4


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    zone = draw(st.sampled_from(ZONES))
    hours = None
    if draw(st.booleans()):
        opens = draw(st.integers(0, QUARTER_HOURS - 1))
        closes = draw(st.integers(opens + 1, QUARTER_HOURS))
        hours = f"{_quarter(opens)}-{_quarter(closes)}"
    days = draw(st.lists(st.sampled_from(ALL_DAYS), min_size=1, max_size=7, unique=True))
    holidays = draw(st.lists(st.dates(date(2025, 1, 1), date(2027, 3, 1)), max_size=30))
    return Calendar(timezone=zone, hours=hours, days=days, holidays=holidays)


def _quarter(index: int) -> str:
    return f"{index // 4:02d}:{index % 4 * 15:02d}"


@st.composite
def starts(draw: st.DrawFn) -> datetime:
    if draw(st.booleans()):
        day = draw(st.sampled_from(DST_DAYS)) + timedelta(days=draw(st.integers(-3, 1)))
        base = datetime.combine(day, time(), UTC)
    else:
        base = datetime.combine(draw(st.dates(date(2025, 1, 1), date(2026, 12, 31))), time(), UTC)
    return base + timedelta(seconds=draw(st.integers(0, 86400 - 1)))


durations = st.one_of(
    st.integers(0, 3 * 86400).map(float),
    st.floats(0, 60 * 86400, allow_nan=False, allow_infinity=False),
)


def is_working(instant: datetime, calendar: Calendar) -> bool:
    """The definition, read off a wall clock in the calendar's zone."""
    clock = instant.astimezone(ZoneInfo(calendar.timezone))
    if ALL_DAYS[clock.weekday()] not in calendar.days or clock.date() in calendar.holidays:
        return False
    if calendar.hours is None:
        return True
    opens, closes = calendar.hours.split("-")
    wall = clock.strftime("%H:%M:%S")
    return f"{opens}:00" <= wall < f"{closes}:00"


@settings(max_examples=300, deadline=None)
@given(calendar=calendars(), start=starts(), seconds=durations)
def test_working_seconds_undo_add_working_time(
    calendar: Calendar, start: datetime, seconds: float
) -> None:
    deadline = add_working_time(start, seconds, calendar)
    assert working_seconds(start, deadline, calendar) == pytest.approx(seconds, abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(calendar=calendars(), start=starts(), first=durations, second=durations)
def test_a_longer_duration_never_gives_an_earlier_deadline(
    calendar: Calendar, start: datetime, first: float, second: float
) -> None:
    shorter, longer = sorted((first, second))
    assert add_working_time(start, shorter, calendar) <= add_working_time(start, longer, calendar)


@settings(max_examples=300, deadline=None)
@given(calendar=calendars(), start=starts(), seconds=st.integers(1, 20 * 86400))
def test_the_clock_runs_right_up_to_every_deadline(
    calendar: Calendar, start: datetime, seconds: int
) -> None:
    # Inside working time or exactly at a window's end: the second before the
    # deadline is working time (every window bound is a whole second).
    deadline = add_working_time(start, seconds, calendar)
    assert deadline > start
    assert is_working(deadline - timedelta(seconds=1), calendar)


@settings(max_examples=200, deadline=None)
@given(zone=st.sampled_from(ZONES), start=starts(), seconds=durations)
def test_a_calendar_open_all_day_every_day_is_the_wall_clock(
    zone: str, start: datetime, seconds: float
) -> None:
    calendar = Calendar(timezone=zone, days=ALL_DAYS)
    assert add_working_time(start, seconds, calendar) == add_working_time(start, seconds, None)


@settings(max_examples=40, deadline=None)
@given(
    calendar=calendars(),
    start=starts().map(lambda t: t.replace(second=0)),
    minutes=st.integers(0, 3 * 24 * 60),
)
def test_working_seconds_agree_with_reading_the_clock_minute_by_minute(
    calendar: Calendar, start: datetime, minutes: int
) -> None:
    # Every zone above changes offset on whole minutes, and hours are quarter hours,
    # so each minute is entirely inside or outside working time.
    counted = sum(
        60 for step in range(minutes) if is_working(start + timedelta(minutes=step), calendar)
    )
    assert working_seconds(start, start + timedelta(minutes=minutes), calendar) == counted


def test_the_default_calendar_is_monday_to_friday_all_day_in_utc() -> None:
    calendar = Calendar()
    assert tuple(calendar.days) == WORKDAYS
    assert working_seconds(at("2026-05-04"), at("2026-05-11"), calendar) == 5 * 24 * HOUR
