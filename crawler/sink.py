"""The contract between the crawler and the rest of rasid.

The crawler receives :class:`DueSource` records (what to poll, with the validators of
the last poll), reports a :class:`PollOutcome` per poll together with the entries it
parsed, gets back the new ones as :class:`PageWork` (already durable in the frontier),
and hands each article over as an ``ArticleItem`` carrying its frontier id. It never
touches the database itself: ``monitor.service`` implements :class:`CrawlSink` on top
of ``monitor.sources``, ``monitor.frontier`` and ``monitor.ingest``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from crawler.items import ArticleItem, FeedEntry
from monitor.config import SourceKind

PollStatus = Literal["ok", "not_modified", "error"]  # see PollOutcome


@dataclass(frozen=True)
class DueSource:
    """A source to poll now, with what the previous poll left for a conditional GET."""

    id: int
    name: str
    url: str
    kind: SourceKind = "auto"
    links: str | None = None  # the article-link selector of an HTML listing source
    obey_robots: bool = True
    pages: bool = True  # fetch entries' article pages; False: the entry is the article
    # The interval in force and whether settings pin it (monitor/polling.py), so a
    # successful poll is recorded with one UPDATE and no read.
    interval_seconds: int = 600
    interval_pinned: bool = False
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None


@dataclass(frozen=True)
class PollOutcome:
    """How one poll of a source went.

    ``status`` is "ok" (parsed), "not_modified" (304, or a body identical to the last
    one: no parse), or "error" (``error`` says what, for ``rasid status``).
    """

    status: PollStatus
    http_status: int | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    entries: int = 0
    new_entries: int = 0
    retry_after: float | None = None  # seconds a 429/503 asked us to wait


@dataclass(frozen=True)
class PageWork:
    """A new entry claimed from the frontier for this process: fetch its page (when it
    has a link) and hand its article over with ``frontier_id`` set."""

    frontier_id: int
    source: DueSource
    entry: FeedEntry
    feed_url: str  # the document the entry came from (a child sitemap, say)
    attempts: int = 1  # claims so far, this one included


class CrawlSink(Protocol):
    def record_poll(self, source: DueSource, outcome: PollOutcome) -> None:
        """Store how a poll that found nothing to parse went, and when to poll next (an
        unchanged one may be held back a moment, to be stored with others)."""

    def flush(self) -> None:
        """Store the polls held back now (the spider is idle, or closing)."""

    def discover(
        self,
        source: DueSource,
        entries: list[FeedEntry],
        *,
        feed_url: str,
        outcome: PollOutcome | None = None,
    ) -> list[PageWork]:
        """Write the entries not seen before to the frontier, in the same transaction
        as ``outcome`` (the poll that parsed them; None for a child sitemap), and return
        them claimed for this process. For a source whose pages are not fetched the
        entries' articles may be stored in that transaction instead: nothing returned."""

    def page_failed(self, work: PageWork, error: str, *, transient: bool) -> bool:
        """An entry's page could not be fetched. True: store the article from the feed's
        text now; False: the entry stays in the frontier (a transient failure retried
        later, or a stop under way)."""

    def ingest(self, item: ArticleItem) -> None:
        """Store, deduplicate and match one article, and clear its frontier entry
        (one transaction)."""
