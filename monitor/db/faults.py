"""Database faults in a sentence, and one log line per outage instead of one per failure.

When the disk fills up, every write of every source fails: a service that logged each
failure with its traceback would bury the cause under thousands of lines. Here a failed
operation becomes :class:`~monitor.errors.DatabaseUnavailable` with a short reason
(:func:`describe`), and :class:`OutageLog` logs the first failure of an outage, a change
of its reason, and its end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from monitor.errors import DatabaseUnavailable

logger = logging.getLogger("monitor.db")

# Substrings of driver messages (SQLite, psycopg) and what they mean for the user.
_MEANINGS = (
    ("database or disk is full", "the disk is full"),
    ("no space left on device", "the disk is full"),
    ("readonly database", "the database file is read-only"),
    ("read-only", "the database is read-only"),
    ("unable to open database file", "the database file cannot be opened"),
    ("disk i/o error", "disk I/O error"),
    ("no such table", "the database has no rasid tables (was its file replaced?)"),
    ("database is locked", "another process kept the database locked past the busy timeout"),
    ("file is not a database", "the database file is damaged or not a SQLite file"),
    ("malformed", "the database file is damaged"),
    ("connection refused", "PostgreSQL refuses connections (is the server running?)"),
    ("terminating connection", "PostgreSQL ended the connection (a restart?)"),
    ("server closed the connection", "the connection to PostgreSQL was lost"),
    ("consuming input failed", "the connection to PostgreSQL was lost"),
    ("the database system is", "PostgreSQL is starting up or shutting down"),
    ("could not connect", "PostgreSQL cannot be reached"),
    ("connection is closed", "the connection to PostgreSQL was lost"),
)


def describe(error: BaseException) -> str:
    """What a driver error means, then its own first line (for the curious)."""
    original = getattr(error, "orig", None) or error
    text = " ".join(str(original).split()) or type(original).__name__
    lowered = text.lower()
    for needle, meaning in _MEANINGS:
        if needle in lowered:
            return f"{meaning} ({text[:200]})"
    return text[:300]


class OutageLog:
    """Reports database outages as episodes: one line when one starts (or its reason
    changes), one when the database works again, whatever happens in between."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._since: float | None = None
        self._reason: str | None = None
        self._failures = 0

    @property
    def active(self) -> bool:
        return self._since is not None

    def failed(self, error: DatabaseUnavailable, doing: str) -> None:
        """An operation failed because of the database (``doing`` says which)."""
        self._failures += 1
        reason = str(error)
        if self._since is not None and reason == self._reason:
            return
        if self._since is None:
            self._since = self._monotonic()
        self._reason = reason
        logger.error(
            "database unavailable while %s: %s; nothing was half-written, and rasid keeps "
            "retrying until it is back",
            doing,
            reason,
        )

    def succeeded(self) -> None:
        """An operation went through: an outage in progress is over."""
        if self._since is None:
            return
        logger.warning(
            "database available again after %.0f s; %d operation(s) failed meanwhile and "
            "are retried",
            self._monotonic() - self._since,
            self._failures,
        )
        self._since = self._reason = None
        self._failures = 0
