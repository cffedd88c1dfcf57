"""ApiBudget: every request counted, the reserve kept, a clean stop that is never retried."""

from __future__ import annotations

import threading

import pytest

from abmsync.connectors.budget import ApiBudget, BudgetSnapshot
from abmsync.connectors.retry import call_with_retries
from abmsync.errors import (
    AbmsyncError,
    BudgetExhaustedError,
    ConfigError,
    TerminalError,
    TransientError,
)


def spend(budget: ApiBudget, calls: int = 1) -> None:
    for _ in range(calls):
        with budget.request():
            pass


def test_every_request_is_counted() -> None:
    budget = ApiBudget("salesforce")
    spend(budget, 3)
    assert budget.calls == 3
    assert budget.snapshot() == BudgetSnapshot(system="salesforce", calls=3)


def test_a_request_that_fails_is_counted_all_the_same() -> None:
    budget = ApiBudget("hubspot")
    with pytest.raises(ConnectionError), budget.request():
        raise ConnectionError("reset by peer")
    assert budget.calls == 1


def test_until_the_vendor_reports_the_quota_only_the_cap_applies() -> None:
    budget = ApiBudget("salesforce", reserve_percent=100)
    spend(budget, 50)
    assert budget.snapshot().remaining is None


def test_the_call_that_would_eat_into_the_reserve_is_refused_before_it_is_sent() -> None:
    budget = ApiBudget("salesforce", reserve_percent=10)
    budget.observe(remaining=1_502, maximum=15_000)
    spend(budget, 2)  # leaves 1,500: exactly the reserve
    sent: list[int] = []
    with pytest.raises(BudgetExhaustedError) as stop, budget.request():
        sent.append(1)
    assert str(stop.value) == (
        "salesforce: API budget reached: 13,500 of 15,000 daily calls used, "
        "10% (1,500) kept in reserve"
    )
    assert sent == [] and budget.calls == 2
    assert budget.snapshot() == BudgetSnapshot(
        system="salesforce", calls=2, remaining=1_500, daily_max=15_000, reserve=1_500
    )


def test_max_calls_stops_the_run_at_the_cap() -> None:
    budget = ApiBudget("hubspot", max_calls=3)
    spend(budget, 3)
    with pytest.raises(BudgetExhaustedError, match=r"^hubspot: .*3 calls .*the cap \(max_calls\)"):
        spend(budget)
    assert budget.calls == 3


def test_a_fresh_report_corrects_the_estimate_up_or_down() -> None:
    budget = ApiBudget("salesforce")
    budget.observe(remaining=500, maximum=1_000)
    spend(budget, 10)
    assert budget.snapshot().remaining == 490
    budget.observe(remaining=495, maximum=1_000)  # five of ours were not charged
    assert budget.snapshot().remaining == 495
    budget.observe(remaining=300, maximum=1_000)  # another integration spent some
    assert budget.snapshot().remaining == 300


def test_requests_still_open_count_as_spent_when_a_report_arrives() -> None:
    budget = ApiBudget("hubspot")
    with budget.request(), budget.request(), budget.request():
        budget.observe(remaining=100, maximum=1_000)  # the answer to one of the three
    assert budget.snapshot().remaining == 98


def test_a_reserve_of_no_calls_leaves_the_daily_limit_to_the_vendor() -> None:
    budget = ApiBudget("salesforce", reserve_percent=10)
    budget.observe(remaining=1, maximum=2)  # 10% of 2 calls rounds down to none
    spend(budget, 3)
    assert budget.calls == 3


def test_finishing_requests_are_counted_but_never_refused_on_that_thread_only() -> None:
    budget = ApiBudget("salesforce", max_calls=1)
    spend(budget)
    refused: list[BaseException] = []

    def elsewhere() -> None:
        try:
            spend(budget)
        except BudgetExhaustedError as error:
            refused.append(error)

    with budget.finishing():
        spend(budget, 2)
        other = threading.Thread(target=elsewhere)
        other.start()
        other.join()
    assert budget.calls == 3 and len(refused) == 1
    with pytest.raises(BudgetExhaustedError):
        spend(budget)


def test_threads_are_counted_exactly_and_the_cap_is_never_passed() -> None:
    budget = ApiBudget("hubspot", max_calls=1_000)
    refused = [0] * 8
    start = threading.Barrier(8)

    def worker(index: int) -> None:
        start.wait()
        for _ in range(250):
            try:
                spend(budget)
            except BudgetExhaustedError:
                refused[index] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert budget.calls == 1_000
    assert sum(refused) == 8 * 250 - 1_000


def test_the_stop_is_neither_transient_nor_terminal_and_is_not_retried() -> None:
    budget = ApiBudget("salesforce", max_calls=0)
    tries: list[int] = []

    def call() -> None:
        tries.append(1)
        spend(budget)

    with pytest.raises(BudgetExhaustedError) as stop:
        call_with_retries(call, attempts=5)
    assert tries == [1]
    assert isinstance(stop.value, AbmsyncError)
    assert not isinstance(stop.value, TransientError | TerminalError)


@pytest.mark.parametrize(("reserve", "cap"), [(-1.0, None), (100.5, None), (10.0, -1)])
def test_impossible_settings_are_config_errors(reserve: float, cap: int | None) -> None:
    with pytest.raises(ConfigError, match=r"^salesforce: "):
        ApiBudget("salesforce", reserve_percent=reserve, max_calls=cap)
