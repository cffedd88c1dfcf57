"""Ctrl-C and SIGTERM stop the commands that serve the emulators, cleanly and promptly."""

from __future__ import annotations

import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

STOP_SIGNALS = [signal.SIGINT, signal.SIGTERM]
STOP_WITHIN = 15.0  # seconds from the signal to the exit


class Served:
    """``abmsync ...`` in its own process, its output read line by line as it comes."""

    def __init__(self, *args: str, cwd: Path | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "abmsync.cli", *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        assert self.process.stdout is not None
        stream = self.process.stdout
        self._reader = threading.Thread(target=lambda: [self.lines.put(x) for x in stream])
        self._reader.start()

    def wait_for(self, marker: str, timeout: float) -> None:
        """Read output until a line contains ``marker``."""
        deadline = time.monotonic() + timeout
        while not any(marker in line for line in self.output):
            left = deadline - time.monotonic()
            if left <= 0 or self.process.poll() is not None:
                self.process.kill()
                self._finish()
                pytest.fail(f"no {marker!r} within {timeout}s: {''.join(self.output)}")
            try:
                self.output.append(self.lines.get(timeout=min(left, 1.0)))
            except queue.Empty:
                continue

    def stop(self, signum: signal.Signals) -> tuple[int, str, str]:
        """Send ``signum``; the exit code (within STOP_WITHIN seconds), stdout and stderr."""
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=STOP_WITHIN)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self._finish()
            pytest.fail(f"still running {STOP_WITHIN}s after {signum.name}")
        errors = self._finish()
        return code, "".join(self.output), errors

    def _finish(self) -> str:
        """Wait for the process, drain and close its pipes; its stderr."""
        self.process.wait()
        self._reader.join(timeout=10)
        while not self.lines.empty():
            self.output.append(self.lines.get())
        assert self.process.stdout is not None and self.process.stderr is not None
        errors = self.process.stderr.read()
        self.process.stdout.close()
        self.process.stderr.close()
        return errors


def _refused(url: str) -> bool:
    host, port = re.sub(r"^https?://", "", url).split(":")
    with socket.socket() as probe:
        return probe.connect_ex((host, int(port))) != 0


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=lambda s: s.name)
def test_sandbox_serve_stops_on_a_signal_with_exit_0(signum: signal.Signals) -> None:
    served = Served("sandbox", "serve")
    served.wait_for("serving until Ctrl-C", timeout=60)
    urls = re.findall(r"(?:INSTANCE_URL|HUBSPOT__HOST)=(\S+)", "".join(served.output))
    assert len(urls) == 2
    code, out, errors = served.stop(signum)
    assert code == 0, errors
    assert "stopped" in out
    assert "Traceback" not in errors and "Aborted" not in errors, errors
    assert all(_refused(url) for url in urls)  # the emulators are gone, not orphaned


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=lambda s: s.name)
def test_demo_serve_stops_on_a_signal_with_exit_0(signum: signal.Signals, tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    served = Served(
        "demo",
        "--people",
        "60",
        "--serve",
        "--dir",
        str(tmp_path / "demo"),
        "--rules",
        str(root / "examples" / "rules.yaml"),
        "--mappings",
        str(root / "examples" / "mappings"),
        cwd=tmp_path,
    )
    served.wait_for("ABMSYNC_MAPPINGS", timeout=180)
    urls = re.findall(r"(?:INSTANCE_URL|HUBSPOT__HOST)=(\S+)", "".join(served.output))
    code, out, errors = served.stop(signum)
    assert code == 0, errors
    assert "stopped" in out
    assert "Traceback" not in errors and "Aborted" not in errors, errors
    assert urls and all(_refused(url) for url in urls)
