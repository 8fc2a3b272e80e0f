"""Turning a failed download into one sentence a user can act on in ``rasid status``."""

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
    ConnectionRefusedError,
    DNSLookupError,
    TCPTimedOutError,
    TimeoutError,
)
from twisted.python.failure import Failure

from monitor.errors import RasidError


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
        text = str(error)
        # Only Scrapy's own message: the guard's names the hop it refused "(redirected from
        # ...)", which is not a loop.
        if "max redirections" in text:
            return f"too many redirects (a redirect loop?): {text}"
        return text or "request refused"
    if isinstance(error, DownloadTimeoutError | TimeoutError | TCPTimedOutError):
        return f"timed out: {error}"
    if isinstance(error, DownloadCancelledError):
        cap = f" (limit {max_size // (1024 * 1024)} MiB)" if max_size else ""
        return f"response too large{cap}: {error}"
    if isinstance(error, CannotResolveHostError | DNSLookupError):
        cause = str(error)
        return f"cannot resolve host: {cause}"
    if isinstance(error, DownloadConnectionRefusedError | ConnectionRefusedError):
        return f"connection refused: {error}"
    if isinstance(error, ResponseDataLossError):
        return f"connection closed before the whole response arrived: {error}"
    if isinstance(error, DownloadFailedError):
        return f"download failed: {error}"
    return f"{type(error).__name__}: {error}"


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
