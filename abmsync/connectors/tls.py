"""TLS failures: a connection cut during the handshake is worth another try, a
certificate nobody trusts is not.

HTTP libraries report both as one exception type (``requests``' ``SSLError``,
urllib3's ``SSLError`` inside a ``MaxRetryError``), so the connectors ask
:func:`certificate_failure` which one they have. It looks through the whole
chain of causes, including the ``reason`` and ``args`` urllib3 and requests
wrap their causes in, for :class:`ssl.SSLCertVerificationError` (an unknown
issuer, an expired certificate, a host name mismatch) or, where the original
exception was lost on the way, OpenSSL's ``CERTIFICATE_VERIFY_FAILED``.
Everything else about TLS (an EOF in violation of protocol, a reset, a
zero-return alert) is transport: transient, like a dropped connection.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator

VERIFY_FAILED = "CERTIFICATE_VERIFY_FAILED"


def certificate_failure(error: BaseException) -> str | None:
    """Why the peer's certificate was refused, or None when ``error`` is no such refusal."""
    for cause in _chain(error):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return str(cause.verify_message or cause.reason or VERIFY_FAILED)
    for cause in _chain(error):
        if VERIFY_FAILED in str(cause):
            return "certificate verify failed"
    return None


def tls_detail(error: BaseException) -> str:
    """The innermost TLS or socket error of ``error``'s chain, as a short phrase."""
    innermost: BaseException = error
    for cause in _chain(error):
        if isinstance(cause, OSError):
            innermost = cause
    if isinstance(innermost, ssl.SSLError) and innermost.reason:
        return f"{type(innermost).__name__} {innermost.reason}"
    return type(innermost).__name__


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every exception it was caused by, each once, outermost first."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        nested += [arg for arg in current.args if isinstance(arg, BaseException)]
        pending += [n for n in nested if isinstance(n, BaseException)]
