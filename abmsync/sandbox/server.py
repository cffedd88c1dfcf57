"""Run an emulator (an ASGI app) on loopback in a background thread.

Tests, the benchmarks and ``abmsync sandbox serve`` all start emulators this
way: uvicorn on 127.0.0.1 and a free port, optionally over HTTPS with a
certificate from a locally generated CA (trustme), since simple-salesforce
only speaks https. Clients trust the CA through :attr:`SandboxServer.ca_file`.

Ctrl-C and SIGTERM stop the commands that serve until stopped
(:func:`wait_for_stop`). A signal can land on any thread (uvicorn's,
polars' pool), and CPython runs its handler only when the main thread runs
again, so the main thread never blocks for long; the server threads also
block both signals, leaving them to the main thread.
"""

from __future__ import annotations

import signal
import socket
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import trustme
import uvicorn

if TYPE_CHECKING:
    from abmsync.sync.schedule import StopSignal

POLL_SECONDS = 0.2  # how soon a waiting main thread notices a signal


def wait_for_stop(stop: StopSignal, seconds: float | None = None) -> None:
    """Return after ``seconds`` (None: never) or once ``stop`` is requested (SIGINT, SIGTERM).

    Enter ``stop`` before printing what tells people the servers are up, so a
    signal sent right after is a request to stop and not the default handler's kill.
    """
    deadline = None if seconds is None else time.monotonic() + seconds
    while not stop.requested:
        left = POLL_SECONDS if deadline is None else deadline - time.monotonic()
        if left <= 0:
            return
        stop.wait(min(left, POLL_SECONDS))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SandboxServer:
    """One emulator served on ``127.0.0.1``; use as a context manager."""

    def __init__(self, app: Any, *, tls: bool = False, port: int | None = None) -> None:
        self.app = app
        self.tls = tls
        self.port = port or free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="abmsync-sandbox-")
        self.ca_file: Path | None = None
        options: dict[str, Any] = {}
        if tls:
            ca = trustme.CA()
            cert = ca.issue_cert("127.0.0.1", "localhost")
            self.ca_file = Path(self._dir.name) / "ca.pem"
            ca.cert_pem.write_to_path(str(self.ca_file))
            key_file = Path(self._dir.name) / "server.pem"
            cert.private_key_and_cert_chain_pem.write_to_path(str(key_file))
            options = {"ssl_certfile": str(key_file), "ssl_keyfile": str(key_file)}
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off", **options
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._serve, daemon=True, name=f"sandbox-{self.port}"
        )

    def _serve(self) -> None:
        """Run uvicorn, with the stop signals left to the main thread (see the module doc)."""
        if hasattr(signal, "pthread_sigmask"):  # POSIX
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        self._server.run()

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> SandboxServer:
        """Start serving and wait until the port accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"sandbox server on port {self.port} did not start")
            time.sleep(0.02)
        return self

    @property
    def serving(self) -> bool:
        """Whether the server thread still runs (after :meth:`stop`: a client kept a connection)."""
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop serving and remove the temporary certificate files.

        uvicorn finishes once every client connection is closed; an idle
        keep-alive TLS connection a client never closes holds it up, so this
        waits at most 10 s and then leaves the (daemon) thread behind. Close
        clients first (``Connector.close``, ``with Connectors(...)``).
        """
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._dir.cleanup()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
