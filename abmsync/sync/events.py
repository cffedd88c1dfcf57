"""What a sync run reports while it works, for a progress display.

:class:`~abmsync.sync.engine.SyncRun` calls its ``progress`` callback with a
:class:`ProgressEvent` whenever something moves: a named step starts
(``resolving people``, ``scoring``), a read of one source takes in a batch,
a write of one object sends a chunk. The engine knows nothing of how they
are shown; ``abmsync sync`` and ``abmsync demo`` draw them with rich
(:mod:`abmsync.sync_progress`), a test collects them in a list.

Reads and writes of one object report a first event (``done`` 0), one per
batch or chunk, and a ``final`` one whose ``done`` is that read's or write's
total: records read (changes and abmsync's own writes coming back), records
sent (written or rejected) of ``total`` planned.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Kind = Literal["step", "read", "write"]


@dataclass(frozen=True)
class ProgressEvent:
    """One step begun, or the records read or written so far of one object."""

    kind: Kind
    text: str  # what is happening, e.g. "scoring" or "reading salesforce/Lead"
    system: str | None = None
    obj: str | None = None
    done: int = 0  # records read, or sent, so far
    total: int | None = None  # records planned (writes); None when unknown (reads)
    final: bool = False  # the last event of this read or write

    @property
    def source(self) -> str:
        """``system/object``, or the step's text for a named step."""
        return f"{self.system}/{self.obj}" if self.system else self.text

    def __str__(self) -> str:
        if self.kind == "step":
            return self.text
        of = f" of {self.total:,}" if self.total is not None else ""
        return f"{self.text}: {self.done:,}{of}"


Progress = Callable[[ProgressEvent], None]


def step(text: str) -> ProgressEvent:
    """A named step (no counts)."""
    return ProgressEvent("step", text)


def ignore(_: ProgressEvent) -> None:
    """The callback of a run nobody watches."""


def serialised(progress: Progress) -> Progress:
    """``progress`` called by one thread at a time (a run reads and writes systems at once)."""
    lock = threading.Lock()

    def call(event: ProgressEvent) -> None:
        with lock:
            progress(event)

    return call
