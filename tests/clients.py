"""Third-party clients that pin dependencies our environment cannot hold, each in its own venv.

A client is installed once into ``.cache/clients/<name>/`` (git-ignored) with
``python -m venv`` (no system site-packages) and ``pip install``, then reused.
When it cannot be installed (no package index), the test is skipped with the
reason; under CI (``CI`` set) that is a failure instead, so a CI run never
passes without the client.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "clients"


def client_python(name: str, requirement: str) -> Path:
    """The interpreter of the venv holding ``requirement`` (built on first use)."""
    home = CACHE / name
    python = home / "bin" / "python"
    stamp = home / ".installed"
    CACHE.mkdir(parents=True, exist_ok=True)
    # One builder at a time (pytest-xdist workers share the cache).
    with (CACHE / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.is_file() and stamp.read_text() == requirement and python.exists():
            return python
        shutil.rmtree(home, ignore_errors=True)
        steps = [
            [sys.executable, "-m", "venv", str(home)],
            [str(python), "-m", "pip", "install", "--quiet", requirement],
        ]
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                shutil.rmtree(home, ignore_errors=True)
                _unavailable(requirement, done.stderr or done.stdout)
        stamp.write_text(requirement)
    return python


def _unavailable(requirement: str, output: str) -> None:
    tail = " ".join(output.strip().splitlines()[-3:])[:500]
    reason = f"cannot install {requirement} into its own venv (no package index?): {tail}"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)
