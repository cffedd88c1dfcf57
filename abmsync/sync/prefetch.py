"""Reading a vendor's next page while the last one is being stored.

A read alternates two waits: for the vendor to answer a page, then for the
page to be mapped, compared and committed with its cursor. :class:`Prefetched`
drives a connector's batch iterator from a thread of its own, one batch
ahead, so the vendor works on the next page while abmsync stores this one.
Nothing else changes: batches arrive in order, a cursor is still committed
only with the batch it covers, and an error (a 429 given up on, a spent
budget) comes out where the batch it stopped would have. A reader that stops
early closes it: the batch fetched ahead is dropped, uncommitted, and read
again by the next run.
"""

from __future__ import annotations

import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from abmsync.closing import Closing

T = TypeVar("T")
_DONE = object()


class Prefetched(Closing, Generic[T]):
    """``make()``'s items, fetched in a thread ``ahead`` items before they are asked for.

    Use it in a ``with`` block (or call :meth:`close`), so that the thread
    stops when the reader does.
    """

    def __init__(self, make: Callable[[], Iterator[T]], ahead: int = 1) -> None:
        self._items: queue.Queue[object] = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._finished = False
        context = contextvars.copy_context()  # the reader's log context (run id, tenant)
        self._thread = threading.Thread(
            target=context.run, args=(self._produce, make), name="abmsync-prefetch", daemon=True
        )
        self._thread.start()

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        item = self._items.get()
        if item is _DONE:
            self._finished = True
            raise StopIteration
        if isinstance(item, _Raised):
            self._finished = True
            raise item.error
        return item  # type: ignore[return-value]

    def close(self) -> None:
        """Stop fetching (the thread closes the iterator after the fetch it is in)."""
        self._stop.set()
        while self._thread.is_alive():
            # Make room, so a producer waiting to hand an item over sees the stop.
            with contextlib.suppress(queue.Empty):
                self._items.get(timeout=0.05)
        self._finished = True

    def _produce(self, make: Callable[[], Iterator[T]]) -> None:
        items: Iterator[T] | None = None
        try:
            items = make()
            for item in items:
                if not self._put(item):
                    return
            self._put(_DONE)
        except BaseException as error:  # handed to the reader, raised where it reads
            self._put(_Raised(error))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator's cleanup runs here, in the thread that drove it

    def _put(self, item: object) -> bool:
        """Hand ``item`` over, waiting for room; ``False`` if the reader stopped meanwhile."""
        while not self._stop.is_set():
            try:
                self._items.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False


class _Raised:
    """An error the iterator raised, carried to the reader."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
