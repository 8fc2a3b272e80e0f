"""The console channel: alerts printed as readable text (the default with no channel set).

Writing to a healthy stream cannot fail; a closed or broken one (a pipe whose reader
went away) is reported as a transient DeliveryError so the alert is kept, not lost.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, TextIO

from alerts.event import MatchEvent
from alerts.outbox import ClaimedAlert
from alerts.render import console_text
from monitor.errors import DeliveryError

if TYPE_CHECKING:
    from alerts.channels import Pace


class ConsoleChannel:
    def __init__(
        self, name: str, stream: TextIO | None = None, *, deadline: timedelta, pace: Pace
    ) -> None:
        self.name = name
        self.deadline = deadline  # not enforced: a console write does not wait on others
        self.packs = False  # TODO(issue 16): several alerts in one block
        self.pace = pace
        self._stream = stream

    def send(self, alerts: Sequence[ClaimedAlert]) -> str:
        stream = self._stream if self._stream is not None else sys.stdout
        try:
            for alert in alerts:
                if not isinstance(alert.event, MatchEvent):
                    raise DeliveryError("TODO(issue 16): digests on the console", permanent=True)
                stream.write(console_text(alert.event) + "\n")
            stream.flush()
        except (OSError, ValueError) as exc:
            raise DeliveryError(f"cannot write to the console: {exc}") from exc
        return "written"
