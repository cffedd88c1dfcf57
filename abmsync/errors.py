"""The three kinds of error abmsync raises, one clean stop, and what the engine does with each.

Every exception abmsync raises on purpose derives from ``AbmsyncError``; the
engine and the CLI decide what to do from the class alone::

    AbmsyncError                  base of everything abmsync raises on purpose
     ├── TransientError           retry with backoff (429, 5xx, timeouts, dropped connections)
     │    └── ResponseLostError   sent, but no complete answer came back (may have been applied)
     ├── TerminalError            stop the run with one clear line (bad credentials, bad config)
     │    └── ConfigError         a configuration, mapping or input file is wrong
     │         ├── MappingError   (abmsync.connectors.mapping) bad YAML field mapping
     │         └── FilesError     (abmsync.connectors.files) unreadable or malformed data file
     ├── SkippableError           dead-letter this record and go on (vendor rejected one row)
     └── BudgetExhaustedError     stop cleanly: keep what is stored, end the run as partial

``BudgetExhaustedError`` is neither transient nor terminal: nothing is wrong,
the run has spent the API calls it may spend today (see
:mod:`abmsync.connectors.budget`). The retry policy lets it through at once;
the engine commits what it has stored, ends the run as ``partial`` and the
next run resumes from the committed cursors.

Messages are one line that says what went wrong and where (file, line and
column, or record id), so the CLI can print them without a traceback.
"""

from __future__ import annotations


class AbmsyncError(Exception):
    """Base of every error abmsync raises on purpose; its message is one line."""


class TransientError(AbmsyncError):
    """A failure that may succeed if retried later (rate limit, 5xx, timeout)."""


class ResponseLostError(TransientError):
    """The request was sent but no complete answer came back (read timeout, cut response).

    Safe to repeat for reads and idempotent writes; a connector sending a
    non-idempotent request catches it and decides what a repeat would mean.
    """


class TerminalError(AbmsyncError):
    """A failure that retrying cannot fix; the run stops with this message."""


class SkippableError(AbmsyncError):
    """One record cannot be processed; it goes to the dead-letter table and the run goes on."""


class ConfigError(TerminalError):
    """Configuration, mapping or input data the user must fix before running again."""


class BudgetExhaustedError(AbmsyncError):
    """The run's API budget is spent: stop before the next call, keep what is stored.

    Raised before a request is sent, never after, so no call is lost half-way;
    retrying would only spend the reserve the budget exists to keep.
    """
