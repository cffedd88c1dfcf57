"""Prefetched: a connector's batches fetched one ahead, in order, errors where they happened."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from abmsync.errors import BudgetExhaustedError
from abmsync.sync.prefetch import Prefetched

PATIENCE = 10.0


def test_items_come_in_order_and_the_next_is_fetched_while_one_is_handled() -> None:
    fetched = [threading.Event() for _ in range(3)]

    def pages() -> Iterator[int]:
        for number, event in enumerate(fetched):
            event.set()
            yield number

    with Prefetched(pages) as items:
        first = next(items)
        # While the reader holds page 0, page 1 is fetched without being asked for.
        assert fetched[1].wait(PATIENCE)
        assert [first, *items] == [0, 1, 2]


def test_an_error_comes_out_after_the_items_before_it() -> None:
    def pages() -> Iterator[int]:
        yield 1
        yield 2
        raise BudgetExhaustedError("hubspot: the daily API budget is spent")

    with Prefetched(pages) as items:
        assert [next(items), next(items)] == [1, 2]
        with pytest.raises(BudgetExhaustedError, match="budget is spent"):
            next(items)
        assert list(items) == []


def test_a_reader_that_stops_closes_the_iterator_in_its_thread_and_fetches_no_more() -> None:
    asked: list[int] = []
    closed = threading.Event()

    def pages() -> Iterator[int]:
        try:
            for number in range(1_000):
                asked.append(number)
                yield number
        finally:
            closed.set()

    with Prefetched(pages) as items:
        assert next(items) == 0
    assert closed.wait(PATIENCE)
    assert len(asked) <= 3  # the one read, at most one queued and one in hand: never all
    assert list(items) == []
