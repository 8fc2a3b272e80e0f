"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

A delivery carries ``webhook-id`` (constant across retries: the receiver's idempotency
key), ``webhook-timestamp`` (the attempt time, so every attempt is signed afresh) and
``webhook-signature: v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>``. The secret is
``whsec_`` followed by the base64 of the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from monitor.errors import ConfigError

SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret


def decode_secret(secret: str) -> bytes:
    """The raw HMAC key of a ``whsec_...`` secret; ConfigError if it is not one."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError('expected a secret starting with "whsec_" followed by base64')
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError('the part after "whsec_" is not valid base64') from None
    if len(key) < 16:
        raise ValueError("the secret key is too short (at least 16 bytes, 24-64 advised)")
    return key


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one attempt."""
    try:
        key = decode_secret(secret)
    except ValueError as exc:
        raise ConfigError(f"webhook secret: {exc}") from None
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_headers(
    secret: str | None, message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers (the signature only when a secret is set)."""
    headers = {"webhook-id": message_id, "webhook-timestamp": str(timestamp)}
    if secret:
        headers["webhook-signature"] = sign(secret, message_id, timestamp, body)
    return headers
