"""The dispatcher: claim due alerts from the outbox, send them, settle each one.

One round (``dispatch_due``) serves each channel on its own. Within a channel
alerts go strictly in order: each is claimed in a batch, its lease renewed just before
its send, then settled. When a send fails transiently, the channel's remaining claimed
alerts are released unattempted and the channel sits out the rest of the round, so
nothing overtakes the alert that waits for its retry (the outbox keeps that order across
rounds too). Other channels carry on. A permanent failure does not block: that alert
goes to the dead letters and the next one is sent.

Alerts of a channel this process has not configured (or that is switched off) stay
pending, untouched except for a note in ``last_error``; no attempt is counted, and they
go out once a process with that channel runs. They are counted as ``skipped``.

An alert is leased for its channel's deadline plus :data:`LEASE_MARGIN`, so however slow
a channel's receiver, no second dispatcher takes over an alert while its send may still
succeed.

There is one round, and it is async: it never blocks the event loop on HTTP, sends run
in worker threads (``asyncio.to_thread``), channels concurrently, each channel one alert
at a time; the short outbox transactions run on the loop thread. Synchronous callers
run it with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from random import Random

from alerts import outbox
from alerts.channels import Channel
from alerts.outbox import ClaimedAlert
from monitor.clock import Clock
from monitor.config import AlertSettings
from monitor.db.session import Database
from monitor.errors import DeliveryError

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 20
LEASE_MARGIN = timedelta(seconds=30)


@dataclass
class DispatchSummary:
    """What one round did.

    ``failed`` counts transient failures (retried later), ``dead`` permanent ones or
    alerts out of attempts, ``skipped`` alerts left pending without an attempt (behind a
    failed alert of their channel, or for a channel not configured here), ``lease_lost``
    alerts another dispatcher took over (not settled by this one). ``latencies`` holds,
    for each alert sent, the time from its creation (its match) to its delivery: the
    service's metrics read it (not compared: it depends on the clock).
    """

    sent: int = 0
    failed: int = 0
    dead: int = 0
    skipped: int = 0
    lease_lost: int = 0
    latencies: list[timedelta] = field(default_factory=list, compare=False, repr=False)

    def add(self, other: DispatchSummary) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.dead += other.dead
        self.skipped += other.skipped
        self.lease_lost += other.lease_lost
        self.latencies.extend(other.latencies)


class Dispatcher:
    def __init__(
        self,
        db: Database,
        channels: Mapping[str, Channel],
        alert_settings: AlertSettings,
        clock: Clock,
        rng: Random | None = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self._db = db
        self._channels = dict(channels)
        self._settings = alert_settings
        self._clock = clock
        self._rng = rng or Random()
        self._batch_size = batch_size

    def set_channels(self, channels: Mapping[str, Channel]) -> None:
        """Deliver to these channels from the next round on (a round under way keeps
        the channel objects it started with)."""
        self._channels = dict(channels)

    def lease_for(self, channel: str | Channel) -> timedelta:
        """How long one send to ``channel`` may own its alert: that channel's whole
        deadline plus a margin, so a slow receiver never sees a second sender."""
        found = self._channels[channel] if isinstance(channel, str) else channel
        return found.deadline + LEASE_MARGIN

    async def dispatch_due(self, *, ignore_backoff: bool = False) -> DispatchSummary:
        """One round: every due alert of every channel, channels concurrently, sends in
        threads, never blocking the loop."""
        summary = DispatchSummary(skipped=self._hold_unconfigured())
        # The channels as they are now: set_channels during the round changes the next.
        channels = self._channels
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(self._channel_round(name, channels[name], ignore_backoff))
                for name in sorted(channels)
            ]
        for task in tasks:
            summary.add(task.result())
        return summary

    # -- one channel ------------------------------------------------------------

    async def _channel_round(
        self, name: str, channel: Channel, ignore_backoff: bool
    ) -> DispatchSummary:
        summary = DispatchSummary()
        while batch := self._claim(name, channel, ignore_backoff):
            for index, alert in enumerate(batch):
                if not self._renew(alert, channel, summary):
                    return self._stop(batch[index + 1 :], summary)
                error = await asyncio.to_thread(_attempt, channel, alert)
                if not self._settle(alert, error, summary):
                    return self._stop(batch[index + 1 :], summary)
        return summary

    def _claim(self, name: str, channel: Channel, ignore_backoff: bool) -> list[ClaimedAlert]:
        return outbox.claim_due(
            self._db,
            now=self._clock.now(),
            limit=self._batch_size,
            lease=self.lease_for(channel),
            ignore_backoff=ignore_backoff,
            channels=[name],
        )

    def _renew(self, alert: ClaimedAlert, channel: Channel, summary: DispatchSummary) -> bool:
        if outbox.renew(self._db, alert, self._clock.now(), self.lease_for(channel)):
            return True
        logger.warning("alert %s: lease lost before sending; left to its new owner", alert.id)
        summary.lease_lost += 1
        return False

    def _settle(
        self, alert: ClaimedAlert, error: DeliveryError | None, summary: DispatchSummary
    ) -> bool:
        """Record the attempt; False when the channel must stop for this round."""
        now = self._clock.now()
        if error is None:
            if outbox.mark_sent(self._db, alert, now):
                summary.sent += 1
                if alert.created_at is not None:
                    summary.latencies.append(now - alert.created_at)
                return True
            return self._lost(alert, summary)
        retry_at = outbox.next_attempt_time(
            alert.attempts + 1,
            error,
            now,
            max_attempts=self._settings.max_attempts,
            rng=self._rng,
        )
        if not outbox.mark_failed(self._db, alert, error, now, retry_at):
            return self._lost(alert, summary)
        if retry_at is None:
            summary.dead += 1
            logger.warning("alert %s to %s is dead: %s", alert.id, alert.channel, error)
            return True
        summary.failed += 1
        logger.info(
            "alert %s to %s failed, next try at %s: %s",
            alert.id,
            alert.channel,
            retry_at.isoformat(),
            error,
        )
        return False

    def _lost(self, alert: ClaimedAlert, summary: DispatchSummary) -> bool:
        logger.warning("alert %s: lease lost during the send; not settled here", alert.id)
        summary.lease_lost += 1
        return False

    def _stop(self, rest: list[ClaimedAlert], summary: DispatchSummary) -> DispatchSummary:
        summary.skipped += outbox.release(self._db, rest)
        return summary

    def _hold_unconfigured(self) -> int:
        held = outbox.hold_unconfigured(self._db, list(self._channels), self._clock.now())
        if held:
            logger.info("%d alert(s) wait for channels not configured here", held)
        return held


def _attempt(channel: Channel, alert: ClaimedAlert) -> DeliveryError | None:
    """Send once; the failure as a value, so settling happens on the caller's thread.

    An unexpected exception (a bug in a channel or renderer) is logged with its traceback
    and counted as a transient failure: the alert is kept, and a poison alert reaches the
    dead letters after ``max_attempts`` instead of stalling its channel forever.
    """
    try:
        channel.send([alert])
    except DeliveryError as error:
        return error
    except Exception as exc:  # reported here with its traceback, and stored on the alert
        logger.exception("alert %s: channel %s raised unexpectedly", alert.id, alert.channel)
        return DeliveryError(f"internal error in channel {alert.channel!r}: {exc!r}")
    return None
