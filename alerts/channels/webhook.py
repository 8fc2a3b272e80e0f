"""A Standard Webhooks delivery: the event JSON, signed afresh at every attempt.

``webhook-id`` is the alert's stable id (the receiver's idempotency key, the same on
every retry); ``webhook-timestamp`` is the time of this attempt, so a retry is never
rejected as a stale replay; ``webhook-signature`` is sent when the channel has a secret.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from alerts.delivery import deliver
from alerts.outbox import ClaimedAlert
from alerts.signing import signature_headers
from monitor.clock import Clock
from monitor.guarded_http import GuardedClient

if TYPE_CHECKING:
    from alerts.channels import Pace


def webhook_body(alert: ClaimedAlert) -> bytes:
    """The exact bytes posted and signed: the event's JSON, compact UTF-8, Arabic left
    readable."""
    text = json.dumps(alert.event.to_json(), ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8")


class WebhookChannel:
    def __init__(
        self,
        name: str,
        url: str,
        client: GuardedClient,
        clock: Clock,
        *,
        secret: str | None = None,
        deadline: timedelta,
        pace: Pace,
    ) -> None:
        self.name = name
        self.deadline = deadline  # the client's total deadline
        self.packs = False  # one event per webhook-id
        self.pace = pace
        self._url = url
        self._client = client
        self._clock = clock
        self._secret = secret

    def send(self, alerts: Sequence[ClaimedAlert]) -> str:
        (alert,) = alerts  # never packed: each event has its own webhook-id
        body = webhook_body(alert)
        timestamp = int(self._clock.now().timestamp())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            **signature_headers(self._secret, alert.alert_id, timestamp, body),
        }
        return deliver(self._client, self._url, body, headers, self._clock.now()).summary
