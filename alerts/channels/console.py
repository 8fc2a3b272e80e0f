"""The console channel: alerts printed as readable text (the default with no channel set).

Writing to a healthy stream cannot fail; a closed or broken one (a pipe whose reader
went away) is reported as a transient DeliveryError so the alert is kept, not lost.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import TextIO

from alerts.outbox import ClaimedAlert
from alerts.render import console_text
from monitor.errors import DeliveryError


class ConsoleChannel:
    def __init__(self, name: str, stream: TextIO | None = None, *, deadline: timedelta) -> None:
        self.name = name
        self.deadline = deadline  # not enforced: a console write does not wait on others
        self._stream = stream

    def send(self, alert: ClaimedAlert) -> None:
        stream = self._stream if self._stream is not None else sys.stdout
        try:
            stream.write(console_text(alert.event) + "\n")
            stream.flush()
        except (OSError, ValueError) as exc:
            raise DeliveryError(f"cannot write to the console: {exc}") from exc
