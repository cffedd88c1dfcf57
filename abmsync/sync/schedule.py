"""When ``abmsync sync --every 15m`` / ``--cron "*/15 * * * *"`` runs, and how it stops.

Three pieces, each usable alone:

- ``parse_every`` and ``Schedule``: the next time a run is due. ``every``
  schedules run at a fixed rate; ``cron`` schedules follow a five-field cron
  expression in an IANA time zone, through daylight-saving changes.
- ``StopSignal``: SIGTERM or Ctrl-C asks the run to stop at the next batch
  boundary instead of killing it mid-write; a second signal stops it at once.
- ``run_scheduled``: runs a job now and then at every due time until a stop is
  requested, surviving a failed run.

All times handed out are aware UTC datetimes; only cron matching looks at
local time.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType, TracebackType
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from abmsync.errors import ConfigError

T = TypeVar("T")
Clock = Callable[[], datetime]

_EVERY = re.compile(
    r"(?:(?P<d>\d{1,9})d)?(?:(?P<h>\d{1,9})h)?(?:(?P<m>\d{1,9})m)?(?:(?P<s>\d{1,9})s)?"
)
_UNITS = (("d", "day", 86400), ("h", "hour", 3600), ("m", "minute", 60), ("s", "second", 1))
_CRON_FIELDS = "minute hour day-of-month month day-of-week"
_CRON_EXAMPLE = "'*/15 * * * *'"
# Event.wait times out on the monotonic clock, which stands still while the
# machine is suspended and ignores clock corrections; waking at least once a
# minute to re-read the clock keeps such a run at most a minute late.
_LONGEST_NAP = 60.0
_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_WAKE, _QUIT = b"w", b"q"

_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


def utc_now() -> datetime:
    """The current time as an aware UTC datetime: ``run_scheduled``'s default clock."""
    return datetime.now(UTC)


def parse_every(text: str) -> timedelta:
    """Parse an interval such as ``15m``, ``1h``, ``90s``, ``1h30m`` or ``2d``.

    Units are ``d``, ``h``, ``m`` and ``s``, each at most once and in that
    order, with whole numbers. Any interval of one second or more is accepted:
    there is deliberately no one-minute floor, but a sync that runs every few
    seconds will mostly find nothing to do. Zero, negative and unreadable values
    raise ``ConfigError`` naming the value and showing a valid example.
    """
    cleaned = text.strip().lower()
    found = _EVERY.fullmatch(cleaned)
    if cleaned.startswith("-"):
        raise ConfigError(f"invalid interval {text!r}: it must be longer than zero, e.g. 15m")
    if found is None or not any(found.groups()):
        raise ConfigError(
            f"invalid interval {text!r}: write a whole number and a unit (d, h, m, s), "
            "e.g. 15m, 1h or 1h30m"
        )
    seconds = sum(int(found[key] or 0) * size for key, _, size in _UNITS)
    if seconds == 0:
        raise ConfigError(f"invalid interval {text!r}: it must be longer than zero, e.g. 15m")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ConfigError(f"invalid interval {text!r}: it is too long, e.g. 7d") from None


class Schedule(ABC):
    """When runs are due: build one with ``Schedule.every`` or ``Schedule.cron``."""

    @staticmethod
    def every(interval: timedelta) -> EverySchedule:
        """A fixed-rate schedule; any positive interval (``parse_every`` reads ``15m``)."""
        return EverySchedule(interval)

    @staticmethod
    def cron(expression: str, tz: str = "UTC") -> CronSchedule:
        """A schedule following a five-field cron expression in the IANA time zone ``tz``."""
        try:
            zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"unknown time zone {tz!r}: use an IANA name such as 'UTC' or 'Europe/Berlin'"
            ) from None
        return CronSchedule(" ".join(expression.split()), zone)

    @abstractmethod
    def next_after(self, moment: datetime) -> datetime:
        """The first due time strictly after the aware datetime ``moment``, in UTC."""

    @abstractmethod
    def next_run(self, previous: datetime, now: datetime) -> datetime:
        """When the run after one due at ``previous`` starts, given that it is ``now``.

        That is ``next_after(previous)``, unless the previous run overran it:
        then the first due time not before ``now``. Missed slots are skipped,
        never caught up by running back to back.
        """

    @abstractmethod
    def describe(self) -> str:
        """The schedule for logs: ``every 15 minutes``, ``cron */15 * * * * (UTC)``."""


@dataclass(frozen=True)
class EverySchedule(Schedule):
    """Runs at a fixed rate: each run is due ``interval`` after the previous one was due.

    The rate is measured from the start of the previous run (when it was due,
    so wake-up lag does not accumulate), not from its end. A run that takes
    longer than ``interval`` skips the slots it overran: every 15 minutes with a
    20-minute run starting at 12:00 runs next at 12:30, not at 12:20.
    """

    interval: timedelta

    def __post_init__(self) -> None:
        if self.interval <= timedelta(0):
            raise ConfigError(f"invalid interval {self.interval}: it must be longer than zero")

    def next_after(self, moment: datetime) -> datetime:
        return _utc(moment) + self.interval

    def next_run(self, previous: datetime, now: datetime) -> datetime:
        due, now = self.next_after(previous), _utc(now)
        if due >= now:
            return due
        missed, late = divmod(now - due, self.interval)
        return due + (missed + (1 if late else 0)) * self.interval

    def describe(self) -> str:
        if self.interval % timedelta(seconds=1):
            return f"every {self.interval.total_seconds():g} seconds"
        left, parts = int(self.interval.total_seconds()), []
        for _, name, size in _UNITS:
            count, left = divmod(left, size)
            if count:
                parts.append(f"{count} {name}{'' if count == 1 else 's'}")
        if len(parts) == 1 and parts[0].startswith("1 "):
            return f"every {parts[0][2:]}"  # "every hour", not "every 1 hour"
        return "every " + " ".join(parts)


@dataclass(frozen=True)
class CronSchedule(Schedule):
    """Runs at the times a standard five-field cron expression matches in ``timezone``.

    Daylight-saving changes follow Debian cron: a job at a fixed local time
    that falls in the hour skipped in spring runs right after the jump (02:30 →
    03:00), one in the hour repeated in autumn runs once; jobs with ``*`` in the
    minute or hour keep running at the same real-time pace throughout.
    """

    expression: str
    timezone: ZoneInfo

    def __post_init__(self) -> None:
        fields = self.expression.split()
        if len(fields) != 5:
            raise ConfigError(
                f"invalid cron expression {self.expression!r}: expected 5 fields "
                f"({_CRON_FIELDS}), e.g. {_CRON_EXAMPLE}"
            )
        try:
            CronSim(self.expression, datetime.now(self.timezone))
        except CronSimError as exc:
            raise ConfigError(
                f"invalid cron expression {self.expression!r}: {str(exc).lower()}, "
                f"e.g. {_CRON_EXAMPLE}"
            ) from None

    def next_after(self, moment: datetime) -> datetime:
        start = _utc(moment)
        times = CronSim(self.expression, start.astimezone(self.timezone))
        try:
            # Wall-clock matching can land before a start inside the repeated
            # autumn hour (02:10 the second time round matches "10 2" the first
            # time round): keep going until the match is really later.
            while (found := next(times).astimezone(UTC)) <= start:
                pass
        except StopIteration:
            raise ConfigError(
                f"cron expression {self.expression!r} never matches, e.g. {_CRON_EXAMPLE}"
            ) from None
        return found

    def next_run(self, previous: datetime, now: datetime) -> datetime:
        due, now = self.next_after(previous), _utc(now)
        return due if due >= now else self.next_after(now - timedelta(microseconds=1))

    def describe(self) -> str:
        return f"cron {self.expression} ({self.timezone.key})"


def schedule_from_options(every: str | None, cron: str | None, tz: str = "UTC") -> Schedule | None:
    """The schedule the ``--every`` / ``--cron`` options ask for; ``None`` runs once.

    ``tz`` only applies to ``cron``. Giving both options raises ``ConfigError``.
    """
    if every is not None and cron is not None:
        raise ConfigError("choose either --every (e.g. 15m) or --cron, not both")
    if every is not None:
        return Schedule.every(parse_every(every))
    if cron is not None:
        return Schedule.cron(cron, tz)
    return None


class StopSignal:
    """Turns SIGTERM and Ctrl-C into a polite request to stop, while in a ``with`` block.

    The first SIGTERM or SIGINT sets ``requested``: the job finishes the batch
    it is writing and the loop ends. A second one, once a stop is requested,
    raises ``KeyboardInterrupt`` wherever the program is: the user insists.
    Leaving the block puts the previous handlers back.

    Signal handlers can only be installed from the main thread; entered in any
    other thread (as tests do) it is a plain event that ``request`` sets.

    The handler itself takes no lock: CPython warns that a handler touching a
    ``threading`` primitive can deadlock if the signal lands while the main
    thread holds that primitive's lock, which ``wait`` does all the time. It
    writes a byte to a pipe instead, and a small relay thread sets the event.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._asked = False  # set at once by the handler; the event follows from the relay
        self._received: signal.Signals | None = None
        self._previous: dict[signal.Signals, _Handler] = {}
        self._pipe: tuple[int, int] | None = None
        self._relay: threading.Thread | None = None

    @property
    def requested(self) -> bool:
        """Whether a stop was requested; jobs check this between batches."""
        return self._asked or self._event.is_set()

    @property
    def received(self) -> signal.Signals | None:
        """The signal that requested the stop, if one did (for the final log line)."""
        return self._received

    def request(self) -> None:
        """Ask for a stop from code, as SIGTERM would (thread-safe; not from a signal handler)."""
        self._asked = True
        self._event.set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds`` or until a stop is requested; ``True`` if one was."""
        return self.requested or self._event.wait(seconds)

    def __enter__(self) -> StopSignal:
        if self._pipe is not None:
            raise RuntimeError("this StopSignal is already in use; make a new one")
        if threading.current_thread() is not threading.main_thread():
            return self
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        self._pipe = (read_end, write_end)
        self._relay = threading.Thread(
            target=self._relay_wakeups, args=(read_end,), name="abmsync-stop-relay", daemon=True
        )
        self._relay.start()
        for signum in _SIGNALS:
            self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if previous is None else previous)
        self._previous.clear()
        if self._pipe is not None and self._relay is not None:
            read_end, write_end = self._pipe
            os.write(write_end, _QUIT)
            self._relay.join()
            os.close(read_end)
            os.close(write_end)
            self._pipe = self._relay = None

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt(f"{signal.Signals(signum).name} while stopping")
        self._received = signal.Signals(signum)
        self._asked = True
        if self._pipe is not None:
            with contextlib.suppress(BlockingIOError):  # full of wake-ups already
                os.write(self._pipe[1], _WAKE)

    def _relay_wakeups(self, read_end: int) -> None:
        while True:
            data = os.read(read_end, 64)
            if _WAKE in data:
                self._event.set()
            if not data or _QUIT in data:
                return


def run_scheduled(
    job: Callable[[], T],
    schedule: Schedule | None,
    stop: StopSignal,
    *,
    clock: Clock = utc_now,
    on_result: Callable[[T], None] | None = None,
    on_error: Callable[[Exception], None] | None = None,
    on_wait: Callable[[datetime], None] | None = None,
) -> int:
    """Run ``job`` now and, with a schedule, again whenever it is due, until a stop is requested.

    Without a schedule the job runs once. Otherwise the loop sleeps (waking
    at once when a stop is requested) until ``schedule.next_run`` says the next
    run is due by ``clock`` (aware datetimes; UTC now unless a test passes its
    own); ``on_wait`` hears that time before each sleep. Each result goes
    to ``on_result``. An ``Exception`` from a run goes to ``on_error`` and the
    loop goes on, so one bad run does not end a scheduled sync; ``on_error``
    may re-raise to end it (say, for a ``TerminalError``), and without
    ``on_error`` the exception propagates. ``KeyboardInterrupt`` always
    propagates.

    ``stop`` is only checked between runs: the job must itself check
    ``stop.requested`` between batches and return early when it is set. So a
    SIGTERM finishes the current batch, then the run, then the loop; a second
    signal interrupts the job. Returns the number of runs started, failed ones
    included; none if a stop was requested before the first.
    """
    runs = 0
    due = clock()
    while not stop.requested:
        runs += 1
        try:
            result = job()
        except Exception as exc:
            if on_error is None:
                raise
            on_error(exc)
        else:
            if on_result is not None:
                on_result(result)
        if schedule is None or stop.requested:
            break
        due = schedule.next_run(due, clock())
        if on_wait is not None:
            on_wait(due)
        _sleep_until(due, stop, clock)
    return runs


def _sleep_until(due: datetime, stop: StopSignal, clock: Clock) -> None:
    while not stop.requested and (left := (due - clock()).total_seconds()) > 0:
        stop.wait(min(left, _LONGEST_NAP))


def _utc(moment: datetime) -> datetime:
    if moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; pass an aware datetime")
    return moment.astimezone(UTC)
