"""A sync's progress on a terminal: records read per object, a bar per write.

The engine reports :class:`~abmsync.sync.events.ProgressEvent` s to a plain
callback; :func:`live_progress` turns them into a rich display for
``abmsync sync`` and ``abmsync demo``: a line per source being read with
its records so far, a bar per object being written (sent of planned), and
the current step. Off a terminal (CI logs, a pipe) it shows nothing, so the
output stays clean; the log (``--log-level info``) says the same in lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from abmsync.sync.events import Progress as ProgressCallback
from abmsync.sync.events import ProgressEvent, ignore


class _Count(ProgressColumn):
    """``1,234 records`` for a read, ``1,000/4,000`` for a write, nothing for a step."""

    def render(self, task: Task) -> Text:
        kind = task.fields.get("kind")
        done = int(task.completed)
        if kind == "write" and task.total is not None:
            return Text(f"{done:,}/{int(task.total):,}", style="progress.download")
        if kind == "read":
            return Text(f"{done:,} records", style="progress.download")
        return Text("")


class SyncDisplay:
    """Tasks of a rich ``Progress``, one per read or write, and one for the step; see module doc."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self._tasks: dict[tuple[str, str], TaskID] = {}
        self._step = progress.add_task("starting", total=None, kind="step")

    def __call__(self, event: ProgressEvent) -> None:
        """Show ``event``: a new line for a read or write, its counts, or the current step."""
        if event.kind == "step":
            self.progress.update(self._step, description=event.text, visible=True)
            return
        key = (event.kind, event.source)
        task = self._tasks.get(key)
        if task is None:
            # The read or write has a line of its own; the step line would repeat it.
            self.progress.update(self._step, visible=False)
            task = self.progress.add_task(event.text, total=event.total, kind=event.kind)
            self._tasks[key] = task
        if event.final:
            # A read learns its size only at its end: the bar fills then.
            total = event.total if event.total is not None else event.done
            self.progress.update(task, completed=event.done, total=total)
            self.progress.stop_task(task)
        else:
            self.progress.update(task, completed=event.done)


@contextmanager
def live_progress(console: Console, *, quiet: bool = False) -> Iterator[ProgressCallback]:
    """A progress callback drawing on ``console``; one that ignores events off a terminal."""
    if quiet or not console.is_terminal:
        yield ignore
        return
    with Progress(
        SpinnerColumn(finished_text="[green]✓[/]"),
        TextColumn("{task.description:<36}"),
        BarColumn(),
        _Count(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        yield SyncDisplay(progress)
