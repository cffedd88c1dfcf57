"""abmsync's logs: one configuration, text or JSON lines on stderr, secrets scrubbed.

Every module logs through ``logging.getLogger(__name__)``, so all loggers sit
under ``abmsync``. Nothing is shown until :func:`configure_logging` (the
``abmsync --log-level`` and ``--log-format`` options) gives that logger its
handler; other libraries' loggers are left alone, since their debug output
can carry request details abmsync does not control. Structured fields travel
as ``extra=``: ``run_id``, ``step``, ``system``, ``object``, ``records``,
``api_calls``, ``duration_s``, ``status``, ``counts`` ...; fields set with
:func:`log_context` (the run id) are added to every record logged inside it.

A JSON line is one object: ``time``, ``level``, ``logger``, ``message``, then
the fields. Log calls never pass a credential; as a safety net, code that
obtains one registers it with :func:`redact` (the connectors their secrets and
tokens, the store its URL's password) and every record is scrubbed of the
registered values before it is formatted.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from pydantic import SecretStr

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
FORMATS = ("text", "json")
DEFAULT_LEVEL = "warning"
ROOT = "abmsync"
MASK = "***"
# Shorter values would mask ordinary words; no real credential is this short.
MIN_SECRET = 4
# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_context: ContextVar[dict[str, Any] | None] = ContextVar("abmsync_log_context", default=None)
_handler: logging.Handler | None = None
# A library stays silent until the application configures logging.
logging.getLogger(ROOT).addHandler(logging.NullHandler())


def redact(value: str | SecretStr | None) -> None:
    """Never let ``value`` reach a log line: registered values are masked as ``***``."""
    text = value if isinstance(value, str) or value is None else value.get_secret_value()
    if text and len(text) >= MIN_SECRET:
        with _secrets_lock:
            _secrets.add(text)


def scrub(text: str) -> str:
    """``text`` with every registered secret masked (longest first, so none shows in part)."""
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _scrub_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_value(v) for v in value]
    return value


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every record logged in this block (and this thread or task)."""
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields of ``record``: what ``extra=`` and :func:`log_context` added."""
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _RECORD_FIELDS and not key.startswith("_")
    }


class ContextAndRedaction(logging.Filter):
    """Adds the :func:`log_context` fields, then masks registered secrets everywhere."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        record.msg = scrub(record.getMessage())
        record.args = None
        for key, value in fields_of(record).items():
            setattr(record, key, _scrub_value(value))
        if record.exc_info and not record.exc_text:
            lines = traceback.format_exception(*record.exc_info)
            record.exc_text = "".join(lines).rstrip("\n")
        if record.exc_text:
            # Scrubbed whoever rendered it: another handler (pytest's, an
            # application's) may have formatted the traceback before this one.
            record.exc_text = scrub(record.exc_text)
        return True


def _time(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonLines(logging.Formatter):
    """One JSON object per record: time, level, logger, message, then its fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(fields_of(record))
        if record.exc_info or record.exc_text:
            line["exception"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        # Scrubbed once more as written: a record may reach this formatter without
        # having passed the filter (a handler added by someone else).
        return scrub(json.dumps(line, default=str, ensure_ascii=False))


class TextLines(logging.Formatter):
    """``time level logger: message key=value ...``, one line per record (and its traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{key}={_text(value)}" for key, value in fields_of(record).items())
        text = f"{_time(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if extras:
            text = f"{text} {extras}"
        if record.exc_text:
            text = f"{text}\n{record.exc_text}"
        elif record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        return scrub(text)


def _text(value: Any) -> str:
    """A field's value as text: bare when it is one word or a number, else as JSON."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value and not any(c.isspace() or c in '"=' for c in value):
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record arrives (a test runner's, rich's)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._fixed = stream

    @property
    def stream(self) -> TextIO:
        return self._fixed if self._fixed is not None else sys.stderr

    @stream.setter
    def stream(self, value: TextIO | None) -> None:
        self._fixed = value


def configure_logging(
    level: str = DEFAULT_LEVEL, fmt: str = "text", *, stream: TextIO | None = None
) -> None:
    """Send abmsync's records at ``level`` and above to stderr (or ``stream``) as ``fmt``.

    Calling it again replaces the previous configuration rather than adding
    a second handler.
    """
    global _handler
    if level.lower() not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, not {level!r}")
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    logger = logging.getLogger(ROOT)
    if _handler is not None:
        logger.removeHandler(_handler)
    handler = _StderrHandler(stream)
    handler.addFilter(ContextAndRedaction())
    handler.setFormatter(JsonLines() if fmt == "json" else TextLines())
    logger.addHandler(handler)
    logger.setLevel(LEVELS[level.lower()])
    # The CLI owns the output: records do not also reach a root handler someone added.
    logger.propagate = False
    _handler = handler
