"""Keeping a run's resident memory down between its steps.

A step frees its many small Python objects (decoded documents, rows, patches)
into the C heap, which keeps their pages; without handing them back, each
step's peak stacks on what the previous ones left behind.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return getattr(ctypes.CDLL(None), "malloc_trim", None)
    except OSError:
        return None


_MALLOC_TRIM = _malloc_trim()


def trim_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim``).

    A no-op where the C library has no ``malloc_trim``.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
