"""The cadence of the service: APScheduler's AsyncIOScheduler as a plain ticker.

APScheduler only says *when* to look; what is due lives in the database. Jobs are
coroutines so they run on the service's loop (a plain function would run in a worker
thread, away from Scrapy's loop). ``coalesce`` and ``max_instances=1`` mean a slow round
is never run twice at once, and missed ticks collapse into one instead of piling up.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

logger = logging.getLogger(__name__)


class Ticker:
    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    def every(
        self,
        interval: timedelta,
        job: Callable[[], Awaitable[object]],
        *,
        name: str,
        now: bool = False,
    ) -> None:
        """Run ``job`` every ``interval`` (and right away when ``now``)."""
        # An explicit next_run_time=None would add the job paused: pass it only when set.
        first_run = {"next_run_time": datetime.now(UTC)} if now else {}
        self._scheduler.add_job(
            job,
            "interval",
            seconds=max(interval.total_seconds(), 0.05),
            id=name,
            name=name,
            **first_run,
        )

    def start(self) -> None:
        self._scheduler.start()

    @property
    def running(self) -> bool:
        """Started and not shut down (what /readyz reports as the scheduler)."""
        return bool(self._scheduler.running)

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
