"""A loopback TCP proxy that cuts TLS handshakes short, for the first N connections.

It accepts the connection, reads the client's hello and closes the socket,
either politely (the client sees an EOF in violation of the TLS protocol) or
with a reset (``SO_LINGER`` 0). Later connections are piped through to the
real server, so TLS runs end to end and the server's certificate is what the
client verifies. ``connections`` counts every connection attempt.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from types import TracebackType
from typing import Literal

Cut = Literal["eof", "reset"]


class HandshakeCutter:
    """Use as a context manager; point the client at :attr:`url` instead of the server."""

    def __init__(self, upstream_port: int, *, cut: int, how: Cut = "eof") -> None:
        self.upstream_port = upstream_port
        self.cut = cut
        self.how = how
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True, name="handshake-cutter")

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def __enter__(self) -> HandshakeCutter:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _close(self._listener)  # shutdown() is what wakes the blocked accept()
        for sock in self._sockets:
            _close(sock)
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            self.connections += 1
            if self.connections <= self.cut:
                client.recv(65536)  # the ClientHello
                if self.how == "reset":
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._sockets += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(source, target), daemon=True).start()


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(target)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
