"""What the crawler hands on: feed entries, extracted pages and finished articles.

Plain dataclasses (Scrapy accepts them as items): the crawler fills them, and
``monitor.ingest`` receives an :class:`ArticleItem` and never sees HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

# Which text an article's body is: "page" when it was extracted from the article page,
# "feed" when the page could not be fetched or yielded too little text and the feed's
# summary stands in.
Extraction = Literal["page", "feed"]


@dataclass(frozen=True)
class FeedEntry:
    """One entry of a feed, cleaned: text fields are plain text, the link is absolute
    http(s) or None, the date is timezone-aware UTC or None."""

    url: str | None
    guid: str | None
    title: str
    summary: str
    author: str | None = None
    published_at: datetime | None = None


@dataclass(frozen=True)
class ParsedFeed:
    """A parsed feed body. ``warnings`` holds problems that did not stop parsing
    (feedparser's non-fatal bozo, dropped links, a repaired charset)."""

    title: str | None
    entries: list[FeedEntry]
    warnings: list[str] = field(default_factory=list)
    encoding: str | None = None
    version: str | None = None
    # A sitemap index lists sitemaps to fetch next (newest first), not entries.
    children: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ExtractedPage:
    """The main content of an article page, without navigation, sidebars or comments."""

    title: str | None
    text: str
    author: str | None = None
    published_at: datetime | None = None
    language: str | None = None


@dataclass
class ArticleItem:
    """A new article, ready to be stored and matched."""

    source_id: int
    source_name: str
    # Where the page was fetched from (after redirects); ``link`` is what the feed said.
    # Both are empty for an entry without a usable link, stored from the feed alone.
    url: str
    title: str
    body: str
    summary: str = ""
    guid: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    language: str | None = None
    extraction: Extraction = "page"
    feed_url: str | None = None
    link: str | None = None
    # The frontier entry this article settles (monitor.frontier); None outside a crawl.
    frontier_id: int | None = None
