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
# summary stands in, "entry" when the source's pages are not fetched (``pages = false``)
# and the feed entry is the article.
Extraction = Literal["page", "feed", "entry"]


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
    # The entry's full text when the feed carries one besides the summary
    # (content:encoded, Atom content); what a source with ``pages = false`` stores.
    content: str = ""


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


def entry_article(
    entry: FeedEntry,
    *,
    source_id: int,
    source_name: str,
    feed_url: str | None,
    frontier_id: int | None = None,
) -> ArticleItem:
    """The article a feed entry is by itself, for a source whose pages are not fetched
    (``pages = false``): its title, and its full content or else its summary."""
    return ArticleItem(
        source_id=source_id,
        source_name=source_name,
        url=entry.url or "",
        link=entry.url,
        title=entry.title,
        body=entry.content or entry.summary,
        summary=entry.summary,
        guid=entry.guid,
        author=entry.author,
        published_at=entry.published_at,
        extraction="entry",
        feed_url=feed_url,
        frontier_id=frontier_id,
    )
