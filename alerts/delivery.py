"""Delivering an alert over HTTP: what a receiver's answer means for the outbox.

The request itself goes through :class:`monitor.guarded_http.GuardedClient` (network
guard, total deadline, no redirects). Here an answer becomes a delivery outcome:
anything but a 2xx raises :class:`DeliveryError`, permanent for refused URLs, 4xx other
than 408/429 (so 410 Gone too) and 301/308 (Standard Webhooks counts a redirect as a
failure); transient for no answer, 408, 429, other 3xx and 5xx, with Retry-After
(seconds or HTTP date) carried along.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from datetime import UTC, datetime

from monitor.errors import ConnectionFailed, DeliveryError, NetworkGuardError, ResolutionError
from monitor.guarded_http import MAX_ERROR_BODY, GuardedClient, HttpReply, redact_url

TRANSIENT_4XX = frozenset({408, 429})
PERMANENT_REDIRECTS = frozenset({301, 308})


def deliver(
    client: GuardedClient, url: str, body: bytes, headers: Mapping[str, str], now: datetime
) -> HttpReply:
    """POST one alert and return the receiver's 2xx answer, or raise DeliveryError."""
    try:
        reply = client.post(url, body, headers)
    except NetworkGuardError as exc:
        # A name that does not resolve may come back; a refused address will not.
        raise DeliveryError(str(exc), permanent=not isinstance(exc, ResolutionError)) from None
    except ConnectionFailed as exc:
        raise DeliveryError(str(exc)) from None
    if 200 <= reply.status < 300:
        return reply
    raise error_for_status(reply.status, reply.headers, reply.text, redact_url(url), now)


def error_for_status(
    status: int, headers: Mapping[str, str], text: str, origin: str, now: datetime
) -> DeliveryError:
    """The DeliveryError a non-2xx answer means (see :func:`deliver`)."""
    printable = "".join(char for char in text if char.isprintable() or char.isspace())
    body = " ".join(printable.split())[:MAX_ERROR_BODY]
    message = f"HTTP {status} from {origin}" + (f": {body}" if body else "")
    if 300 <= status < 400:
        location = headers.get("location", "")
        message += f" (redirects are not followed; Location: {location[:200]})"
        return DeliveryError(message, permanent=status in PERMANENT_REDIRECTS)
    retry_after = parse_retry_after(headers.get("retry-after"), now)
    if 400 <= status < 500 and status not in TRANSIENT_4XX:
        return DeliveryError(message, permanent=True)
    return DeliveryError(message, retry_after=retry_after)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())
