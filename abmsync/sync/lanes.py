"""Each system's reads, and then its writes, in a thread of its own: one lane per vendor.

Salesforce, HubSpot, Dynamics and Eloqua are separate services with rate
limits of their own, and a sync spends most of its time waiting for their
answers. Reading (or writing) them one after the other makes a run take the
*sum* of the vendors' times; a lane per vendor makes it take about the
slowest one's. Within a lane the order is unchanged (accounts before people
before touchpoints), and the lanes share nothing but the state database,
whose write transactions serialise themselves (``BEGIN IMMEDIATE`` on
SQLite, row locks on PostgreSQL) and each commit the data and the cursor
that covers it together, as before.

The first lane to fail halts the others after their current batch (through
the run's ``stop`` check), and its error is the run's, as if the lanes had
run one after the other. Ctrl-C (in the main thread) halts them the same way.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor


class Lanes:
    """Runs one job per system at once; :attr:`halted` tells jobs to stop after a batch."""

    def __init__(self) -> None:
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._first: BaseException | None = None

    @property
    def halted(self) -> bool:
        return self._halt.is_set()

    def run(self, jobs: Mapping[str, Callable[[], None]]) -> None:
        """Run every job (by system) to its end; then raise the first error any raised.

        A single job runs in the calling thread.
        """
        if len(jobs) <= 1:
            for job in jobs.values():
                job()
            return
        self._first = None
        with ThreadPoolExecutor(len(jobs), thread_name_prefix="abmsync-lane") as pool:
            # Each lane keeps the caller's log context (run id, tenant).
            futures = [
                pool.submit(contextvars.copy_context().run, self._guarded, job)
                for job in jobs.values()
            ]
            try:
                for future in futures:
                    future.exception()  # wait; errors are kept by _guarded
            except BaseException:
                self._halt.set()  # Ctrl-C: the lanes stop after their batch
                raise
        if self._first is not None:
            raise self._first

    def _guarded(self, job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as error:
            with self._lock:
                if self._first is None:
                    self._first = error
            self._halt.set()
