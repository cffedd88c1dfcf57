"""A real headless Chromium, driven over the Chrome DevTools Protocol (websocket-client).

Just enough of the protocol to open a page, collect what its console and
network did, evaluate scripts and take screenshots of parts of the page.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websocket

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless_shell")
# How long to wait for the browser to start or answer before calling it broken (not a
# performance limit: a healthy browser answers in well under a second).
STARTUP_SECONDS = 60.0


def find_chromium() -> str | None:
    """The Chromium to use: ``ABMSYNC_CHROMIUM``, else the first browser on the PATH."""
    explicit = os.environ.get("ABMSYNC_CHROMIUM")
    if explicit:
        return explicit
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class Tab:
    """One page target: send commands, keep every event that arrives meanwhile."""

    socket: websocket.WebSocket
    events: list[dict[str, Any]] = field(default_factory=list)
    _next_id: int = 0

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call ``method`` and return its result; raise on a protocol error."""
        self._next_id += 1
        self.socket.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    def wait_for(self, method: str) -> dict[str, Any]:
        """Wait for the next event named ``method`` (or one already received)."""
        for event in self.events:
            if event.get("method") == method:
                self.events.remove(event)
                return event
        while True:
            message = json.loads(self.socket.recv())
            if message.get("method") == method:
                return message
            self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises are awaited)."""
        result = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, x: float, y: float, width: float, height: float) -> bytes:
        """A PNG of the page area at document coordinates (x, y)."""
        clip = {"x": x, "y": y, "width": width, "height": height, "scale": 1}
        shot = self.send(
            "Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True
        )
        return base64.b64decode(shot["data"])

    def console_errors(self) -> list[str]:
        """Errors the page logged or threw, as text."""
        errors = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                errors.append(json.dumps(params["exceptionDetails"])[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append(json.dumps(params.get("args"))[:500])
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                errors.append(params["entry"].get("text", ""))
        return errors

    def requested_urls(self) -> list[str]:
        """Every URL the page asked the network stack for."""
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        ]


@contextmanager
def open_page(executable: str, page: Path) -> Iterator[Tab]:
    """Start a headless Chromium, load ``page`` from disk and yield its tab once loaded."""
    # Chromium's helper processes (crashpad, zygote) may still be writing to the
    # profile while it is removed: they are killed with their group, and what
    # they leave behind in /tmp is not the test's failure.
    with tempfile.TemporaryDirectory(
        prefix="abmsync-chromium-", ignore_cleanup_errors=True
    ) as profile:
        command = [
            executable,
            "--headless=new",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            "--window-size=1400,1000",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.insert(1, "--no-sandbox")  # Chromium refuses to run as root otherwise
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        try:
            port = _debugging_port(Path(profile), process)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as answer:
                targets = json.load(answer)
            target = next(t for t in targets if t["type"] == "page")
            socket = websocket.create_connection(
                target["webSocketDebuggerUrl"], timeout=STARTUP_SECONDS, suppress_origin=True
            )
            tab = Tab(socket)
            try:
                for domain in ("Page", "Runtime", "Log", "Network"):
                    tab.send(f"{domain}.enable")
                tab.send("Page.navigate", url=page.resolve().as_uri())
                tab.wait_for("Page.loadEventFired")
                yield tab
            finally:
                socket.close()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            if process.stderr is not None:
                process.stderr.close()


def _debugging_port(profile: Path, process: subprocess.Popen[bytes]) -> int:
    """The port Chromium chose, from the ``DevToolsActivePort`` file it writes on start."""
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"Chromium exited with {process.returncode}: {stderr[-2000:]}")
        if marker.exists():
            lines = marker.read_text().splitlines()
            if lines and lines[0].isdigit():
                return int(lines[0])
        time.sleep(0.05)
    raise RuntimeError(f"Chromium did not start within {STARTUP_SECONDS:g} s")
