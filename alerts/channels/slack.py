"""Slack incoming webhooks: one rendered message per alert.

Slack answers errors in plain text: 400 ``invalid_payload``, 403 ``action_prohibited`` or
``invalid_token``, 404 ``no_service`` (the URL was revoked) or ``channel_not_found``, 410
``channel_is_archived``. These are permanent: the alert goes to the dead letters with
Slack's word for why. A 429 carries Retry-After and is retried; so is a 5xx. Slack has
no idempotency key, so a retry after a lost answer shows the message twice.
"""

from __future__ import annotations

import json
from datetime import timedelta

from alerts.http import AlertPoster
from alerts.outbox import ClaimedAlert
from alerts.render import slack_message


class SlackChannel:
    def __init__(self, name: str, url: str, poster: AlertPoster, *, deadline: timedelta) -> None:
        self.name = name
        self.deadline = deadline  # the poster's total deadline
        self._url = url
        self._poster = poster

    def send(self, alert: ClaimedAlert) -> None:
        message = slack_message(alert.event)
        body = json.dumps(message, ensure_ascii=False).encode("utf-8")
        self._poster.post(self._url, body, {"Content-Type": "application/json; charset=utf-8"})
