"""Working time for SLA timers: deadlines and durations that count business hours only.

A :class:`~abmsync.rules.model.Calendar` says which local wall-clock times
count: an instant is working time when, read on a clock in the calendar's
time zone, it falls on one of ``days``, is not one of ``holidays`` and shows
a time inside ``hours`` (the whole day when ``hours`` is not set). Everything
is measured in real elapsed seconds, so the definition holds across daylight
saving changes by construction:

- a 09:00-17:00 day is 8 working hours also on the Sunday the clocks change;
- an all-day calendar day is 23 or 25 hours long on those days;
- local times that do not exist (skipped by a spring-forward) are not working
  time, and local times that happen twice (repeated by a fall-back) count twice.

``None`` instead of a calendar means the wall clock: every second counts.
Inputs may be naive (taken as UTC); results are aware UTC datetimes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo

from abmsync.rules.model import Calendar, RuleSet, SlaRule
from abmsync.schema import utc

_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_SECOND = timedelta(seconds=1)
_DAY = timedelta(days=1)
# Offsets are sampled this far apart to find a daylight-saving transition
# inside one day's window; zones change offset at most once in such a span.
_SAMPLE_SECONDS = 6 * 3600

Window = tuple[datetime, datetime]


def add_working_time(start: datetime, seconds: float, calendar: Calendar | None) -> datetime:
    """The moment ``seconds`` of working time after ``start``.

    Outside working time the clock waits for the next opening, so a timer
    started on Friday evening runs from Monday morning; with ``seconds == 0``
    the result is that opening (or ``start`` itself inside working time). A
    deadline that uses up a window exactly is that window's end, not the next
    opening. Raises ``ValueError`` for a negative or non-finite duration.
    """
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"working time must be a finite number of seconds >= 0, not {seconds}")
    begin = utc(start)
    remaining = timedelta(seconds=seconds)
    if calendar is None:
        return begin + remaining
    for opens, closes in _windows_from(_schedule(calendar), begin):
        if closes <= begin:
            continue
        opens = max(opens, begin)
        if remaining <= closes - opens:
            return opens + remaining
        remaining -= closes - opens
    raise AssertionError("unreachable: a calendar with working days has windows forever")


def working_seconds(start: datetime, end: datetime, calendar: Calendar | None) -> float:
    """Seconds of working time between ``start`` and ``end`` (negative when ``end`` is earlier).

    The inverse of :func:`add_working_time`:
    ``working_seconds(s, add_working_time(s, x, c), c) == x``.
    """
    begin, finish = utc(start), utc(end)
    if finish < begin:
        return -working_seconds(finish, begin, calendar)
    if calendar is None:
        return (finish - begin).total_seconds()
    total = timedelta(0)
    for opens, closes in _windows_from(_schedule(calendar), begin):
        if opens >= finish:
            break
        overlap = min(closes, finish) - max(opens, begin)
        if overlap > timedelta(0):
            total += overlap
    return total.total_seconds()


def calendar_for(ruleset: RuleSet, sla: SlaRule, queue: str | None) -> Calendar | None:
    """The calendar an SLA timer runs on.

    The SLA rule's own ``calendar`` wins; otherwise the calendar of the routing
    queue the person was assigned through; otherwise ``None`` (the wall
    clock). A queue that is no longer in the rules file has no calendar. A
    calendar name that is not defined raises ``ValueError`` (the validator
    reports it with its location first).
    """
    name = sla.calendar
    if name is None and queue is not None and ruleset.routing is not None:
        routed = ruleset.routing.queues.get(queue)
        name = routed.calendar if routed is not None else None
    if name is None:
        return None
    calendar = ruleset.calendars.get(name)
    if calendar is None:
        known = ", ".join(sorted(ruleset.calendars)) or "none defined"
        raise ValueError(f"SLA for stage '{sla.stage}': unknown calendar '{name}' ({known})")
    return calendar


@dataclass(frozen=True)
class _Schedule:
    """A calendar in a hashable, precomputed form (the model holds lists)."""

    zone: ZoneInfo
    opens: timedelta  # after local midnight
    closes: timedelta  # after local midnight; 24h = the next midnight
    weekdays: frozenset[int]
    holidays: frozenset[date]


def _schedule(calendar: Calendar) -> _Schedule:
    if not calendar.days:
        raise ValueError("a calendar needs at least one working day")
    opens, closes = timedelta(0), _DAY
    if calendar.hours is not None:
        first, last = calendar.hours.split("-")
        # "24:00" closes at midnight; nothing runs into the next day.
        opens, closes = _clock(first), min(_clock(last), _DAY)
    return _Schedule(
        zone=ZoneInfo(calendar.timezone),
        opens=opens,
        closes=closes,
        weekdays=frozenset(_WEEKDAYS[day] for day in calendar.days),
        holidays=frozenset(calendar.holidays),
    )


def _clock(text: str) -> timedelta:
    hours, minutes = text.split(":")
    return timedelta(hours=int(hours), minutes=int(minutes))


def _windows_from(schedule: _Schedule, instant: datetime) -> Iterator[Window]:
    """Working windows in time order, from the one that may hold ``instant`` on, forever."""
    day = instant.astimezone(schedule.zone).date() - _DAY
    previous_end = _EPOCH.replace(year=1)
    while True:
        for opens, closes in _day_windows(schedule, day):
            # Keep windows ordered and disjoint even where a zone's clock goes
            # back across midnight and two local dates share real time.
            opens = max(opens, previous_end)
            if opens < closes:
                yield opens, closes
                previous_end = closes
        day += _DAY


@lru_cache(maxsize=8192)
def _day_windows(schedule: _Schedule, day: date) -> tuple[Window, ...]:
    """The real-time intervals in which a clock in the zone shows ``day`` within hours.

    Usually one interval: the local opening and closing times converted with
    the day's UTC offset. On a day the offset changes between them, each
    stretch of constant offset gives its own piece (adjacent pieces merge), so
    a skipped hour is left out and a repeated one is counted twice.
    """
    if day.weekday() not in schedule.weekdays or day in schedule.holidays:
        return ()
    midnight = datetime.combine(day, time())
    local_open, local_close = midnight + schedule.opens, midnight + schedule.closes
    offsets = {
        _wall_offset(local, schedule.zone, fold)
        for local in (local_open, local_close)
        for fold in (0, 1)
    }
    # Any instant whose wall time is in [open, close) lies in this span of real time.
    first = _seconds(local_open - max(offsets))
    last = _seconds(local_close - min(offsets))
    pieces: list[Window] = []
    for start, end, offset in _constant_offsets(schedule.zone, first, last):
        lower = max(start, _seconds(local_open - offset))
        upper = min(end, _seconds(local_close - offset))
        if lower >= upper:
            continue
        if pieces and pieces[-1][1] == _instant(lower):
            pieces[-1] = (pieces[-1][0], _instant(upper))
        else:
            pieces.append((_instant(lower), _instant(upper)))
    return tuple(pieces)


def _constant_offsets(zone: ZoneInfo, first: int, last: int) -> list[tuple[int, int, timedelta]]:
    """Split the seconds ``[first, last)`` into stretches of one UTC offset each."""
    samples = [*range(first, last, _SAMPLE_SECONDS), last]
    stretches: list[tuple[int, int, timedelta]] = []
    start, offset = first, _offset_at(zone, first)
    for low, high in pairwise(samples):
        while _offset_at(zone, high) != offset:
            change = _next_change(zone, low, high, offset)
            stretches.append((start, change, offset))
            start, offset, low = change, _offset_at(zone, change), change
    stretches.append((start, last, offset))
    return stretches


def _next_change(zone: ZoneInfo, low: int, high: int, offset: timedelta) -> int:
    """The first second in ``(low, high]`` whose offset is not ``offset`` (``low`` has it)."""
    while high - low > 1:
        middle = (low + high) // 2
        if _offset_at(zone, middle) == offset:
            low = middle
        else:
            high = middle
    return high


def _offset_at(zone: ZoneInfo, seconds: int) -> timedelta:
    offset = (_EPOCH + timedelta(seconds=seconds)).astimezone(zone).utcoffset()
    assert offset is not None  # a ZoneInfo always knows its offset
    return offset


def _wall_offset(local: datetime, zone: ZoneInfo, fold: int) -> timedelta:
    offset = local.replace(tzinfo=zone, fold=fold).utcoffset()
    assert offset is not None
    return offset


def _seconds(naive_utc: datetime) -> int:
    return (naive_utc - _EPOCH_NAIVE) // _SECOND


def _instant(seconds: int) -> datetime:
    return _EPOCH + timedelta(seconds=seconds)
