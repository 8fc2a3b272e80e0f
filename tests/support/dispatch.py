"""One dispatch round from synchronous test code: the service's own async round, run to
its end on a loop of its own (the dispatcher has no synchronous twin)."""

from __future__ import annotations

import asyncio

from alerts.dispatch import Dispatcher, DispatchSummary


def dispatch_due(dispatcher: Dispatcher, *, ignore_backoff: bool = False) -> DispatchSummary:
    return asyncio.run(dispatcher.dispatch_due(ignore_backoff=ignore_backoff))
