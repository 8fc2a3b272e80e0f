"""One dispatch round from synchronous test code: the service's own async round, run to
its end on a loop of its own (the dispatcher has no synchronous twin); and the sleep a
paced dispatcher waits with under a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from alerts.dispatch import Dispatcher, DispatchSummary
from monitor.clock import FakeClock


def dispatch_due(dispatcher: Dispatcher, *, ignore_backoff: bool = False) -> DispatchSummary:
    return asyncio.run(dispatcher.dispatch_due(ignore_backoff=ignore_backoff))


@dataclass
class FakeSleep:
    """An async sleep that moves the fake clock instead of waiting, records each wait,
    and calls ``during`` with the new time (what happened meanwhile: matches arriving)."""

    clock: FakeClock
    during: Callable[[datetime], None] | None = None
    waits: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)
        if self.during is not None:
            self.during(self.clock.now())
        await asyncio.sleep(0)
