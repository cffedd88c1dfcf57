"""httpx transport failures as abmsync's errors, the same for every connector on httpx.

A connection that cannot be made, or times out before any byte is sent, is
:class:`~abmsync.errors.TransientError`; a certificate nobody trusts is the
connector's own terminal TLS error; a request whose answer was lost after
sending (read timeout, a cut or malformed response) is
:class:`~abmsync.errors.ResponseLostError`, so a caller can tell "maybe
applied" from "never sent".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx

from abmsync.connectors.tls import certificate_failure, tls_detail
from abmsync.errors import ResponseLostError, TransientError


@contextmanager
def transport_errors(
    service: str, what: str, tls_error: Callable[[Exception], Exception]
) -> Iterator[None]:
    """Map httpx's transport exceptions raised inside to abmsync's, naming ``service``
    and ``what`` was being done; ``tls_error`` builds the error for a refused certificate."""
    try:
        yield
    except httpx.ConnectTimeout:
        raise TransientError(f"could not connect to {service} in time ({what})") from None
    except httpx.ConnectError as error:
        if certificate_failure(error) is not None:
            raise tls_error(error) from None
        raise TransientError(
            f"connection to {service} failed ({what}): {tls_detail(error)}"
        ) from None
    except (httpx.TimeoutException, httpx.ReadError, httpx.RemoteProtocolError) as error:
        raise ResponseLostError(
            f"{service} did not answer {what} ({type(error).__name__})"
        ) from None
    except httpx.TransportError as error:
        raise TransientError(
            f"connection to {service} failed ({what}): {type(error).__name__}"
        ) from None
