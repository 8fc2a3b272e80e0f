"""Slack incoming webhooks: one rendered message per send, for one alert or several.

The channel packs: the dispatcher may hand it the alerts of one article that several
watchlists matched, or a burst of matches, and they become one message
(:func:`alerts.compose.compose`, rendered by :func:`alerts.render.slack_message`).
Incoming webhooks take about one message per second, with short bursts: the channel's
default rate (``DEFAULT_RATES``), kept by the dispatcher.

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

from alerts.compose import compose
from alerts.delivery import deliver
from alerts.outbox import ClaimedAlert
from alerts.render import slack_message
from monitor.clock import Clock
from monitor.errors import DeliveryError
from monitor.guarded_http import GuardedClient

if TYPE_CHECKING:
    from alerts.channels import Pace
    from alerts.templating import MessageTemplate


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
        template: MessageTemplate | None = None,
    ) -> None:
        self.name = name
        self.deadline = deadline  # the client's total deadline
        self.packs = True
        self.pace = pace
        # A channel's own template words the notification line (its "notification"
        # block); without one, render.slack_notification does.
        self._template = template
        self._url = url
        self._client = client
        self._clock = clock

    def send(self, alerts: Sequence[ClaimedAlert]) -> str:
        try:
            composed = compose([alert.event for alert in alerts])
        except ValueError as exc:  # a digest packed with others: the dispatcher's bug
            raise DeliveryError(f"cannot compose a Slack message: {exc}") from exc
        notification = None
        if self._template is not None:
            try:
                notification = self._template.render_part("notification", composed)
            except ValueError as exc:  # a TemplateProblem: checked at start, so rare
                raise DeliveryError(f"cannot render the message: {exc}", permanent=True) from exc
        message = slack_message(composed, notification=notification)
        body = json.dumps(message, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        return deliver(self._client, self._url, body, headers, self._clock.now()).summary
