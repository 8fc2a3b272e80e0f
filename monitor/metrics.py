"""Prometheus metrics: what the running service did, and what waits in the database.

Two kinds, told apart because ``rasid web`` runs without a service:

* **Counters and histograms** of this process's service (:class:`ServiceMetrics`),
  moved by monitor/service.py as polls, articles and deliveries happen. They start at
  zero with the process, as Prometheus expects of a counter.
* **Gauges read from the database at scrape time** (:class:`DatabaseCollector`): alerts
  by status, sources by state, frontier entries. They are the same from every process
  on one database, so ``rasid web`` shows the queue of crawlers running elsewhere.

Guarantees:

* Each registry is rasid's own (never prometheus_client's global one), so two services
  in one process (tests) count apart.
* Only numbers, and labels drawn from fixed sets (a poll's result, an alert's status, a
  source's state): never a source name, URL, channel or error text. /metrics is served
  without a login (monitor/web/observability.py), so nothing secret may ever be a label.
* A scrape while the database is unreachable still answers: ``rasid_database_up`` is 0
  and the database gauges are left out.

Every metric is listed in docs/observability.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from alerts import outbox
from monitor import frontier
from monitor.db.models import Source
from monitor.errors import DatabaseUnavailable

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from alerts.dispatch import DispatchSummary
    from crawler.sink import PollStatus
    from monitor.db.session import Database

logger = logging.getLogger(__name__)

# Seconds. Delivery runs from a few hundred milliseconds (an alert sent as it is queued)
# to hours (a receiver down, retries backing off: alerts/outbox.py).
DELIVERY_BUCKETS = (0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 4 * 3600, 24 * 3600)
# A poll is one conditional GET plus its parse: well under a second to the crawl timeout.
POLL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120)
# A poll tick is a few short database transactions.
TICK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class ServiceMetrics:
    """The counters and histograms of one running service, in a registry of its own
    that also holds the database gauges (read at scrape time)."""

    def __init__(self, db: Database) -> None:
        self.registry = CollectorRegistry()
        self.polls = Counter(
            "rasid_polls",
            "Polls of sources, by result: ok (parsed), not_modified (304 or the same body), error.",
            ["result"],
            registry=self.registry,
        )
        self.articles = Counter(
            "rasid_articles_stored", "New articles stored.", registry=self.registry
        )
        self.duplicates = Counter(
            "rasid_articles_duplicate",
            "Fetched articles not stored because they were already known.",
            registry=self.registry,
        )
        self.matches = Counter(
            "rasid_matches", "Watchlist matches of stored articles.", registry=self.registry
        )
        self.alert_attempts = Counter(
            "rasid_alert_attempts",
            "Alert delivery attempts, by result: sent, failed (retried later), dead "
            "(permanent failure or out of attempts).",
            ["result"],
            registry=self.registry,
        )
        self.delivery_latency = Histogram(
            "rasid_alert_delivery_latency_seconds",
            "From a match (its alert queued) to the receiver accepting the alert.",
            buckets=DELIVERY_BUCKETS,
            registry=self.registry,
        )
        self.poll_duration = Histogram(
            "rasid_poll_duration_seconds",
            "From claiming a due source to recording its poll (download and parse).",
            buckets=POLL_BUCKETS,
            registry=self.registry,
        )
        self.poll_tick = Histogram(
            "rasid_poll_tick_seconds",
            "One poll tick: renewing page leases, claiming frontier entries and due sources.",
            buckets=TICK_BUCKETS,
            registry=self.registry,
        )
        # Each result's child, looked up once: a running service records thousands of polls.
        self._poll_results = {
            result: self.polls.labels(result=result) for result in ("ok", "not_modified", "error")
        }
        for result in ("sent", "failed", "dead"):
            self.alert_attempts.labels(result=result)
        self.registry.register(DatabaseCollector(lambda: db))
        # When each source in flight was claimed (time.monotonic); one entry per source
        # at most, so a poll that is never recorded costs one entry until the next claim.
        self._claimed: dict[int, float] = {}

    def polls_claimed(self, source_ids: Iterable[int]) -> None:
        now = time.monotonic()
        self._claimed.update((source_id, now) for source_id in source_ids)

    def poll_recorded(self, source_id: int, result: PollStatus) -> None:
        self._poll_results[result].inc()
        claimed = self._claimed.pop(source_id, None)
        if claimed is not None:
            self.poll_duration.observe(time.monotonic() - claimed)

    def article_stored(self, *, duplicate: bool, matches: int) -> None:
        if duplicate:
            self.duplicates.inc()
            return
        self.articles.inc()
        self.matches.inc(matches)

    def delivered(self, summary: DispatchSummary) -> None:
        """Count one dispatch round's attempts and how long its sent alerts took."""
        self.alert_attempts.labels(result="sent").inc(summary.sent)
        self.alert_attempts.labels(result="failed").inc(summary.failed)
        self.alert_attempts.labels(result="dead").inc(summary.dead)
        for latency in summary.latencies:
            self.delivery_latency.observe(max(latency.total_seconds(), 0.0))


class DatabaseCollector(Collector):
    """Gauges of what waits in the database, read at each scrape.

    ``database`` is called at each scrape: a web process opens its database on first
    use (monitor/app.py), and one unreachable at start must not stop /metrics.
    """

    def __init__(self, database: Callable[[], Database]) -> None:
        self._database = database

    def describe(self) -> Iterator[Metric]:
        # Names only, so a registry can check them without reading the database.
        yield _up(0)
        yield from _families()

    def collect(self) -> Iterator[Metric]:
        try:
            db = self._database()
            alerts = outbox.counts(db)
            with db.connection() as connection:
                pending = frontier.counts(connection)
                sources = _sources_by_state(connection)
        except DatabaseUnavailable as exc:
            logger.debug("metrics: database unavailable: %s", exc)
            yield _up(0)
            return
        yield _up(1)
        queued, by_state, entries = _families()
        for status, count in sorted(alerts.items()):
            queued.add_metric([status], count)
        for state, count in sources.items():
            by_state.add_metric([state], count)
        entries.add_metric(["pending"], pending.pending)
        entries.add_metric(["failed"], pending.failed)
        yield from (queued, by_state, entries)


def _up(value: int) -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "rasid_database_up", "1 when the database answered this scrape, else 0.", value=value
    )


def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
    return (
        GaugeMetricFamily(
            "rasid_alerts",
            "Alerts in the outbox, by status: pending (queued or waiting for a retry), sent, dead.",
            labels=["status"],
        ),
        GaugeMetricFamily(
            "rasid_sources", "Sources, by state: active, paused, disabled.", labels=["state"]
        ),
        GaugeMetricFamily(
            "rasid_frontier_entries",
            "Article pages found in feeds and not yet stored, by state: pending, failed "
            "(given up after repeated failures).",
            labels=["state"],
        ),
    )


def _sources_by_state(connection: Connection) -> dict[str, int]:
    """Source counts by the states of monitor/sources.py (``SourceStatus.state``)."""
    paused = Source.paused_at.is_not(None)
    rows = connection.execute(
        select(Source.enabled, paused, func.count(Source.id)).group_by(Source.enabled, paused)
    ).all()
    counts = {"active": 0, "paused": 0, "disabled": 0}
    for enabled, is_paused, count in rows:
        state = "disabled" if not enabled else "paused" if is_paused else "active"
        counts[state] += count
    return counts


def database_registry(database: Callable[[], Database]) -> CollectorRegistry:
    """A registry with the database gauges only: a web process that runs no service."""
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(database))
    return registry


def render_metrics(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The Prometheus text exposition of ``registry`` and its content type.

    It reads the database: call it off the event loop.
    """
    return generate_latest(registry), CONTENT_TYPE_LATEST
