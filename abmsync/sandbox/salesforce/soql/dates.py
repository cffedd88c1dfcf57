"""SOQL date literals (``TODAY``, ``LAST_N_DAYS:30`` ...) as half-open day ranges.

Ranges per the SOQL and SOSL Reference, "Date Formats and Date Literals"
(https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_dateformats.htm):
``LAST_N_DAYS:n`` and ``LAST_90_DAYS`` include today and the n days before;
``NEXT_N_DAYS:n`` starts tomorrow; ``N_DAYS_AGO:n`` is one day; weeks start on
Sunday (the en_US locale); quarters and fiscal periods are calendar ones (a
fiscal year that starts in January, the default). They are evaluated on the
org's clock in UTC (the emulated user's time zone).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

Range = tuple[date, date]  # [start, end)

_FIXED: dict[str, Callable[[date], Range]] = {}
_COUNTED: dict[str, Callable[[date, int], Range]] = {}


def _month_start(day: date, shift: int = 0) -> date:
    months = day.year * 12 + day.month - 1 + shift
    return date(months // 12, months % 12 + 1, 1)


def _quarter_start(day: date, shift: int = 0) -> date:
    return _month_start(date(day.year, (day.month - 1) // 3 * 3 + 1, 1), shift * 3)


def _week_start(day: date, shift: int = 0) -> date:
    return day - timedelta(days=(day.weekday() + 1) % 7) + timedelta(weeks=shift)


def _year_start(day: date, shift: int = 0) -> date:
    return date(day.year + shift, 1, 1)


def _days(start: int, end: int) -> Callable[[date], Range]:
    return lambda today: (today + timedelta(days=start), today + timedelta(days=end))


_FIXED |= {
    "YESTERDAY": _days(-1, 0),
    "TODAY": _days(0, 1),
    "TOMORROW": _days(1, 2),
    "LAST_90_DAYS": _days(-90, 1),
    "NEXT_90_DAYS": _days(1, 91),
}
_UNITS: dict[str, Callable[[date, int], date]] = {
    "WEEK": _week_start,
    "MONTH": _month_start,
    "QUARTER": _quarter_start,
    "YEAR": _year_start,
    "FISCAL_QUARTER": _quarter_start,
    "FISCAL_YEAR": _year_start,
}
for _unit, _start in _UNITS.items():
    _FIXED[f"THIS_{_unit}"] = lambda t, s=_start: (s(t), s(t, 1))  # type: ignore[misc]
    _FIXED[f"LAST_{_unit}"] = lambda t, s=_start: (s(t, -1), s(t))  # type: ignore[misc]
    _FIXED[f"NEXT_{_unit}"] = lambda t, s=_start: (s(t, 1), s(t, 2))  # type: ignore[misc]
    _COUNTED[f"LAST_N_{_unit}S"] = lambda t, n, s=_start: (s(t, -n), s(t))  # type: ignore[misc]
    _COUNTED[f"NEXT_N_{_unit}S"] = lambda t, n, s=_start: (s(t, 1), s(t, n + 1))  # type: ignore[misc]
    _COUNTED[f"N_{_unit}S_AGO"] = lambda t, n, s=_start: (s(t, -n), s(t, 1 - n))  # type: ignore[misc]
_COUNTED |= {
    "LAST_N_DAYS": lambda t, n: (t - timedelta(days=n), t + timedelta(days=1)),
    "NEXT_N_DAYS": lambda t, n: (t + timedelta(days=1), t + timedelta(days=n + 1)),
    "N_DAYS_AGO": lambda t, n: (t - timedelta(days=n), t - timedelta(days=n - 1)),
}


def is_date_literal(name: str, counted: bool) -> bool:
    """Whether ``name`` (upper case) is a date literal, with ``:n`` or without."""
    return name in (_COUNTED if counted else _FIXED)


def date_range(name: str, n: int | None, today: date) -> Range:
    """The days ``name`` (``n``) covers on ``today``, as ``[start, end)``."""
    if n is None:
        return _FIXED[name](today)
    return _COUNTED[name](today, n)
