"""Turning a failed download into one sentence a user can act on in ``rasid status``.

The sentence is rasid's own, in plain words: never Scrapy's wording for its own
internals, nor a Twisted ``Failure`` repr. Each case is tested against the exception a
real download raises (tests/crawler/test_fetch_failures.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import (
    ConnectError,
    ConnectionDone,
    ConnectionLost,
    ConnectionRefusedError,
    DNSLookupError,
    TCPTimedOutError,
    TimeoutError,
)
from twisted.python.failure import Failure
from twisted.web.client import ResponseFailed, ResponseNeverReceived

from crawler.middlewares import AddressChangedError, HostUnresolved
from monitor.errors import RasidError

MIB = 1024 * 1024


def describe_failure(failure: Failure, *, max_size: int | None = None) -> str:
    """A short, specific reason for a failed request."""
    error = failure.value
    if isinstance(error, HttpError):
        response = error.response
        reason = _http_reason(response.status)
        return f"HTTP {response.status}{f' {reason}' if reason else ''} from {response.url}"
    if isinstance(error, RasidError):
        return str(error)
    if isinstance(error, IgnoreRequest):
        limit = _decompression_limit(error)
        if limit is not None:
            return (
                f"response too large (limit {_mebibytes(limit)}): its compressed body "
                "inflates past the limit (a compression bomb?)"
            )
        text = str(error)
        # Only Scrapy's own message: the guard's names the hop it refused "(redirected from
        # ...)", which is not a loop.
        if "max redirections" in text:
            return f"too many redirects (a redirect loop?): {text}"
        return text or "request refused"
    if isinstance(error, DownloadTimeoutError | TimeoutError | TCPTimedOutError):
        return f"timed out: {error}"
    if isinstance(error, DownloadCancelledError):
        cap = f" (limit {_mebibytes(max_size)})" if max_size else ""
        return f"response too large{cap}: {error}"
    if isinstance(error, CannotResolveHostError | DNSLookupError):
        # Scrapy wraps the resolver's DNSLookupError, keeping it as the cause.
        cause = error if isinstance(error, DNSLookupError) else error.__cause__
        if isinstance(cause, AddressChangedError):
            return cause.sentence
        return f"cannot resolve host: {error}"
    if isinstance(error, DownloadConnectionRefusedError | ConnectionRefusedError):
        return f"connection refused: {error}"
    if isinstance(error, ResponseDataLossError):
        return (
            "the server closed the connection before the whole response arrived "
            "(the body was cut short)"
        )
    if isinstance(error, DownloadFailedError | ResponseFailed | ResponseNeverReceived):
        return _connection_failure(error)
    return f"{type(error).__name__}: {error}"


def _connection_failure(error: Exception) -> str:
    """What became of the connection, from the Twisted failures Scrapy's error wraps
    (its own message is their repr)."""
    cause = error.__cause__ if isinstance(error, DownloadFailedError) else error
    reasons = [
        reason.value
        for reason in getattr(cause, "reasons", None) or []
        if isinstance(reason, Failure)
    ]
    closed = [reason for reason in reasons if isinstance(reason, ConnectionDone)]
    lost = [reason for reason in reasons if isinstance(reason, ConnectionLost)]
    if isinstance(cause, ResponseNeverReceived):
        if lost:
            return "the connection was lost before the server answered"
        if closed:
            return "the server closed the connection without answering"
    elif isinstance(cause, ResponseFailed) and (lost or closed):
        return "the server closed the connection before its answer was complete"
    described = "; ".join(f"{type(reason).__name__}: {reason}" for reason in reasons)
    return f"download failed: {described or error}"


def _decompression_limit(error: IgnoreRequest) -> int | None:
    """The size cap a compressed body inflated past, when that is why Scrapy's
    HttpCompressionMiddleware refused the response (its private exception is the
    cause, carrying the cap as ``max_size``)."""
    cause = error.__cause__
    limit = getattr(cause, "max_size", None)
    if isinstance(limit, int) and hasattr(cause, "decompressed_size"):
        return limit
    return None


def _mebibytes(size: int) -> str:
    return f"{size / MIB:.3g} MiB"


def _http_reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def retry_after(failure: Failure, now: datetime | None = None) -> float | None:
    """Seconds a 429 or 503 response asked to wait (Retry-After: seconds or HTTP date,
    counted from ``now``, the wall clock by default: the date is the server's)."""
    error = failure.value
    if not isinstance(error, HttpError) or error.response.status not in (429, 503):
        return None
    value = error.response.headers.get(b"Retry-After")
    if not value:
        return None
    text = value.decode("latin-1").strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


# Status codes of a page that may well answer next time.
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def is_transient(failure: Failure) -> bool:
    """Whether a failed download may succeed if tried again later: a timeout, a DNS
    failure, a connection that failed or was lost, a 5xx or 429. Refusals (robots.txt,
    the network guard, a size cap) and other 4xx answers will not change by waiting."""
    error = failure.value
    if isinstance(error, HttpError):
        return error.response.status in TRANSIENT_STATUSES
    if isinstance(error, HostUnresolved):
        return True
    if isinstance(error, IgnoreRequest | DownloadCancelledError):
        return False
    return isinstance(
        error,
        TimeoutError
        | DownloadTimeoutError
        | TCPTimedOutError
        | ConnectError
        | ConnectionLost
        | ConnectionDone
        | DownloadConnectionRefusedError
        | DownloadFailedError
        | ResponseDataLossError
        | ResponseNeverReceived
        | ResponseFailed
        | CannotResolveHostError
        | DNSLookupError,
    )
