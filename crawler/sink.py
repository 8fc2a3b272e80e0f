"""The contract between the crawler and the rest of rasid.

The crawler receives :class:`DueSource` records (what to poll, with the validators of
the last poll), reports a :class:`PollOutcome` per poll, asks which feed entries are
new, and hands each new article over as an ``ArticleItem``. It never touches the
database itself: ``monitor.service`` implements :class:`CrawlSink` on top of
``monitor.sources`` and ``monitor.ingest``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from crawler.items import ArticleItem, FeedEntry


@dataclass(frozen=True)
class DueSource:
    """A source to poll now, with what the previous poll left for a conditional GET."""

    id: int
    name: str
    url: str
    kind: str = "auto"
    links: str | None = None  # the article-link selector of an HTML listing source
    obey_robots: bool = True
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

    status: str
    http_status: int | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    entries: int = 0
    new_entries: int = 0
    retry_after: float | None = None  # seconds a 429/503 asked us to wait


class CrawlSink(Protocol):
    def record_poll(self, source: DueSource, outcome: PollOutcome) -> None:
        """Store how a poll went and when to poll next."""

    def new_entries(self, source: DueSource, entries: list[FeedEntry]) -> list[FeedEntry]:
        """The entries whose article is not stored yet (by canonical URL or GUID)."""

    def ingest(self, item: ArticleItem) -> None:
        """Store, deduplicate and match one article (one transaction)."""
