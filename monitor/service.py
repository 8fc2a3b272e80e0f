"""The service: settings, database, crawler, ingest and dispatcher wired into one loop.

``rasid run`` and ``rasid run --once`` both come here. The service is also the crawler's
:class:`~crawler.sink.CrawlSink`: poll outcomes go to ``monitor.sources``, articles to
``monitor.ingest``, and an enqueued alert wakes the dispatcher at once instead of waiting
for its next tick (the feed-to-webhook latency is what users feel).
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TextIO

from alerts.channels import build_channels
from alerts.dispatch import Dispatcher, DispatchSummary
from crawler.items import ArticleItem, FeedEntry
from crawler.runner import CrawlerHandle
from crawler.sink import DueSource, PollOutcome
from monitor import sources as source_state
from monitor.clock import Clock, SystemClock
from monitor.config import Settings
from monitor.db.session import Database, InstanceLock
from monitor.ingest import Ingestor
from monitor.matching import Synonyms
from monitor.netguard import NetworkPolicy
from monitor.polling import PollingPolicy
from monitor.scheduler import Ticker
from monitor.watchlists import WatchlistBook, sync_watchlists

logger = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What one ``rasid run --once`` did, for the closing summary line."""

    polled: int = 0
    ok: int = 0
    not_modified: int = 0
    # From the crawler's own counters: unchanged polls end before any parse.
    answered_304: int = 0
    same_body: int = 0
    parsed: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    new_articles: int = 0
    duplicates: int = 0
    matches: int = 0
    alerts_enqueued: int = 0
    delivery: DispatchSummary | None = None


class Service:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        alert_stream: TextIO | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.db = Database(settings.database_url)
        self.lock = InstanceLock(self.db)
        crawl = settings.crawl
        self.polling = PollingPolicy(
            min_interval=crawl.min_interval,
            max_interval=crawl.max_interval,
            backoff_max=crawl.error_backoff_max,
            pause_after_failures=crawl.pause_after_failures,
        )
        self._rng = random.Random()
        self._stories_loaded = False
        self.watchlists = WatchlistBook(self.db, Synonyms(settings.matching.synonyms))
        self.ingestor = Ingestor(
            self.db, settings, self.clock, self.watchlists, on_alerts=self.wake_dispatcher
        )
        policy = NetworkPolicy(allow_private_networks=settings.crawl.allow_private_networks)
        self.dispatcher = Dispatcher(
            self.db,
            build_channels(settings, policy, self.clock, stream=alert_stream),
            settings.alerts,
            self.clock,
        )
        self.summary = RunSummary()
        self._crawler: CrawlerHandle | None = None
        self._in_flight: set[int] = set()
        self._dispatching = False
        self._dispatch_again = False
        self._wake_on_alert = True
        self._background: set[asyncio.Task[None]] = set()

    # -- start-up ---------------------------------------------------------------

    def prepare(self) -> None:
        """Migrate the schema and make sources and watchlists follow settings.toml."""
        self.db.migrate()
        now = self.clock.now()
        with self.db.transaction() as session:
            source_state.sync_sources(session, self.settings, now)
            sync_watchlists(session, self.settings, now)
        self.watchlists.refresh()

    def _load_stories(self) -> None:
        """Fill the story index with the recent window, once, before anything is crawled
        (not in :meth:`prepare`: `rasid status` and the other commands never ingest)."""
        if self._stories_loaded:
            return
        since = self.clock.now() - self.settings.stories.window
        with self.db.connection() as connection:
            loaded = self.ingestor.stories.load(connection, since)
        self._stories_loaded = True
        logger.debug("story index: %d recent articles", loaded)

    @property
    def poll_lease(self) -> timedelta:
        """Longer than any one poll can take (feed + article pages), so no double poll."""
        return self.settings.crawl.timeout * 6 + timedelta(seconds=30)

    # -- the crawler's sink -----------------------------------------------------

    def record_poll(self, source: DueSource, outcome: PollOutcome) -> None:
        self._in_flight.discard(source.id)
        source_state.record_poll(
            self.db,
            source,
            outcome,
            self.clock.now(),
            policy=self.polling,
            rng=self._rng,
        )
        self.summary.polled += 1
        if outcome.status == "error":
            self.summary.errors[source.name] = outcome.error or "error"
            logger.warning("source %s: %s", source.name, outcome.error)
        elif outcome.status == "not_modified":
            self.summary.not_modified += 1
        else:
            self.summary.ok += 1
            for warning in outcome.warnings:
                logger.info("source %s: %s", source.name, warning)

    def new_entries(self, source: DueSource, entries: list[FeedEntry]) -> list[FeedEntry]:
        return self.ingestor.new_entries(source, entries)

    def ingest(self, item: ArticleItem) -> None:
        result = self.ingestor.ingest(item)
        if result.duplicate:
            self.summary.duplicates += 1
            return
        self.summary.new_articles += 1
        self.summary.matches += result.matches
        self.summary.alerts_enqueued += result.alerts

    # -- dispatch ---------------------------------------------------------------

    def wake_dispatcher(self) -> None:
        """Deliver new alerts now rather than at the next dispatch tick."""
        if not self._wake_on_alert:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self.dispatch_tick())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def dispatch_tick(self) -> None:
        """One dispatch round; a wake-up during a round makes it go round again."""
        if self._dispatching:
            self._dispatch_again = True
            return
        self._dispatching = True
        try:
            while True:
                self._dispatch_again = False
                await self.dispatcher.dispatch_due_async()
                if not self._dispatch_again:
                    break
        finally:
            self._dispatching = False

    # -- polling ----------------------------------------------------------------

    async def poll_tick(self) -> int:
        """Claim the sources due now and hand them to the spider; how many were claimed."""
        assert self._crawler is not None
        if self.watchlists.refresh():
            logger.info("watchlists changed; index recompiled")
        due = source_state.claim_due(self.db, self.clock.now(), lease=self.poll_lease)
        if due:
            self._in_flight.update(source.id for source in due)
            self._crawler.poll(due)
        return len(due)

    async def start_crawler(self) -> CrawlerHandle:
        """Open the long-lived spider that poll ticks feed."""
        self._load_stories()
        self._crawler = CrawlerHandle(self.settings, self, keep_alive=True)
        await self._crawler.start()
        return self._crawler

    def crawl_idle(self) -> bool:
        """No poll claimed by this process is unfinished and the spider has nothing left to
        fetch or process (every article of the polls so far is stored)."""
        return not self._in_flight and (self._crawler is None or self._crawler.idle())

    # -- the two ways to run ----------------------------------------------------

    async def run_once(self) -> RunSummary:
        """Poll every enabled source now, ingest, then try every undelivered alert once."""
        self._load_stories()
        self._wake_on_alert = False
        due = source_state.claim_due(
            self.db,
            self.clock.now(),
            lease=self.poll_lease,
            everything=True,
            ignore_leases=self.db.is_sqlite,
            limit=None,
        )
        self._in_flight.update(source.id for source in due)
        crawler = CrawlerHandle(self.settings, self, keep_alive=False, initial=due)
        try:
            await crawler.start()
            await crawler.finished()
            counts = crawler.feed_counts()
            self.summary.answered_304 = counts.get("not_modified", 0)
            self.summary.same_body = counts.get("same_body", 0)
            self.summary.parsed = counts.get("parsed", 0)
        finally:
            source_state.release_claims(self.db, sorted(self._in_flight))
        self.summary.delivery = await self.dispatcher.dispatch_due_async(ignore_backoff=True)
        return self.summary

    async def run_forever(self) -> None:
        """Run until SIGINT or SIGTERM, then stop cleanly: no claim or alert is left hanging."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        self._crawler = await self.start_crawler()
        ticker = Ticker()
        ticker.every(self.settings.crawl.poll_tick, self.poll_tick, name="poll", now=True)
        ticker.every(self.settings.alerts.dispatch_interval, self.dispatch_tick, name="dispatch")
        ticker.start()
        logger.info(
            "rasid running: %d source(s), database %s", len(self.settings.sources), self.db.safe_url
        )
        try:
            await stop.wait()
        finally:
            logger.info("stopping")
            ticker.shutdown()
            await self._crawler.stop()
            await asyncio.gather(*self._background, return_exceptions=True)
            source_state.release_claims(self.db, sorted(self._in_flight))
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    def close(self) -> None:
        self.lock.release()
        self.db.dispose()
