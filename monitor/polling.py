"""When to poll a source next: adaptive intervals, error backoff, Retry-After, pausing.

A source that published something since the last poll is polled sooner next time
(the interval halves), one that had nothing is polled later (x1.5), always between
``[crawl] min_interval`` and ``max_interval``; a source whose settings give an
``interval`` keeps it (pinned). Each interval gets +-10% jitter so sources added
together do not stay in lockstep. Errors back off exponentially from the interval up to
``error_backoff_max``; a server's Retry-After (429/503) is honoured up to a day. After
``pause_after_failures`` consecutive errors the source is paused until a user resumes it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

JITTER = 0.1
FASTER = 0.5
SLOWER = 1.5
MAX_RETRY_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class PollingPolicy:
    min_interval: timedelta
    max_interval: timedelta
    backoff_max: timedelta
    pause_after_failures: int

    def next_interval(self, current: timedelta, new_entries: int, *, pinned: bool) -> timedelta:
        """The interval after a successful poll that found ``new_entries`` new entries."""
        if pinned:
            return current
        factor = FASTER if new_entries > 0 else SLOWER
        return min(max(current * factor, self.min_interval), self.max_interval)

    def error_delay(
        self, interval: timedelta, failures: int, retry_after: float | None
    ) -> timedelta:
        """How long to wait after the ``failures``-th consecutive error."""
        delay = min(interval * 2 ** (failures - 1), max(self.backoff_max, interval))
        if retry_after is not None and retry_after > 0:
            delay = max(delay, min(timedelta(seconds=retry_after), MAX_RETRY_AFTER))
        return delay

    def should_pause(self, failures: int) -> bool:
        return 0 < self.pause_after_failures <= failures


def jittered(now: datetime, delay: timedelta, rng: random.Random) -> datetime:
    """``now + delay``, give or take 10%."""
    return now + delay * (1 + rng.uniform(-JITTER, JITTER))
