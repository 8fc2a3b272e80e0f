"""The console channel: each message printed as a readable block on stdout.

Any message kind, through the channel's template (alerts/templates/console.j2 unless its
``template`` replaces it); several alerts given at once are one block. Control characters
of feed text are removed by the template's rendering. A write that fails (a closed pipe, a
terminal that went away) is reported as a transient DeliveryError so the alert is kept,
not lost; a template that fails on this message is a permanent one.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, TextIO

from alerts.compose import compose
from alerts.outbox import ClaimedAlert
from monitor.errors import DeliveryError

if TYPE_CHECKING:
    from alerts.channels import Pace
    from alerts.templating import MessageTemplate


class ConsoleChannel:
    def __init__(
        self,
        name: str,
        stream: TextIO | None = None,
        *,
        deadline: timedelta,
        pace: Pace,
        template: MessageTemplate,
    ) -> None:
        self.name = name
        self.deadline = deadline  # not enforced: a console write does not wait on others
        self.packs = True
        self.pace = pace
        self._stream = stream
        self._template = template

    def send(self, alerts: Sequence[ClaimedAlert]) -> str:
        try:
            text = self._template.render_part("text", compose([a.event for a in alerts]))
        except ValueError as exc:  # a TemplateProblem, or alerts that are no one message
            raise DeliveryError(f"cannot render the message: {exc}", permanent=True) from exc
        stream = self._stream if self._stream is not None else sys.stdout
        try:
            stream.write(text + "\n\n")
            stream.flush()
        except (OSError, ValueError) as exc:
            raise DeliveryError(f"cannot write to the console: {exc}") from exc
        return "written"
