"""Scheduled syncs run when due, skip what they overran, survive a bad run and stop politely."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from abmsync.errors import ConfigError
from abmsync.sync.schedule import (
    Schedule,
    StopSignal,
    parse_every,
    run_scheduled,
    schedule_from_options,
)

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


def at(text: str) -> datetime:
    """An aware datetime from ISO text with an offset, e.g. ``2026-03-29T01:40+01:00``."""
    return datetime.fromisoformat(text)


def local(moments: list[datetime]) -> list[str]:
    """Berlin wall-clock times with their offsets, as ISO text (offsets show DST)."""
    return [m.astimezone(BERLIN).isoformat(timespec="minutes") for m in moments]


def following(schedule: Schedule, start: datetime, count: int) -> list[datetime]:
    times = [schedule.next_after(start)]
    while len(times) < count:
        times.append(schedule.next_after(times[-1]))
    return times


# -- parse_every ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("90s", timedelta(seconds=90)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        (" 15M\n", timedelta(minutes=15)),
        ("1s", timedelta(seconds=1)),
    ],
)
def test_parse_every_reads_numbers_with_units(text: str, expected: timedelta) -> None:
    assert parse_every(text) == expected


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("0m", "longer than zero"),
        ("0h0m", "longer than zero"),
        ("-5m", "longer than zero"),
        ("15", "a whole number and a unit"),
        ("", "a whole number and a unit"),
        ("fifteen minutes", "a whole number and a unit"),
        ("1.5h", "a whole number and a unit"),
        ("30m1h", "a whole number and a unit"),
        ("1w", "a whole number and a unit"),
        ("999999999d999999999h", "too long"),
    ],
)
def test_parse_every_rejects_bad_values_in_one_line_with_an_example(
    text: str, complaint: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_every(text)
    assert_one_line(caught.value, text, complaint, "e.g. ")


# -- every ------------------------------------------------------------------


def test_every_is_measured_from_the_previous_start() -> None:
    every = Schedule.every(timedelta(minutes=15))
    assert every.next_after(T0) == T0 + timedelta(minutes=15)
    # A 5-minute run that started at T0 and ended at 12:05 is followed at 12:15.
    assert every.next_run(T0, T0 + timedelta(minutes=5)) == T0 + timedelta(minutes=15)


def test_every_skips_the_slots_an_overrunning_run_missed() -> None:
    every = Schedule.every(timedelta(minutes=15))
    assert every.next_run(T0, T0 + timedelta(minutes=20)) == T0 + timedelta(minutes=30)
    assert every.next_run(T0, T0 + timedelta(minutes=50)) == T0 + timedelta(minutes=60)
    # Ending exactly on a slot runs on that slot.
    assert every.next_run(T0, T0 + timedelta(minutes=30)) == T0 + timedelta(minutes=30)


def test_every_counts_real_time_across_a_dst_change() -> None:
    before_jump = at("2026-03-29T01:30+01:00")
    assert local([Schedule.every(timedelta(hours=1)).next_after(before_jump)]) == [
        "2026-03-29T03:30+02:00"
    ]


def test_every_refuses_zero_and_naive_times() -> None:
    with pytest.raises(ConfigError, match="longer than zero"):
        Schedule.every(timedelta(0))
    with pytest.raises(ValueError, match="no time zone"):
        Schedule.every(timedelta(minutes=1)).next_after(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("interval", "described"),
    [
        (timedelta(minutes=15), "every 15 minutes"),
        (timedelta(hours=1), "every hour"),
        (timedelta(hours=1, minutes=30), "every 1 hour 30 minutes"),
        (timedelta(seconds=90), "every 1 minute 30 seconds"),
        (timedelta(days=2), "every 2 days"),
        (timedelta(milliseconds=250), "every 0.25 seconds"),
    ],
)
def test_every_describes_itself_for_logs(interval: timedelta, described: str) -> None:
    assert Schedule.every(interval).describe() == described


# -- cron -------------------------------------------------------------------


def test_cron_every_quarter_hour_in_utc() -> None:
    cron = Schedule.cron("*/15 * * * *")
    assert following(cron, T0 + timedelta(minutes=1), 3) == [
        T0 + timedelta(minutes=15),
        T0 + timedelta(minutes=30),
        T0 + timedelta(minutes=45),
    ]
    assert cron.next_after(T0) == T0 + timedelta(minutes=15), "strictly after the moment"
    assert cron.describe() == "cron */15 * * * * (UTC)"


def test_cron_keeps_a_quarter_hour_pace_through_the_spring_jump_in_berlin() -> None:
    cron = Schedule.cron("*/15 * * * *", tz="Europe/Berlin")
    assert local(following(cron, at("2026-03-29T01:40+01:00"), 3)) == [
        "2026-03-29T01:45+01:00",
        "2026-03-29T03:00+02:00",
        "2026-03-29T03:15+02:00",
    ]


def test_cron_fixed_time_jobs_follow_local_time_across_dst_in_berlin() -> None:
    nine = Schedule.cron("0 9 * * *", tz="Europe/Berlin")
    assert local(following(nine, at("2026-03-28T10:00+01:00"), 2)) == [
        "2026-03-29T09:00+02:00",
        "2026-03-30T09:00+02:00",
    ]
    # 02:30 does not exist on the spring day: the job runs right after the jump.
    half_past_two = Schedule.cron("30 2 * * *", tz="Europe/Berlin")
    assert local(following(half_past_two, at("2026-03-28T12:00+01:00"), 2)) == [
        "2026-03-29T03:00+02:00",
        "2026-03-30T02:30+02:00",
    ]
    # 02:30 happens twice on the autumn day: the job runs once.
    assert local(following(half_past_two, at("2026-10-24T12:00+02:00"), 2)) == [
        "2026-10-25T02:30+02:00",
        "2026-10-26T02:30+01:00",
    ]


def test_cron_inside_the_repeated_autumn_hour_never_goes_back_in_time() -> None:
    second_time_round = at("2026-10-25T02:05+01:00")
    nxt = Schedule.cron("10 2 * * *", tz="Europe/Berlin").next_after(second_time_round)
    assert nxt > second_time_round
    assert local([nxt]) == ["2026-10-26T02:10+01:00"]


def test_cron_runs_both_passes_of_the_repeated_hour_for_wildcard_hours() -> None:
    cron = Schedule.cron("*/30 * * * *", tz="Europe/Berlin")
    assert local(following(cron, at("2026-10-25T01:50+02:00"), 4)) == [
        "2026-10-25T02:00+02:00",
        "2026-10-25T02:30+02:00",
        "2026-10-25T02:00+01:00",
        "2026-10-25T02:30+01:00",
    ]


def test_cron_skips_slots_a_run_overran() -> None:
    cron = Schedule.cron("*/15 * * * *")
    assert cron.next_run(T0, T0 + timedelta(minutes=20)) == T0 + timedelta(minutes=30)
    assert cron.next_run(T0, T0 + timedelta(minutes=30)) == T0 + timedelta(minutes=30)
    assert cron.next_run(T0, T0 + timedelta(minutes=5)) == T0 + timedelta(minutes=15)


@pytest.mark.parametrize(
    ("expression", "complaint"),
    [
        ("*/15 * * *", "expected 5 fields"),
        ("0 */15 * * * *", "expected 5 fields"),
        ("@hourly", "expected 5 fields"),
        ("61 * * * *", "bad minute"),
        ("*/0 * * * *", "bad minute"),
        ("0 25 * * *", "bad hour"),
        ("0 0 30 2 *", "bad day-of-month"),
        ("0 0 * * funday", "bad day-of-week"),
    ],
)
def test_invalid_cron_expressions_are_one_line_config_errors(
    expression: str, complaint: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Schedule.cron(expression)
    assert_one_line(caught.value, expression, complaint, "'*/15 * * * *'")


def test_unknown_time_zone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Olympus'"):
        Schedule.cron("0 9 * * *", tz="Mars/Olympus")


def test_options_give_one_schedule_or_none() -> None:
    assert schedule_from_options(None, None) is None
    assert schedule_from_options("15m", None) == Schedule.every(timedelta(minutes=15))
    cron = schedule_from_options(None, " 0  9 * * 1-5 ", tz="Europe/Berlin")
    assert cron is not None
    assert cron.describe() == "cron 0 9 * * 1-5 (Europe/Berlin)"
    with pytest.raises(ConfigError, match="not both"):
        schedule_from_options("15m", "*/15 * * * *")


# -- run_scheduled ----------------------------------------------------------


class SimulatedTime(StopSignal):
    """A real StopSignal whose sleeps pass simulated time instead of real time.

    ``run_scheduled`` sleeps only through ``stop.wait``, so this lets a test
    watch hours of schedule in microseconds; a job "takes" time with ``spend``.
    """

    def __init__(self, start: datetime) -> None:
        super().__init__()
        self.now = start
        self.slept = timedelta(0)

    def clock(self) -> datetime:
        return self.now

    def spend(self, duration: timedelta) -> None:
        self.now += duration

    def wait(self, seconds: float) -> bool:
        if self.requested:
            return True
        self.spend(timedelta(seconds=seconds))
        self.slept += timedelta(seconds=seconds)
        return False


def test_without_a_schedule_the_job_runs_once() -> None:
    results: list[str] = []
    with StopSignal() as stop:
        runs = run_scheduled(lambda: "synced", None, stop, on_result=results.append)
    assert runs == 1
    assert results == ["synced"]


def test_runs_at_a_fixed_rate_until_a_stop_is_requested() -> None:
    time_ = SimulatedTime(T0)
    starts: list[datetime] = []

    def job() -> int:
        starts.append(time_.now)
        time_.spend(timedelta(minutes=4))
        if len(starts) == 4:
            time_.request()
        return len(starts)

    results: list[int] = []
    runs = run_scheduled(
        job,
        Schedule.every(timedelta(minutes=15)),
        time_,
        clock=time_.clock,
        on_result=results.append,
    )
    assert runs == 4
    assert results == [1, 2, 3, 4]
    assert starts == [T0 + timedelta(minutes=15 * i) for i in range(4)]
    assert time_.slept == 3 * timedelta(minutes=11)


def test_a_run_that_overruns_skips_its_missed_slots_instead_of_running_back_to_back() -> None:
    time_ = SimulatedTime(T0)
    starts: list[datetime] = []
    planned: list[datetime] = []

    def job() -> None:
        starts.append(time_.now)
        time_.spend(timedelta(minutes=40) if len(starts) == 1 else timedelta(minutes=1))
        if len(starts) == 3:
            time_.request()

    run_scheduled(
        job,
        Schedule.every(timedelta(minutes=15)),
        time_,
        clock=time_.clock,
        on_wait=planned.append,
    )
    assert starts == [T0, T0 + timedelta(minutes=45), T0 + timedelta(minutes=60)]
    assert planned == starts[1:]


def test_a_cron_schedule_runs_now_then_on_each_match() -> None:
    time_ = SimulatedTime(T0 + timedelta(minutes=7))
    starts: list[datetime] = []

    def job() -> None:
        starts.append(time_.now)
        if len(starts) == 3:
            time_.request()

    run_scheduled(job, Schedule.cron("*/15 * * * *"), time_, clock=time_.clock)
    assert starts == [T0 + timedelta(minutes=m) for m in (7, 15, 30)]


def test_a_failed_run_goes_to_on_error_and_the_loop_goes_on() -> None:
    time_ = SimulatedTime(T0)
    attempts: list[int] = []
    results: list[int] = []
    errors: list[Exception] = []

    def job() -> int:
        attempts.append(len(attempts) + 1)
        if len(attempts) == 4:
            time_.request()
        if len(attempts) == 2:
            raise RuntimeError("CRM returned 500 for every batch")
        return len(attempts)

    runs = run_scheduled(
        job,
        Schedule.every(timedelta(minutes=15)),
        time_,
        clock=time_.clock,
        on_result=results.append,
        on_error=errors.append,
    )
    assert runs == 4
    assert results == [1, 3, 4]
    assert [str(e) for e in errors] == ["CRM returned 500 for every batch"]


def test_without_on_error_a_failed_run_propagates() -> None:
    time_ = SimulatedTime(T0)

    def job() -> None:
        raise ConfigError("bad mapping")

    with pytest.raises(ConfigError, match="bad mapping"):
        run_scheduled(job, Schedule.every(timedelta(minutes=15)), time_, clock=time_.clock)


def test_keyboard_interrupt_is_never_handed_to_on_error() -> None:
    time_ = SimulatedTime(T0)
    errors: list[Exception] = []

    def job() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_scheduled(
            job,
            Schedule.every(timedelta(minutes=15)),
            time_,
            clock=time_.clock,
            on_error=errors.append,
        )
    assert errors == []


def test_a_stop_requested_before_the_first_run_runs_nothing() -> None:
    stop = StopSignal()
    stop.request()
    assert run_scheduled(lambda: None, Schedule.every(timedelta(minutes=1)), stop) == 0


def test_short_real_intervals_run_until_the_event_is_set() -> None:
    runs_seen: list[int] = []
    outcome: list[int] = []

    def worker() -> None:
        with StopSignal() as stop:

            def job() -> None:
                runs_seen.append(len(runs_seen) + 1)
                if len(runs_seen) == 5:
                    stop.request()

            outcome.append(run_scheduled(job, Schedule.every(timedelta(milliseconds=5)), stop))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert outcome == [5]
    assert runs_seen == [1, 2, 3, 4, 5]


def test_a_stop_from_another_thread_wakes_the_sleeping_loop() -> None:
    stop = StopSignal()
    first_run = threading.Event()
    outcome: list[int] = []

    def worker() -> None:
        with stop:
            outcome.append(run_scheduled(first_run.set, Schedule.every(timedelta(hours=1)), stop))

    thread = threading.Thread(target=worker)
    thread.start()
    assert first_run.wait(timeout=30)
    stop.request()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert outcome == [1]


# -- StopSignal -------------------------------------------------------------


def test_outside_the_main_thread_stop_signal_is_a_plain_event() -> None:
    before = signal.getsignal(signal.SIGTERM)
    seen: list[object] = []

    def worker() -> None:
        with StopSignal() as stop:
            seen.append(signal.getsignal(signal.SIGTERM))
            assert not stop.wait(0.001)
            stop.request()
            seen.append(stop.wait(30))
            seen.append(stop.received)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(timeout=30)
    assert seen == [before, True, None]


def signal_myself_and_sleep(signum: signal.Signals) -> None:
    os.kill(os.getpid(), signum)
    time.sleep(30)  # a handler that raises interrupts this sleep


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_requests_a_stop_and_the_old_handlers_come_back() -> None:
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    with StopSignal() as stop:
        assert signal.getsignal(signal.SIGTERM) != previous[signal.SIGTERM]
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(30)
        assert stop.requested
        assert stop.received is signal.SIGTERM
        with pytest.raises(KeyboardInterrupt):
            signal_myself_and_sleep(signal.SIGINT)
    assert {s: signal.getsignal(s) for s in previous} == previous


# -- a real process under SIGTERM --------------------------------------------

SCRIPT = textwrap.dedent(
    """
    import sys, time
    from datetime import timedelta
    from abmsync.sync.schedule import Schedule, StopSignal, run_scheduled

    def job() -> None:
        print("run started", flush=True)
        for batch in range(1, 20_000):
            time.sleep(0.01)  # writing one batch
            if stop.requested:
                print(f"stop seen after batch {batch}", flush=True)
                if "--stubborn" in sys.argv:
                    time.sleep(60)  # ignores the stop; a second signal must interrupt it
                print("run finished", flush=True)
                return

    try:
        with StopSignal() as stop:
            runs = run_scheduled(job, Schedule.every(timedelta(hours=1)), stop)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(130)
    print(f"stopped by {stop.received.name} after {runs} run(s)", flush=True)
    """
)


def start_sync(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    return process.stdout.readline().strip()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.timeout(120)
def test_sigterm_finishes_the_current_run_then_exits_cleanly() -> None:
    process = start_sync()
    try:
        assert read_line(process) == "run started"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    lines = out.splitlines()
    assert process.returncode == 0, err
    assert lines[0].startswith("stop seen after batch ")
    assert lines[1:] == ["run finished", "stopped by SIGTERM after 1 run(s)"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.timeout(120)
def test_a_second_sigterm_while_stopping_interrupts_the_run() -> None:
    process = start_sync("--stubborn")
    try:
        assert read_line(process) == "run started"
        process.send_signal(signal.SIGTERM)
        assert read_line(process).startswith("stop seen after batch ")
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert out.splitlines() == ["interrupted"]


def assert_one_line(error: Exception, value: str, complaint: str, example: str) -> None:
    """The message quotes the bad value, says what is wrong, shows an example, in one line."""
    message = str(error)
    assert repr(value) in message
    assert complaint in message
    assert example in message
    assert "\n" not in message
