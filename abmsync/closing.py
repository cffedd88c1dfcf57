"""One way for an object with a ``close()`` to be used in a ``with`` block."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Closing:
    """``with thing:`` gives ``thing`` and calls ``thing.close()`` on the way out, error or not."""

    def close(self) -> None:
        """Release what the object holds; subclasses say what."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
