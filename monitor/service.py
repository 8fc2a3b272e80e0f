"""The service: settings, database, crawler, ingest and dispatcher wired into one loop.

``rasid run`` and ``rasid run --once`` both come here. The service is also the crawler's
:class:`~crawler.sink.CrawlSink`: poll outcomes go to ``monitor.sources`` and their new
entries to ``monitor.frontier`` in one transaction, articles to ``monitor.ingest``, and
an enqueued alert wakes the dispatcher at once instead of waiting for its next tick (the
feed-to-webhook latency is what users feel). Digests whose time has come are queued on a
tick of their own (monitor.digests), and wake the dispatcher too.

Entries this process claimed from the frontier are its "pages in flight": their leases
are renewed at every poll tick while their pages download, and given back at a clean
stop. A database that fails (a full disk, PostgreSQL restarting) is reported once per
outage (monitor/db/faults.py); every tick simply tries again, and what a failed
transaction did not write is still in the frontier, the outbox or the feed.

Several instances may share one PostgreSQL (monitor/instances.py): each claims its own
sources, pages and alerts by lease, beats a heartbeat, and the work that must run once
(queuing digests, indexing the archive, pruning) runs under an advisory lock
(monitor/db/locks.py), by whichever instance takes it first.

Stopping (SIGINT, SIGTERM) takes at most :data:`STOP_BUDGET`: downloads and deliveries
still running when it ends are abandoned, their claims given back first, so nothing is
half-written and the next instance or start picks them up at once. A second signal
exits at once. SIGHUP re-reads settings.toml (:meth:`Service.reload`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TextIO

from sqlalchemy import Connection

from alerts.channels import build_channels
from alerts.dispatch import Dispatcher, DispatchSummary
from monitor import archive, frontier, instances, sdnotify
from monitor import sources as source_state
from monitor.clock import Clock, SystemClock
from monitor.config import Settings, load_settings
from monitor.db.faults import OutageLog
from monitor.db.locks import hold_for_transaction, run_alone
from monitor.db.session import Database, InstanceLock
from monitor.errors import ConfigError, DatabaseUnavailable
from monitor.ingest import Ingestor, IngestResult, PreparedArticle
from monitor.metrics import ServiceMetrics
from monitor.polling import PollingPolicy
from monitor.status import record_channels
from monitor.watchlists import SettingsFileWatch, WatchlistBook, sync_watchlists

if TYPE_CHECKING:
    # Scrapy and Twisted load when the crawler starts (crawler.runner), not before.
    from crawler.items import ArticleItem, FeedEntry
    from crawler.runner import CrawlerHandle
    from crawler.sink import DueSource, PageWork, PollOutcome
    from monitor.scheduler import Ticker
    from monitor.web.server import WebServer

logger = logging.getLogger(__name__)

# How long a stop waits for Scrapy to finish what it has in flight.
STOP_GRACE = timedelta(seconds=3)
# The whole of a stop, from the signal to the last claim given back (issue 17: 5 s).
STOP_BUDGET = timedelta(seconds=4)
# Settings that are read once at start: a SIGHUP that changes them says they need one.
RESTART_SECTIONS = ("database", "web", "log_level")
# [crawl] settings a reload applies (the polling cadence); the others shape the crawler,
# which is built once.
RELOADED_CRAWL = frozenset(
    {
        "default_interval",
        "min_interval",
        "max_interval",
        "error_backoff_max",
        "pause_after_failures",
    }
)
# How often stored articles' terms move into the archive's index (in batches).
ARCHIVE_INTERVAL = timedelta(seconds=30)
# Unchanged polls (most of a running service's) are recorded together: within this long
# of the first of them ending, or as soon as this many wait; one transaction for all (a
# commit each was a sixth of their CPU: docs/benchmarks.md, poll_cycle.py).
UNCHANGED_WAIT = timedelta(milliseconds=50)
UNCHANGED_BATCH = 500


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
    digests_queued: int = 0
    delivery: DispatchSummary | None = None
    # Set when a signal stopped the run early: what was not finished waits in the
    # database (frontier entries, pending alerts) for the next run.
    interrupted_by: str | None = None
    pages_left: int = 0


class Service:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        alert_stream: TextIO | None = None,
    ) -> None:
        if any(source.links for source in settings.sources):
            # Listing pages need the HTML selector library; an idle feed-only run does not.
            from crawler.listing import check_selectors

            check_selectors(settings)
        self.settings = settings
        self._file_settings = settings  # without the channels stored by the web page
        self._alert_stream = alert_stream
        self._channels_mark: tuple[object, ...] | None = None
        self.clock = clock or SystemClock()
        self.db = Database(settings.database_url)
        self.lock = InstanceLock(self.db)
        self.polling = _polling_policy(settings)
        self._rng = random.Random()
        self.watchlists = WatchlistBook(self.db, settings.matching.synonym_groups)
        self.settings_file = SettingsFileWatch(settings)
        self.ingestor = Ingestor(
            self.db, settings, self.clock, self.watchlists, on_alerts=self.wake_dispatcher
        )
        policy = settings.crawl.network_policy
        self.dispatcher = Dispatcher(
            self.db,
            build_channels(settings, policy, self.clock, stream=alert_stream),
            settings.alerts,
            self.clock,
        )
        self.summary = RunSummary()
        self.metrics = ServiceMetrics(self.db)
        self._ticker: Ticker | None = None
        # This process's lease token on frontier entries, and the outage reporter.
        self.token = str(uuid.uuid4())
        self.outage = OutageLog()
        self._crawler: CrawlerHandle | None = None
        self._polls: set[int] = set()  # sources claimed and not yet recorded
        self._unchanged: list[source_state.UnchangedPoll] = []  # to record together
        self._pages: set[int] = set()  # frontier entries claimed and not yet stored
        self._stopping = False  # a stop is under way: claim nothing more
        self._dispatching = False
        self._dispatch_again = False
        self._wake_on_alert = True
        self._background: set[asyncio.Task[None]] = set()
        self._registered = False
        self._dead_seen: set[str] = set()  # instances already reported gone

    # -- start-up ---------------------------------------------------------------

    def prepare(self) -> None:
        """Migrate the schema, make sources and watchlists follow settings.toml, and
        record the channels this service delivers to (what `rasid status` shows)."""
        self.db.migrate()
        now = self.clock.now()
        with self.db.transaction() as session:
            # Instances starting together apply the file one after the other.
            hold_for_transaction(session.connection(), "settings")
            source_state.sync_sources(session, self.settings, now)
            sync_watchlists(session, self.settings, now)
        self.follow_stored_channels(force=True)
        self.watchlists.refresh()

    def follow_stored_channels(self, *, force: bool = False) -> bool:
        """Deliver to the channels added on the web page as well, picking up an added or
        removed one without a restart; True when the channels changed."""
        from monitor import channels as stored

        with self.db.transaction() as session:
            mark = stored.signature(session)
            if mark == self._channels_mark and not force:
                return False
            hold_for_transaction(session.connection(), "settings")
            found = stored.stored_channels(session)
            settings = stored.with_stored(self._file_settings, found)
            built = build_channels(
                settings, settings.crawl.network_policy, self.clock, stream=self._alert_stream
            )
            record_channels(session, settings, self.clock.now())
        self._channels_mark = mark
        self.settings = settings
        self.ingestor.set_channels(settings)
        self.dispatcher.set_channels(built)
        if not force:
            logger.info("channels changed on the web page: %s", ", ".join(sorted(built)))
        return True

    @property
    def poll_lease(self) -> timedelta:
        """Longer than a poll's download can take, so no double poll (its entries' pages
        are leased apart, in the frontier)."""
        return self.settings.crawl.timeout * 6 + timedelta(seconds=30)

    @property
    def page_lease(self) -> timedelta:
        """How long a claimed frontier entry stays this process's without renewal: ten
        poll ticks (it is renewed at each), so an instance that died leaves its entries
        to the others soon, and a busy one keeps them."""
        return max(self.settings.crawl.poll_tick * 10, timedelta(seconds=10))

    # -- the crawler's sink -----------------------------------------------------

    def record_poll(self, source: DueSource, outcome: PollOutcome) -> None:
        if outcome.status == "not_modified":
            # Still claimed (in ``_polls``, and in the database) until recorded.
            self._unchanged.append(source_state.UnchangedPoll(source, outcome, self.clock.now()))
            if len(self._unchanged) >= UNCHANGED_BATCH:
                self.flush()
            elif len(self._unchanged) == 1:
                self._flush_soon()
            return
        self._polls.discard(source.id)
        try:
            source_state.record_poll(
                self.db, source, outcome, self.clock.now(), policy=self.polling, rng=self._rng
            )
        except DatabaseUnavailable as exc:
            # Not recorded: the source's claim runs out and it is polled again.
            self.outage.failed(exc, f"recording a poll of {source.name}")
            return
        self.outage.succeeded()
        self._note_poll(source, outcome)

    def flush(self) -> None:
        """Record the unchanged polls held back, in one transaction (the crawler calls
        this when it goes idle or closes; a timer and the batch size otherwise)."""
        polls, self._unchanged = self._unchanged, []
        if not polls:
            return
        self._polls.difference_update(poll.source.id for poll in polls)
        try:
            source_state.record_unchanged(self.db, polls, policy=self.polling, rng=self._rng)
        except DatabaseUnavailable as exc:
            # Not recorded: their claims run out and they are polled again.
            self.outage.failed(exc, f"recording {len(polls)} unchanged poll(s)")
            return
        self.outage.succeeded()
        for poll in polls:
            self._note_poll(poll.source, poll.outcome)

    def _flush_soon(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop to come back: recorded now
            self.flush()
            return
        loop.call_later(UNCHANGED_WAIT.total_seconds(), self.flush)

    def discover(
        self,
        source: DueSource,
        entries: list[FeedEntry],
        *,
        feed_url: str,
        outcome: PollOutcome | None = None,
    ) -> list[PageWork]:
        if outcome is not None:
            self._polls.discard(source.id)
        feed_only = not source.pages and not self._stopping
        if feed_only and self._store_entries(source, entries, feed_url=feed_url, outcome=outcome):
            return []
        now = self.clock.now()
        try:
            with self.db.connection() as connection:
                found = frontier.discover(
                    connection,
                    source,
                    entries,
                    feed_url=feed_url,
                    now=now,
                    token=None if self._stopping else self.token,
                    lease=self.page_lease,
                    limit=self.settings.crawl.max_new_entries,
                )
                outcome = self._record_found(
                    connection,
                    source,
                    outcome,
                    now,
                    new=len(found.work),
                    unusable=found.unusable,
                    over_cap=found.over_cap,
                )
        except DatabaseUnavailable as exc:
            # Neither the poll nor its entries were recorded: the next poll finds them.
            self.outage.failed(exc, f"recording a poll of {source.name}")
            return []
        self.outage.succeeded()
        self._pages.update(work.frontier_id for work in found.work)
        for warning in found.warnings:
            logger.warning("source %s: %s: %s", source.name, feed_url, warning)
        if outcome is not None:
            self._note_poll(source, outcome)
        return found.work

    def _record_found(
        self,
        connection: Connection,
        source: DueSource,
        outcome: PollOutcome | None,
        now: datetime,
        *,
        new: int,
        unusable: int,
        over_cap: int,
    ) -> PollOutcome | None:
        """Record the poll that found ``new`` new entries, in the caller's transaction
        (for a child sitemap, with no poll of its own, only the entries it dropped)."""
        if outcome is None:
            source_state.count_dropped(connection, source.id, unusable=unusable, over_cap=over_cap)
            return None
        outcome = replace(outcome, new_entries=new)
        source_state.record_success(
            connection,
            source,
            outcome,
            now,
            policy=self.polling,
            rng=self._rng,
            unusable=unusable,
            over_cap=over_cap,
        )
        return outcome

    def _store_entries(
        self,
        source: DueSource,
        entries: list[FeedEntry],
        *,
        feed_url: str,
        outcome: PollOutcome | None,
    ) -> bool:
        """A source whose pages are not fetched: the articles of its new entries are
        found, prepared and stored together in the transaction that records the poll
        (no frontier round trip; docs/benchmarks.md). False when they could not be
        prepared or stored for a reason other than the database: the frontier then
        takes them, each to be stored (or given up) on its own."""
        from crawler.items import entry_article

        now = self.clock.now()
        limit = self.settings.crawl.max_new_entries

        def record(connection: Connection, results: list[IngestResult]) -> None:
            self._record_found(
                connection,
                source,
                outcome,
                now,
                new=len(results),
                unusable=found.unusable,
                over_cap=found.over_cap,
            )

        found = frontier.NewEntries([])

        def new_articles(connection: Connection) -> list[PreparedArticle]:
            nonlocal found
            found = frontier.new_entries(connection, entries, feed_url=feed_url, limit=limit)
            return [
                self.ingestor.prepare(
                    entry_article(
                        entry, source_id=source.id, source_name=source.name, feed_url=feed_url
                    )
                )
                for entry, _key in found.entries
            ]

        try:
            # One transaction: the probe, the articles and the poll's record.
            results = self.ingestor.store_all(new_articles, also=record)
        except DatabaseUnavailable as exc:
            # Neither the poll nor its entries were recorded: the next poll finds them.
            self.outage.failed(exc, f"recording a poll of {source.name}")
            return True
        except Exception:
            logger.exception("source %s: storing its new entries together failed", source.name)
            return False
        self.outage.succeeded()
        for warning in found.warnings:
            logger.warning("source %s: %s: %s", source.name, feed_url, warning)
        for result in results:
            self._note_stored(result)
        if outcome is not None:
            self._note_poll(source, replace(outcome, new_entries=len(results)))
        if any(result.alerts for result in results):
            self.wake_dispatcher()
        return True

    def _note_poll(self, source: DueSource, outcome: PollOutcome) -> None:
        self.summary.polled += 1
        self.metrics.poll_recorded(source.id, outcome.status)
        if outcome.status == "error":
            self.summary.errors[source.name] = outcome.error or "error"
            logger.warning("source %s: %s", source.name, outcome.error)
        elif outcome.status == "not_modified":
            self.summary.not_modified += 1
        else:
            self.summary.ok += 1
            for warning in outcome.warnings:
                logger.info("source %s: %s", source.name, warning)

    def page_failed(self, work: PageWork, error: str, *, transient: bool) -> bool:
        if self._stopping:
            return False  # given back with the others: the next run fetches it
        if not transient:
            return True
        try:
            retry_at = frontier.retry_page_later(
                self.db, work, token=self.token, now=self.clock.now(), error=error
            )
        except DatabaseUnavailable as exc:
            self.outage.failed(exc, "recording a failed page")
            self._pages.discard(work.frontier_id)  # its lease runs out: fetched again
            return False
        if retry_at is None:
            return True
        self._pages.discard(work.frontier_id)
        logger.info(
            "source %s: article page %s failed (%s); trying again at %s",
            work.source.name,
            work.entry.url,
            error,
            f"{retry_at:%H:%M:%S} UTC",
        )
        return False

    def ingest(self, item: ArticleItem) -> None:
        # Settled either way: stored, or (when storing fails) left to its lease, which is
        # no longer renewed, so the entry is claimed and fetched again.
        self._pages.discard(item.frontier_id or 0)
        try:
            result = self.ingestor.ingest(item)
        except DatabaseUnavailable as exc:
            self.outage.failed(exc, f"storing an article of {item.source_name}")
            return
        except Exception as exc:  # kept on its frontier entry: retried, then given up
            logger.exception("storing %s failed", item.url or item.title[:80])
            self._note_store_failure(item, exc)
            return
        self.outage.succeeded()
        self._note_stored(result)

    def _note_stored(self, result: IngestResult) -> None:
        self.metrics.article_stored(duplicate=result.duplicate, matches=result.matches)
        if result.duplicate:
            self.summary.duplicates += 1
            return
        self.summary.new_articles += 1
        self.summary.matches += result.matches
        self.summary.alerts_enqueued += result.alerts

    def _note_store_failure(self, item: ArticleItem, error: Exception) -> None:
        if item.frontier_id is None:
            return
        try:
            frontier.record_failure(
                self.db, item.frontier_id, token=self.token, error=f"storing failed: {error!r}"
            )
        except DatabaseUnavailable as exc:
            self.outage.failed(exc, "recording a failed entry")

    # -- dispatch ---------------------------------------------------------------

    def wake_dispatcher(self) -> None:
        """Deliver new alerts now rather than at the next dispatch tick."""
        if self._wake_on_alert:
            self._start_dispatch()

    async def dispatch_tick(self) -> None:
        """The scheduler's dispatch job: it returns at once, so a slow receiver never
        makes the scheduler skip (and warn about) the ticks that come while a round is
        still sending."""
        try:
            self.follow_stored_channels()
        except DatabaseUnavailable as exc:
            self.outage.failed(exc, "reading channels")
        self._start_dispatch()

    def _start_dispatch(self) -> None:
        """Start a dispatch round in the background, or ask the running one to go round
        again when it is done."""
        if self._dispatching:
            self._dispatch_again = True
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._dispatching = True
        task = loop.create_task(self._dispatch_rounds())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _dispatch_rounds(self) -> None:
        try:
            while True:
                self._dispatch_again = False
                await self._dispatch_round()
                if not self._dispatch_again:
                    break
        finally:
            self._dispatching = False

    async def _dispatch_round(self, *, ignore_backoff: bool = False) -> DispatchSummary | None:
        failure: DatabaseUnavailable | None = None
        summary = None
        try:
            summary = await self.dispatcher.dispatch_due(ignore_backoff=ignore_backoff)
        except* DatabaseUnavailable as group:
            failure = _first(group)
        if failure is not None:
            # Alerts claimed in this round go out again when their leases run out.
            self.outage.failed(failure, "delivering alerts")
            return None
        self.outage.succeeded()
        if summary is not None:
            self.metrics.delivered(summary)
        return summary

    # -- digests ----------------------------------------------------------------

    def queue_digests(self) -> int:
        """Queue every digest whose fire time has come; how many were queued. One
        instance at a time does it (the others skip their turn)."""
        from monitor.digests import queue_due_digests

        with run_alone(self.db, "digests") as mine:
            if not mine:
                return 0
            return queue_due_digests(
                self.db, self.clock, max_article_age=self.settings.alerts.max_article_age
            )

    async def digest_tick(self) -> int:
        """The scheduler's digest job: queue due digests in a worker thread (each its own
        short transaction, the loop free meanwhile), then wake the dispatcher when any
        were queued. Returns how many."""
        try:
            queued = await asyncio.to_thread(self.queue_digests)
        except DatabaseUnavailable as exc:
            self.outage.failed(exc, "queuing digests")
            return 0
        self.outage.succeeded()
        if queued:
            logger.info("queued %d digest(s)", queued)
            self.wake_dispatcher()
        return queued

    # -- the archive ------------------------------------------------------------

    async def archive_tick(self) -> None:
        """Move the terms of newly stored articles into the full-text index, in batches
        (monitor.archive), in a worker thread: a batch holds the write lock a moment,
        and the loop goes on meanwhile."""
        try:
            await asyncio.to_thread(self._index_archive)
        except DatabaseUnavailable as exc:
            self.outage.failed(exc, "indexing stored articles")

    # -- retention --------------------------------------------------------------

    async def retention_tick(self) -> None:
        """Prune what ``[retention]`` says is old, in a worker thread, in short batches;
        one instance at a time, and a stop is not held up (it asks between batches)."""
        try:
            await asyncio.to_thread(self._prune)
        except DatabaseUnavailable as exc:
            self.outage.failed(exc, "pruning old rows")

    def _prune(self) -> None:
        from monitor.retention import prune

        with run_alone(self.db, "retention") as mine:
            if mine:
                prune(self.db, self.settings, self.clock.now(), stop=lambda: self._stopping)

    def _index_archive(self) -> None:
        with run_alone(self.db, "archive") as mine:
            if mine:
                archive.index_queued(self.db)

    # -- instances --------------------------------------------------------------

    def register(self) -> None:
        """Say this instance is alive (``rasid status`` lists it until it stops)."""
        instances.register(self.db, self.token, self.clock.now())
        self._registered = True

    async def heartbeat_tick(self) -> None:
        """Say this instance is still alive, and free the claims of those that died."""
        try:
            dead = await asyncio.to_thread(
                instances.beat,
                self.db,
                self.token,
                self.clock.now(),
                alerts_in_flight=self.dispatcher.in_flight,
            )
        except DatabaseUnavailable as exc:
            self.outage.failed(exc, "recording the heartbeat")
            return
        for token in set(dead) - self._dead_seen:
            logger.warning("instance %s stopped beating; its sources and pages are free", token)
        self._dead_seen = set(dead)

    def _retire(self) -> None:
        if not self._registered:
            return
        try:
            instances.retire(self.db, self.token)
        except DatabaseUnavailable as exc:
            self.outage.failed(exc, "removing this instance's heartbeat row")
        self._registered = False

    # -- reloading settings.toml (SIGHUP) ---------------------------------------

    def reload(self) -> bool:
        """Re-read settings.toml and apply what can change without a restart: sources,
        watchlists, channels, alert settings and the polling cadence. What is read once
        at start (the database, the web server, the crawler's shape) is named in the log
        as waiting for a restart. A file that does not load changes nothing; the error
        says where it is wrong. True when the new settings apply."""
        sdnotify.reloading()
        try:
            return self._reload()
        finally:
            sdnotify.ready(self._running_status())

    def _reload(self) -> bool:
        old = self._file_settings
        try:
            fresh = load_settings(old.config_path)
            if any(source.links for source in fresh.sources):
                from crawler.listing import check_selectors

                check_selectors(fresh)
            with self.db.transaction() as session:
                hold_for_transaction(session.connection(), "settings")
                now = self.clock.now()
                source_state.sync_sources(session, fresh, now)
                sync_watchlists(session, fresh, now)
        except ConfigError as exc:
            logger.error("reload: %s; the settings in use are kept", exc)
            return False
        except DatabaseUnavailable as exc:
            self.outage.failed(exc, "applying reloaded settings")
            return False
        self._file_settings = fresh
        self.polling = _polling_policy(fresh)
        self.dispatcher.set_settings(fresh.alerts)
        self.settings_file = SettingsFileWatch(fresh)
        self.follow_stored_channels(force=True)
        self.watchlists.refresh()
        waiting = _needs_restart(old, fresh)
        logger.info(
            "settings reloaded from %s: %d source(s), %d watchlist(s), %d channel(s)%s",
            fresh.config_path,
            len(fresh.sources),
            len(fresh.watchlists),
            len(self.settings.effective_channels()),
            f"; {', '.join(waiting)} changed and apply at the next start" if waiting else "",
        )
        return True

    # -- polling ----------------------------------------------------------------

    async def poll_tick(self) -> int:
        """Renew the leases of pages in flight, fetch frontier entries nobody holds, and
        claim the sources due now; returns how many sources were claimed."""
        with self.metrics.poll_tick.time():
            claimed = self._poll_tick()
        # Every tick that ran, the database up or not: systemd restarts a stuck process,
        # never one riding out an outage (deploy/systemd/rasid.service, WatchdogSec).
        sdnotify.watchdog()
        return claimed

    def _poll_tick(self) -> int:
        assert self._crawler is not None
        now = self.clock.now()
        try:
            self._follow_settings_file(now)
            if self.watchlists.refresh():
                logger.info("watchlists changed; index recompiled")
            works = self._claim_pages(now)
            due = source_state.claim_due(self.db, now, lease=self.poll_lease, token=self.token)
        except DatabaseUnavailable as exc:
            self.outage.failed(exc, "claiming due sources")
            sdnotify.status("database unavailable; retrying at every poll tick")
            return 0
        if self.outage.active:
            sdnotify.status(self._running_status())
        self.outage.succeeded()
        if works:
            self._crawler.fetch(works)
        if due:
            self._polls.update(source.id for source in due)
            self.metrics.polls_claimed(source.id for source in due)
            self._crawler.poll(due)
        return len(due)

    def _follow_settings_file(self, now: datetime) -> None:
        """Apply settings.toml's watchlists when the file changed (a query that does not
        compile is logged with its position, and nothing of that edit applies)."""
        fresh = self.settings_file.changed()
        if fresh is None:
            return
        try:
            with self.db.transaction() as session:
                hold_for_transaction(session.connection(), "settings")
                sync_watchlists(session, fresh, now)
        except ConfigError as exc:
            logger.error("%s; the watchlists in use are kept", exc)
            return
        logger.info("settings.toml changed: its watchlists apply now")

    def _claim_pages(self, now: datetime, limit: int | None = 200) -> list[PageWork]:
        """Renew this process's page leases, then claim the entries nobody holds."""
        if self._pages:
            frontier.renew(self.db, self._pages, token=self.token, now=now, lease=self.page_lease)
        claimed = frontier.claim(
            self.db,
            now,
            token=self.token,
            lease=self.page_lease,
            max_attempts=self.settings.crawl.max_entry_attempts,
            limit=limit,
        )
        # An entry whose lease ran out while still queued here is not fetched twice.
        works = [work for work in claimed if work.frontier_id not in self._pages]
        self._pages.update(work.frontier_id for work in works)
        return works

    def _release_pages(self) -> None:
        """Give back the entries this process will not finish (a clean stop)."""
        if self._pages:
            frontier.release(self.db, self._pages, token=self.token)
            self.summary.pages_left = len(self._pages)
            self._pages.clear()

    async def start_crawler(self) -> CrawlerHandle:
        """Open the long-lived spider that poll ticks feed."""
        from crawler.runner import CrawlerHandle

        self._crawler = CrawlerHandle(self.settings, self, keep_alive=True)
        await self._crawler.start()
        return self._crawler

    def crawl_idle(self) -> bool:
        """No poll or page claimed by this process is unfinished and the spider has nothing
        left to fetch or process (every article of the polls so far is stored)."""
        return (
            not self._polls and not self._pages and (self._crawler is None or self._crawler.idle())
        )

    # -- the two ways to run ----------------------------------------------------

    async def run_once(self) -> RunSummary:
        """Fetch what an earlier run left in the frontier, poll every enabled source now,
        ingest, then try every undelivered alert once.

        SIGINT or SIGTERM stops it early and cleanly: downloads are cancelled, claims
        given back, and what was not finished (frontier entries, pending alerts) waits
        in the database for the next run.
        """
        from crawler.runner import CrawlerHandle

        self._wake_on_alert = False
        now = self.clock.now()
        if self.db.is_sqlite:
            frontier.release_stale(self.db)
        self.register()
        works = self._claim_pages(now, limit=None)
        due = source_state.claim_due(
            self.db,
            now,
            lease=self.poll_lease,
            token=self.token,
            everything=True,
            ignore_leases=self.db.is_sqlite,
            limit=None,
        )
        self._polls.update(source.id for source in due)
        self.metrics.polls_claimed(source.id for source in due)
        crawler = CrawlerHandle(
            self.settings, self, keep_alive=False, initial=due, initial_work=works
        )
        self._crawler = crawler
        renewing = asyncio.get_running_loop().create_task(self._renew_pages_until_done())
        stop = asyncio.Event()
        try:
            with _on_stop_signals(lambda name: self._interrupt(stop, name)):
                await crawler.start()
                finished = asyncio.ensure_future(crawler.finished())
                stopped = asyncio.ensure_future(stop.wait())
                await asyncio.wait({finished, stopped}, return_when=asyncio.FIRST_COMPLETED)
                stopped.cancel()
                if stop.is_set():
                    await self._stop_crawler(crawler)
            counts = crawler.feed_counts()
            self.summary.answered_304 = counts.get("not_modified", 0)
            self.summary.same_body = counts.get("same_body", 0)
            self.summary.parsed = counts.get("parsed", 0)
        finally:
            renewing.cancel()
            self._give_back()
            self._retire()
        if self.summary.interrupted_by is None:
            self.summary.digests_queued = await self.digest_tick()
            self.summary.delivery = await self._dispatch_round(ignore_backoff=True)
        await self.archive_tick()
        return self.summary

    def _interrupt(self, stop: asyncio.Event, name: str) -> None:
        if self.summary.interrupted_by is None:
            logger.warning("%s: stopping; unfinished work waits for the next run", name)
            self.summary.interrupted_by = name
        stop.set()

    async def _stop_crawler(self, crawler: CrawlerHandle) -> None:
        """Stop claiming, give every claim back, then give Scrapy a short grace to end.

        The database already holds everything a later run needs (the frontier, the
        outbox), so downloads still running when the grace ends are simply abandoned
        (Scrapy would otherwise wait for each to time out). A page that arrives during
        the grace is still stored; one that fails is not replaced by the feed's text.
        """
        self._stopping = True
        self._give_back()
        stopping = asyncio.ensure_future(crawler.stop())
        done, _ = await asyncio.wait({stopping}, timeout=STOP_GRACE.total_seconds())
        if not done:
            logger.info(
                "abandoning downloads still running after %d s; their entries wait in the frontier",
                STOP_GRACE.total_seconds(),
            )

    def _give_back(self) -> None:
        """Release this process's claims on pages and sources (a stop)."""
        self._release_pages()
        if self._polls:
            source_state.release_claims(self.db, sorted(self._polls))
            self._polls.clear()

    async def _renew_pages_until_done(self) -> None:
        """Keep this run's page leases alive while it lasts (``run --once`` has no ticks)."""
        period = self.page_lease.total_seconds() / 4
        while True:
            await asyncio.sleep(period)
            if not self._pages:
                continue
            try:
                frontier.renew(
                    self.db,
                    self._pages,
                    token=self.token,
                    now=self.clock.now(),
                    lease=self.page_lease,
                )
            except DatabaseUnavailable as exc:
                self.outage.failed(exc, "renewing page leases")

    async def run_forever(self, on_web: Callable[[str], None] | None = None) -> None:
        """Run until SIGINT or SIGTERM, then stop within :data:`STOP_BUDGET`: no claim or
        alert is left hanging. A second signal exits at once; SIGHUP reloads settings.

        The web page and the API are served from this loop when ``[web] enabled``
        (before any crawling: an address refused stops the run at once); ``on_web`` is
        told their address.
        """
        from monitor.scheduler import Ticker

        stop = asyncio.Event()
        web = await self._start_web()
        if web is not None and on_web is not None:
            on_web(web.address)
        if self.db.is_sqlite:
            frontier.release_stale(self.db)
        self.register()
        self._crawler = await self.start_crawler()
        ticker = self._ticker = Ticker()
        ticker.every(self.settings.crawl.poll_tick, self.poll_tick, name="poll", now=True)
        ticker.every(self.settings.alerts.dispatch_interval, self.dispatch_tick, name="dispatch")
        ticker.every(self.settings.alerts.dispatch_interval, self.digest_tick, name="digests")
        ticker.every(ARCHIVE_INTERVAL, self.archive_tick, name="archive")
        ticker.every(instances.HEARTBEAT, self.heartbeat_tick, name="heartbeat")
        ticker.every(self.settings.retention.interval, self.retention_tick, name="retention")
        watchdog = sdnotify.watchdog_interval()
        if watchdog is not None and watchdog < 2 * self.settings.crawl.poll_tick:
            logger.warning(
                "systemd's WatchdogSec (%s) is under two poll ticks ([crawl] poll_tick): "
                "a slow tick would have the service restarted",
                watchdog,
            )
        ticker.start()
        logger.info(
            "rasid running: %d source(s), database %s", len(self.settings.sources), self.db.safe_url
        )
        signalled: list[str] = []
        # The handlers stay through the stop: a second signal during it exits at once.
        with (
            _on_stop_signals(lambda name: _first_or_exit(signalled, name, stop)),
            _on_reload_signal(self.reload),
        ):
            # After the handlers: a SIGTERM or SIGHUP sent once systemd hears READY=1
            # must find them in place.
            sdnotify.ready(self._running_status())
            try:
                await stop.wait()
            finally:
                sdnotify.stopping()
                await self._stop(ticker, web, signalled[0] if signalled else "stop")

    async def _stop(self, ticker: Ticker, web: WebServer | None, reason: str) -> None:
        """Stop within STOP_BUDGET: claim nothing more, give every claim back, give
        downloads and sends what is left of the budget, then abandon them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_BUDGET.total_seconds()
        logger.info(
            "%s: stopping; waiting at most %d s for %s",
            reason,
            STOP_BUDGET.seconds,
            self._in_flight(),
        )
        ticker.shutdown()
        self._stopping = True
        if self._registered:
            try:
                instances.mark_stopping(self.db, self.token)
            except DatabaseUnavailable as exc:
                self.outage.failed(exc, "marking this instance as stopping")
        assert self._crawler is not None
        await asyncio.gather(self._stop_crawler(self._crawler), self._finish_background(deadline))
        self._retire()
        if web is not None:
            try:
                await asyncio.wait_for(web.stop(), max(0.1, deadline - loop.time()))
            except TimeoutError:
                logger.info("web server connections still open; closed with the process")
        logger.info("stopped")

    def _in_flight(self) -> str:
        """What a stop waits for, in words (the log line a stop starts with)."""
        downloads = self._crawler.in_flight() if self._crawler is not None else 0
        parts = [
            f"{downloads} download(s)",
            f"{len(self._polls)} poll(s) unrecorded",
            f"{self.dispatcher.in_flight} alert(s) being sent",
            f"{len(self._background)} background job(s)",
        ]
        return ", ".join(parts)

    async def _finish_background(self, deadline: float) -> None:
        """Let dispatch rounds and other background jobs finish until ``deadline``, then
        cancel them: a cancelled round gives its unsent alerts back (alerts.dispatch)."""
        pending = set(self._background)
        if not pending:
            return
        remaining = deadline - asyncio.get_running_loop().time() - 0.5
        _, still = await asyncio.wait(pending, timeout=max(0.0, remaining))
        if still:
            logger.info(
                "cancelling %d background job(s) still running (alerts in flight: %d)",
                len(still),
                self.dispatcher.in_flight,
            )
            for task in still:
                task.cancel()
            await asyncio.gather(*still, return_exceptions=True)

    async def _start_web(self) -> WebServer | None:
        if not self.settings.web.enabled:
            return None
        from monitor.app import App
        from monitor.web.context import WebContext
        from monitor.web.server import WebServer, check_listen

        app = App(self.settings, clock=self.clock)
        check_listen(self.settings, app.count_users())
        web = WebServer(WebContext(app, self.settings, self.clock, service=self))
        address = await web.start()
        logger.info("web page and API on %s", address)
        return web

    def _running_status(self) -> str:
        """The line ``systemctl status`` shows while all is well."""
        return f"running: {len(self.settings.sources)} source(s), database {self.db.safe_url}"

    @property
    def scheduler_running(self) -> bool:
        """``run_forever``'s ticks are scheduled (what /readyz asks of a service)."""
        return self._ticker is not None and self._ticker.running

    def close(self) -> None:
        self._retire()
        self.lock.release()
        self.db.dispose()


@contextmanager
def _on_stop_signals(handler: Callable[[str], None]) -> Iterator[None]:
    """Call ``handler("SIGINT")`` or ``handler("SIGTERM")`` on those signals meanwhile."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, handler, signal.Signals(signum).name)
    try:
        yield
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def _first_or_exit(signalled: list[str], name: str, stop: asyncio.Event) -> None:
    """The first stop signal starts a clean stop; a second one ends the process at once
    (its claims then run out by their leases)."""
    signalled.append(name)
    if len(signalled) == 1:
        stop.set()
        return
    logger.warning("%s again: exiting now; unfinished claims run out by their leases", name)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(128 + signal.Signals[name].value)


@contextmanager
def _on_reload_signal(reload: Callable[[], bool]) -> Iterator[None]:
    """Call ``reload`` on SIGHUP (``systemctl reload rasid``) meanwhile."""
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, reload)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGHUP)


def _needs_restart(old: Settings, fresh: Settings) -> list[str]:
    """The settings that changed and are read only at start."""
    waiting = [
        f"[{name}]" for name in RESTART_SECTIONS if getattr(old, name) != getattr(fresh, name)
    ]
    crawl = [
        name
        for name in type(fresh.crawl).model_fields
        if name not in RELOADED_CRAWL and getattr(old.crawl, name) != getattr(fresh.crawl, name)
    ]
    waiting.extend(f"crawl.{name}" for name in crawl)
    return waiting


def _polling_policy(settings: Settings) -> PollingPolicy:
    crawl = settings.crawl
    return PollingPolicy(
        min_interval=crawl.min_interval,
        max_interval=crawl.max_interval,
        backoff_max=crawl.error_backoff_max,
        pause_after_failures=crawl.pause_after_failures,
    )


def _first(group: BaseExceptionGroup[DatabaseUnavailable]) -> DatabaseUnavailable:
    """The first database failure of a dispatch round's group of failures."""
    first = group.exceptions[0]
    return first if isinstance(first, DatabaseUnavailable) else _first(first)
