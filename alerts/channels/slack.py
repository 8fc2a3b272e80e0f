"""Slack incoming webhooks: one rendered message per alert.

Slack answers errors in plain text: 400 ``invalid_payload``, 403 ``action_prohibited`` or
``invalid_token``, 404 ``no_service`` (the URL was revoked) or ``channel_not_found``, 410
``channel_is_archived``. These are permanent: the alert goes to the dead letters with
Slack's word for why. A 429 carries Retry-After and is retried; so is a 5xx. Slack has
no idempotency key, so a retry after a lost answer shows the message twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from alerts.delivery import deliver
from alerts.event import MatchEvent
from alerts.outbox import ClaimedAlert
from alerts.render import slack_message
from monitor.clock import Clock
from monitor.errors import DeliveryError
from monitor.guarded_http import GuardedClient

if TYPE_CHECKING:
    from alerts.channels import Pace


class SlackChannel:
    def __init__(
        self,
        name: str,
        url: str,
        client: GuardedClient,
        clock: Clock,
        *,
        deadline: timedelta,
        pace: Pace,
    ) -> None:
        self.name = name
        self.deadline = deadline  # the client's total deadline
        self.packs = False  # TODO(issue 16): several alerts in one message
        self.pace = pace
        self._url = url
        self._client = client
        self._clock = clock

    def send(self, alerts: Sequence[ClaimedAlert]) -> str:
        (alert,) = alerts
        if not isinstance(alert.event, MatchEvent):
            raise DeliveryError("TODO(issue 16): digests and follow-ups in Slack", permanent=True)
        message = slack_message(alert.event)
        body = json.dumps(message, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        return deliver(self._client, self._url, body, headers, self._clock.now()).summary
