"""The dispatcher: claim due alerts from the outbox, send them, settle each one.

One round (``dispatch_due``) serves each channel on its own. Within a channel
alerts go strictly in order: they are claimed in a batch, the leases of each message's
alerts renewed just before its send, then settled. When a send fails transiently, the
channel's remaining claimed alerts are released unattempted and the channel sits out the
rest of the round, so nothing overtakes the alert that waits for its retry (the outbox
keeps that order across rounds too). Other channels carry on. A permanent failure does
not block: those alerts go to the dead letters and the next message is sent.

Pacing. Each channel has a *bucket* (a token bucket, in memory): ``pace.rate`` messages
per second, holding up to ``pace.burst``; one message takes one token. A channel with no
token waits for the next one (the injected ``sleep``, by the injected clock) before it
claims, so what became due meanwhile goes in the same message. A channel that *packs*
(Slack) sends consecutive match alerts of one article as one message naming every
watchlist; when more messages are due than it has tokens, it sends the first ones alone
and the rest as one batch message ("12 new matches for ..."), never dropping or delaying
them without bound. Digests and follow-ups always go alone. A channel that does not
pack (a signed webhook: one event per ``webhook-id``) sends one alert per token and
leaves the rest for its next tokens. A channel waits at most ``max_wait`` in total per
round (the dispatch interval), so a slow rate never holds up the next round of the
other channels; what it did not send then is counted ``paced``. A receiver's
Retry-After (a 429) empties that channel's bucket until then, besides the outbox's
backoff; other channels' buckets are their own.

Quiet hours. During a channel's ``pace.quiet_hours`` (minutes of the day in its
``pace.time_zone``, by the clock's now; a window may wrap midnight) only urgent alerts are
claimed for it. The others wait in the outbox, and go out packed by the rule above when
the window ends.

Alerts of a channel this process has not configured (or that is switched off) stay
pending, untouched except for a note in ``last_error``; no attempt is counted, and they
go out once a process with that channel runs. They are counted as ``skipped``.

An alert is leased for its channel's deadline plus :data:`LEASE_MARGIN`, so however slow
a channel's receiver, no second dispatcher takes over an alert while its send may still
succeed.

There is one round, and it is async: it never blocks the event loop on HTTP, sends run
in worker threads (``asyncio.to_thread``), channels concurrently, each channel one message
at a time; the short outbox transactions run on the loop thread. Synchronous callers
run it with ``asyncio.run``.

A round cancelled mid-way (a service stopping) gives back every alert it claimed and has
not settled, unattempted, so another instance or the next start sends them at once
rather than after their leases. A send already under way in its thread is not waited
for: if its receiver got it, the retry carries the same ``webhook-id`` for it to drop.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from random import Random
from zoneinfo import ZoneInfo

from alerts import outbox
from alerts.channels import Channel, Pace
from alerts.compose import article_key
from alerts.event import MatchEvent
from alerts.outbox import ClaimedAlert
from monitor.clock import Clock
from monitor.config import AlertSettings
from monitor.db.session import Database
from monitor.errors import DeliveryError

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 20
# A packing channel claims this many at once: all of them may become one message.
PACKING_BATCH_SIZE = 100
LEASE_MARGIN = timedelta(seconds=30)

Sleep = Callable[[float], Awaitable[object]]


@dataclass
class DispatchSummary:
    """What one round did.

    ``sent`` counts alerts delivered (``messages`` the messages that carried them: fewer
    when a channel packs). ``failed`` counts transient failures (retried later), ``dead``
    permanent ones or alerts out of attempts, ``skipped`` alerts left pending without an
    attempt (behind a failed alert of their channel, or for a channel not configured
    here), ``paced`` alerts a channel's rate left for a later round, ``lease_lost`` alerts
    another dispatcher took over (not settled by this one). ``latencies`` holds, for each
    alert sent, the time from its creation (its match) to its delivery: the service's
    metrics read it (not compared: it depends on the clock).
    """

    sent: int = 0
    failed: int = 0
    dead: int = 0
    skipped: int = 0
    lease_lost: int = 0
    paced: int = 0
    messages: int = field(default=0, compare=False)
    latencies: list[timedelta] = field(default_factory=list, compare=False, repr=False)

    def add(self, other: DispatchSummary) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.dead += other.dead
        self.skipped += other.skipped
        self.lease_lost += other.lease_lost
        self.paced += other.paced
        self.messages += other.messages
        self.latencies.extend(other.latencies)


class Bucket:
    """One channel's token bucket: ``rate`` tokens per second up to ``burst``, by the
    clock's time; None as rate is no limit. ``block`` empties it until a moment (a
    receiver's Retry-After), after which it refills from one token."""

    def __init__(self, rate: float | None, burst: int, now: datetime) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._stamp = now
        self._blocked_until: datetime | None = None

    def tokens(self, now: datetime) -> float:
        if self._blocked_until is not None and now < self._blocked_until:
            return 0.0
        if self.rate is None:
            return math.inf
        elapsed = max(0.0, (now - self._stamp).total_seconds())
        return min(float(self.burst), self._tokens + elapsed * self.rate)

    def wait(self, now: datetime) -> float:
        """Seconds until a whole token is there (0 when one is)."""
        if self._blocked_until is not None and now < self._blocked_until:
            return (self._blocked_until - now).total_seconds()
        missing = 1.0 - self.tokens(now)
        if missing <= 0 or self.rate is None:
            return 0.0
        # Rounded up to the clock's microsecond, so that after the wait a token is there.
        return math.ceil(missing / self.rate * 1e6 + 1) / 1e6

    def take(self, now: datetime) -> None:
        tokens = self.tokens(now)
        if self.rate is not None:
            self._tokens = max(0.0, tokens - 1.0)
            self._stamp = max(now, self._stamp)

    def block(self, until: datetime) -> None:
        self._blocked_until = until
        self._tokens = 1.0
        self._stamp = until


def in_quiet_hours(pace: Pace, now: datetime) -> bool:
    """Whether ``now`` falls in the pace's quiet window, read in its time zone."""
    if pace.quiet_hours is None:
        return False
    local = now.astimezone(ZoneInfo(pace.time_zone))
    minute = local.hour * 60 + local.minute
    start, end = pace.quiet_hours
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end  # the window wraps midnight


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
        sleep: Sleep = asyncio.sleep,
        max_wait: timedelta | None = None,
    ) -> None:
        self._db = db
        self._channels = dict(channels)
        self._settings = alert_settings
        self._clock = clock
        self._rng = rng or Random()
        self._batch_size = batch_size
        self._sleep = sleep
        self._max_wait = (max_wait or alert_settings.dispatch_interval).total_seconds()
        self._buckets: dict[str, tuple[Pace, Bucket]] = {}
        # Alerts whose message is being sent now (what `rasid status` shows an instance
        # holds; their outbox leases are per claim, not per instance).
        self.in_flight = 0

    def set_channels(self, channels: Mapping[str, Channel]) -> None:
        """Deliver to these channels from the next round on (a round under way keeps
        the channel objects it started with)."""
        self._channels = dict(channels)

    def set_settings(self, alert_settings: AlertSettings) -> None:
        """Use these alert settings (attempts, the round's wait) from the next round on."""
        self._settings = alert_settings
        self._max_wait = alert_settings.dispatch_interval.total_seconds()

    def lease_for(self, channel: str | Channel) -> timedelta:
        """How long one send to ``channel`` may own its alert: that channel's whole
        deadline plus a margin, so a slow receiver never sees a second sender."""
        found = self._channels[channel] if isinstance(channel, str) else channel
        return found.deadline + LEASE_MARGIN

    def bucket(self, name: str, channel: Channel) -> Bucket:
        """The channel's bucket, kept across rounds; a new one when its pace changed."""
        kept = self._buckets.get(name)
        if kept is None or kept[0].rate != channel.pace.rate or kept[0].burst != channel.pace.burst:
            kept = (channel.pace, Bucket(channel.pace.rate, channel.pace.burst, self._clock.now()))
            self._buckets[name] = kept
        return kept[1]

    async def dispatch_due(self, *, ignore_backoff: bool = False) -> DispatchSummary:
        """One round: every due alert of every channel, channels concurrently, sends in
        threads, never blocking the loop."""
        summary = DispatchSummary(skipped=self._hold_unconfigured())
        # The channels as they are now: set_channels during the round changes the next.
        channels = self._channels
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(_ChannelRound(self, name, channels[name], ignore_backoff).run())
                for name in sorted(channels)
            ]
        for task in tasks:
            summary.add(task.result())
        return summary

    def _hold_unconfigured(self) -> int:
        held = outbox.hold_unconfigured(self._db, list(self._channels), self._clock.now())
        if held:
            logger.info("%d alert(s) wait for channels not configured here", held)
        return held


class _ChannelRound:
    """One channel's share of a round: claim, wait for tokens, pack, send, settle."""

    def __init__(
        self, dispatcher: Dispatcher, name: str, channel: Channel, ignore_backoff: bool
    ) -> None:
        self.d = dispatcher
        self.name = name
        self.channel = channel
        self.ignore_backoff = ignore_backoff
        self.bucket = dispatcher.bucket(name, channel)
        self.summary = DispatchSummary()
        self.waited = 0.0
        # Claimed and not yet settled or given back: what a cancellation gives back.
        self.held: dict[int, ClaimedAlert] = {}

    async def run(self) -> DispatchSummary:
        try:
            return await self._run()
        except asyncio.CancelledError:
            given = outbox.release(self.d._db, list(self.held.values()))
            if given:
                logger.info("%d alert(s) to %s given back unsent (stopping)", given, self.name)
            raise

    async def _run(self) -> DispatchSummary:
        while True:
            batch = self._claim()
            self.held = {alert.id: alert for alert in batch}
            if not batch:
                return self.summary
            if self.bucket.tokens(self._now()) < 1:
                # No token: give the batch back, wait, and claim again, so whatever
                # became due meanwhile is in the next message too.
                outbox.release(self.d._db, batch)
                self.held = {}
                if not await self._wait_for_token():
                    self.summary.paced += len(batch)
                    return self.summary
                continue
            messages = self._plan(batch)
            for index, message in enumerate(messages):
                if index and not await self._wait_for_token():
                    rest = [alert for later in messages[index:] for alert in later]
                    self.summary.paced += outbox.release(self.d._db, rest)
                    return self.summary
                if not await self._send(message):
                    rest = [alert for later in messages[index + 1 :] for alert in later]
                    self.summary.skipped += outbox.release(self.d._db, rest)
                    return self.summary

    # -- what to send --------------------------------------------------------------

    def _claim(self) -> list[ClaimedAlert]:
        now = self._now()
        packs = self.channel.packs
        return outbox.claim_due(
            self.d._db,
            now=now,
            limit=max(self.d._batch_size, PACKING_BATCH_SIZE) if packs else self.d._batch_size,
            lease=self.d.lease_for(self.channel),
            ignore_backoff=self.ignore_backoff,
            channels=[self.name],
            urgent_only=in_quiet_hours(self.channel.pace, now),
        )

    def _plan(self, batch: list[ClaimedAlert]) -> list[list[ClaimedAlert]]:
        """The messages ``batch`` makes, in order, for the tokens there are now."""
        if not self.channel.packs:
            return [[alert] for alert in batch]
        units = _by_article(batch)
        tokens = self.bucket.tokens(self._now())
        if len(units) <= tokens:
            return units
        alone = max(0, int(tokens) - 1)
        return units[:alone] + _packed(units[alone:])

    # -- tokens --------------------------------------------------------------------

    async def _wait_for_token(self) -> bool:
        """Wait for the next token within the round's allowance; False if it is beyond."""
        wait = self.bucket.wait(self._now())
        if wait <= 0:
            return True
        if self.waited + wait > self.d._max_wait:
            return False
        self.waited += wait
        await self.d._sleep(wait)
        return True

    # -- one message ---------------------------------------------------------------

    async def _send(self, message: list[ClaimedAlert]) -> bool:
        """Renew, send and settle one message; False when the channel must stop."""
        d = self.d
        owned = outbox.renew_all(d._db, message, self._now(), d.lease_for(self.channel))
        if not all(owned):
            lost = owned.count(False)
            logger.warning(
                "%d alert(s) to %s: lease lost before sending; left to the new owner",
                lost,
                self.name,
            )
            self.summary.lease_lost += lost
            kept = [alert for alert, mine in zip(message, owned, strict=True) if mine]
            self.summary.skipped += outbox.release(d._db, kept)
            return False
        self.bucket.take(self._now())
        d.in_flight += len(message)
        try:
            error = await asyncio.to_thread(_attempt, self.channel, message)
        finally:
            d.in_flight -= len(message)
        if error is not None and error.retry_after is not None:
            self.bucket.block(self._now() + timedelta(seconds=max(0.0, error.retry_after)))
        return self._settle(message, error)

    def _settle(self, message: list[ClaimedAlert], error: DeliveryError | None) -> bool:
        """Record the attempt for every alert of the message; False when the channel
        must stop for this round."""
        d = self.d
        now = self._now()
        for alert in message:
            self.held.pop(alert.id, None)
        if error is None:
            settled = outbox.mark_all_sent(d._db, message, now)
            self.summary.messages += 1
            for alert, mine in zip(message, settled, strict=True):
                if mine:
                    self.summary.sent += 1
                    if alert.created_at is not None:
                        self.summary.latencies.append(now - alert.created_at)
            return self._lost(message, settled)
        retries = _retry_times(message, error, now, d._settings.max_attempts, d._rng)
        settled = outbox.mark_all_failed(d._db, message, error, now, retries)
        for alert, retry_at, mine in zip(message, retries, settled, strict=True):
            if not mine:
                continue
            if retry_at is None:
                self.summary.dead += 1
                logger.warning("alert %s to %s is dead: %s", alert.id, alert.channel, error)
            else:
                self.summary.failed += 1
                logger.info(
                    "alert %s to %s failed, next try at %s: %s",
                    alert.id,
                    alert.channel,
                    retry_at.isoformat(),
                    error,
                )
        if not self._lost(message, settled):
            return False
        return all(retry_at is None for retry_at in retries)

    def _lost(self, message: list[ClaimedAlert], settled: list[bool]) -> bool:
        lost = settled.count(False)
        if lost:
            logger.warning(
                "%d alert(s) to %s: lease lost during the send; not settled here",
                lost,
                self.name,
            )
            self.summary.lease_lost += lost
        return not lost

    def _now(self) -> datetime:
        return self.d._clock.now()


def _by_article(batch: list[ClaimedAlert]) -> list[list[ClaimedAlert]]:
    """Consecutive match alerts of one article as one unit; anything else alone."""
    units: list[list[ClaimedAlert]] = []
    for alert in batch:
        previous = units[-1][-1].event if units else None
        if (
            isinstance(alert.event, MatchEvent)
            and isinstance(previous, MatchEvent)
            and article_key(previous) == article_key(alert.event)
        ):
            units[-1].append(alert)
        else:
            units.append([alert])
    return units


def _packed(units: list[list[ClaimedAlert]]) -> list[list[ClaimedAlert]]:
    """Runs of match units as one message each; digests and follow-ups alone."""
    messages: list[list[ClaimedAlert]] = []
    run: list[ClaimedAlert] = []
    for unit in units:
        if isinstance(unit[0].event, MatchEvent):
            run.extend(unit)
            continue
        if run:
            messages.append(run)
            run = []
        messages.append(unit)
    if run:
        messages.append(run)
    return messages


def _retry_times(
    message: Sequence[ClaimedAlert],
    error: DeliveryError,
    now: datetime,
    max_attempts: int,
    rng: Random,
) -> list[datetime | None]:
    """When each alert of a failed message is tried again: together, at the time the
    most tried of them would wait for; None (dead) for the permanent failures and the
    alerts that used up their attempts."""
    most = max(alert.attempts for alert in message) + 1
    shared = outbox.next_attempt_time(most, error, now, max_attempts=most + 1, rng=rng)
    return [
        None if shared is None or alert.attempts + 1 >= max_attempts else shared
        for alert in message
    ]


def _attempt(channel: Channel, message: Sequence[ClaimedAlert]) -> DeliveryError | None:
    """Send once; the failure as a value, so settling happens on the caller's thread.

    An unexpected exception (a bug in a channel or renderer) is logged with its traceback
    and counted as a transient failure: the alerts are kept, and a poison alert reaches
    the dead letters after ``max_attempts`` instead of stalling its channel forever.
    """
    first = message[0]
    try:
        channel.send(message)
    except DeliveryError as error:
        return error
    except Exception as exc:  # reported here with its traceback, and stored on the alert
        logger.exception("alert %s: channel %s raised unexpectedly", first.id, first.channel)
        return DeliveryError(f"internal error in channel {first.channel!r}: {exc!r}")
    return None
