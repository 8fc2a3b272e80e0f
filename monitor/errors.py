"""One exception hierarchy for everything rasid reports to a user.

Each error carries what the user needs to act on it (file and key, URL, position):
errors are raised where the problem is understood and reported where it is seen.
"""

from __future__ import annotations

import unicodedata


class RasidError(Exception):
    """Base of every error rasid reports to a user in a sentence, without a traceback."""


class ConfigError(RasidError):
    """The settings file is missing, unreadable or invalid; names the file and the key."""


class SourceError(RasidError):
    """A source could not be fetched or parsed; recorded on that source only."""


class NetworkGuardError(SourceError):
    """A URL or the address it resolves to is refused by the network guard (SSRF)."""


class ResolutionError(NetworkGuardError):
    """A host name could not be resolved at all (transient, unlike a refusal)."""


class NotFound(RasidError):
    """An action names something that does not exist (a source, a watchlist, an alert id).
    The front doors show it as such: the CLI exits 1, the API answers 404."""


class Conflict(RasidError):
    """An action conflicts with what exists: a duplicate name or URL, a source or
    watchlist owned by settings.toml, an alert that is not dead (API: 409)."""


class InvalidRequest(RasidError):
    """A value given to an action is refused (a name that is no slug, an interval below
    the minimum, no query); the message says what is accepted (API: 422)."""


class ConnectionFailed(RasidError):
    """An HTTP request outside the crawler got no answer (refused, reset, timed out);
    names the URL's origin only."""


class QuerySyntaxError(RasidError):
    """A watchlist query is malformed; carries the position of the problem."""

    def __init__(self, message: str, query: str = "", position: int | None = None) -> None:
        self.query = query
        self.position = position
        super().__init__(message)

    def __str__(self) -> str:
        base = super().__str__()
        if self.position is None or not self.query:
            return base
        # Harakat and invisible controls take no column, so they take no caret space.
        column = sum(
            1
            for char in self.query[: self.position]
            if not unicodedata.combining(char) and unicodedata.category(char) != "Cf"
        )
        caret = " " * column + "^"
        return f"{base} (at character {self.position + 1})\n  {self.query}\n  {caret}"


class DeliveryError(RasidError):
    """An alert could not be delivered.

    ``permanent`` means retrying cannot help (a revoked Slack webhook, a 4xx); otherwise the
    outbox retries with backoff. ``retry_after`` carries a receiver's Retry-After in seconds.
    """

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class DatabaseUnavailable(RasidError):
    """The database cannot be reached or written right now (a full disk, a read-only or
    vanished file, a PostgreSQL server restarting): nothing was half-written, and the
    same operation may succeed later."""


class InstanceLockedError(RasidError):
    """Another ``rasid run`` already owns this SQLite database."""
