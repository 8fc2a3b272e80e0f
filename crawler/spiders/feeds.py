"""The long-lived spider that polls feeds and fetches their new articles.

One spider lives as long as the service; the poll tick feeds it requests through
:meth:`SourceSpider.poll` and it stays open when idle. Per poll: a conditional GET
(ETag / Last-Modified); a 304, or a body identical to the last one, ends the poll
without parsing; otherwise feedparser parses the bytes, the sink says which entries are
new, and only those articles' pages are fetched, extracted and handed to the pipeline.
A failure is recorded on its source and never stops the others.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import replace
from typing import Any

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider
from scrapy.http import Response
from twisted.python.failure import Failure

from crawler.charset import decode_html
from crawler.dates import date_in_page
from crawler.documents import parse_document
from crawler.extract import extract_article
from crawler.failures import describe_failure, retry_after
from crawler.items import ArticleItem, ExtractedPage, FeedEntry
from crawler.sink import CrawlSink, DueSource, PollOutcome
from monitor.errors import NetworkGuardError, SourceError
from monitor.netguard import NetworkPolicy

logger = logging.getLogger(__name__)

# Articles first: a new article is what someone is waiting for; the next feed can wait.
ARTICLE_PRIORITY = 10
# Below this many characters the page yielded no real article; the feed summary stands in.
MIN_PAGE_TEXT = 80
# Scrapy stats of polls: not_modified (a 304), same_body (hash unchanged), parsed.
FEED_STATS = "rasid/feeds/"


class SourceSpider(scrapy.Spider):
    name = "sources"

    def __init__(
        self,
        sink: CrawlSink,
        policy: NetworkPolicy,
        initial: Iterable[DueSource] = (),
        keep_alive: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sink = sink
        self.policy = policy
        self.initial = list(initial)
        self.keep_alive = keep_alive

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SourceSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._on_idle, signal=signals.spider_idle)
        return spider

    def _on_idle(self) -> None:
        if self.keep_alive:
            raise DontCloseSpider

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for source in self.initial:
            yield self.poll_request(source)

    def poll(self, sources: Iterable[DueSource]) -> None:
        """Queue a poll of each source (called by the service's poll tick)."""
        assert self.crawler.engine is not None
        for source in sources:
            self.crawler.engine.crawl(self.poll_request(source))

    def poll_request(self, source: DueSource) -> scrapy.Request:
        headers: dict[str, str] = {}
        if source.etag:
            headers["If-None-Match"] = source.etag
        if source.last_modified:
            headers["If-Modified-Since"] = source.last_modified
        return scrapy.Request(
            source.url,
            headers=headers,
            callback=self.parse_feed,
            errback=self.feed_failed,
            dont_filter=True,
            meta={
                "source": source,
                "handle_httpstatus_list": [304],
                "dont_obey_robotstxt": not source.obey_robots,
            },
        )

    def parse_feed(self, response: Response) -> Iterator[scrapy.Request | ArticleItem]:
        source: DueSource = response.meta["source"]
        etag = _header(response, "ETag")
        last_modified = _header(response, "Last-Modified")
        if response.status == 304:
            self._count("not_modified")
            self.sink.record_poll(
                source,
                PollOutcome(
                    "not_modified",
                    http_status=304,
                    etag=etag or source.etag,
                    last_modified=last_modified or source.last_modified,
                    body_hash=source.body_hash,
                ),
            )
            return
        body_hash = hashlib.sha256(response.body).hexdigest()
        if body_hash == source.body_hash:
            # Servers without validators still often send the same bytes: no parse.
            self._count("same_body")
            self.sink.record_poll(
                source,
                PollOutcome(
                    "not_modified",
                    http_status=response.status,
                    etag=etag,
                    last_modified=last_modified,
                    body_hash=body_hash,
                ),
            )
            return
        self._count("parsed")
        try:
            feed = parse_document(
                response.body,
                url=response.url,
                content_type=_header(response, "Content-Type"),
                kind=source.kind,
                links=source.links,
            )
        except SourceError as exc:
            self.sink.record_poll(
                source, PollOutcome("error", http_status=response.status, error=str(exc))
            )
            return
        new_entries = self.sink.new_entries(source, feed.entries)
        warnings = list(feed.warnings)
        requests: list[scrapy.Request | ArticleItem] = []
        for entry in new_entries:
            requests.extend(self._follow(source, entry, response.url, warnings))
        for child in feed.children:
            requests.extend(self._child_sitemap(source, child, warnings))
        self.sink.record_poll(
            source,
            PollOutcome(
                "ok",
                http_status=response.status,
                warnings=warnings,
                etag=etag,
                last_modified=last_modified,
                body_hash=body_hash,
                entries=len(feed.entries),
                new_entries=len(new_entries),
            ),
        )
        yield from requests

    def _count(self, what: str) -> None:
        """Scrapy stats ``rasid/feeds/<what>``: how polls ended, so a parse is countable."""
        self.crawler.stats.inc_value(f"{FEED_STATS}{what}")

    def _child_sitemap(
        self, source: DueSource, url: str, warnings: list[str]
    ) -> Iterator[scrapy.Request]:
        """A sitemap listed by the source's sitemap index, read in the same poll."""
        try:
            self.policy.check_url(url)
        except NetworkGuardError as exc:
            warnings.append(f"child sitemap not fetched: {exc}")
            return
        yield scrapy.Request(
            url,
            callback=self.parse_child_sitemap,
            errback=self.child_sitemap_failed,
            dont_filter=True,
            meta={"source": source, "dont_obey_robotstxt": not source.obey_robots},
        )

    def parse_child_sitemap(self, response: Response) -> Iterator[scrapy.Request | ArticleItem]:
        source: DueSource = response.meta["source"]
        self._count("parsed")
        try:
            sitemap = parse_document(response.body, url=response.url, kind="sitemap")
        except SourceError as exc:
            logger.warning("source %s: sitemap %s: %s", source.name, response.url, exc)
            return
        warnings: list[str] = []
        for entry in self.sink.new_entries(source, sitemap.entries):
            yield from self._follow(source, entry, response.url, warnings)
        for warning in warnings:
            logger.warning("source %s: sitemap %s: %s", source.name, response.url, warning)

    def child_sitemap_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        logger.warning(
            "source %s: sitemap %s not fetched (%s)",
            request.meta["source"].name,
            request.url,
            describe_failure(failure),
        )

    def _follow(
        self, source: DueSource, entry: FeedEntry, feed_url: str, warnings: list[str]
    ) -> Iterator[scrapy.Request | ArticleItem]:
        if not entry.url:
            warnings.append(f"entry {entry.title[:60]!r} has no usable link; skipped")
            return
        try:
            self.policy.check_url(entry.url)
        except NetworkGuardError as exc:
            # A hostile feed must not make rasid fetch internal addresses; keep the entry.
            warnings.append(f"article page not fetched: {exc}")
            yield _article(source, entry, feed_url, None, entry.url)
            return
        yield scrapy.Request(
            entry.url,
            callback=self.parse_article,
            errback=self.article_failed,
            dont_filter=True,
            priority=ARTICLE_PRIORITY,
            meta={
                "source": source,
                "entry": entry,
                "feed_url": feed_url,
                "dont_obey_robotstxt": not source.obey_robots,
            },
        )

    def parse_article(self, response: Response) -> Iterator[ArticleItem]:
        source: DueSource = response.meta["source"]
        entry: FeedEntry = response.meta["entry"]
        page: ExtractedPage | None = None
        try:
            html, _encoding = decode_html(response.body, _header(response, "Content-Type"))
            # The feed's title and date are preferred anyway; then the page's are not needed.
            complete = bool(entry.title and entry.published_at)
            page = extract_article(html, url=response.url, metadata=not complete)
            if not entry.published_at and page.published_at is None:
                written = date_in_page(html)
                if written is not None:
                    page = replace(page, published_at=written)
        except Exception:
            # A page that breaks the extractor must not lose the article: the feed's own
            # text stands in, and the traceback goes to the log for a bug report.
            logger.exception("extraction failed for %s", response.url)
        yield _article(source, entry, response.meta["feed_url"], page, response.url)

    def article_failed(self, failure: Failure) -> Iterator[ArticleItem]:
        request = failure.request  # type: ignore[attr-defined]
        source: DueSource = request.meta["source"]
        entry: FeedEntry = request.meta["entry"]
        logger.warning(
            "source %s: article page %s not fetched (%s); using the feed's summary",
            source.name,
            request.url,
            describe_failure(failure),
        )
        yield _article(source, entry, request.meta["feed_url"], None, entry.url or request.url)

    def feed_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        source: DueSource = request.meta["source"]
        max_size = self.crawler.settings.getint("DOWNLOAD_MAXSIZE")
        http_status = getattr(getattr(failure.value, "response", None), "status", None)
        self.sink.record_poll(
            source,
            PollOutcome(
                "error",
                http_status=http_status,
                error=describe_failure(failure, max_size=max_size),
                retry_after=retry_after(failure),
            ),
        )


def _article(
    source: DueSource,
    entry: FeedEntry,
    feed_url: str,
    page: ExtractedPage | None,
    url: str,
) -> ArticleItem:
    """Merge what the feed said with what the page said; feed dates win (page dates are
    guessed, and guessed wrong often enough)."""
    page_text = page.text.strip() if page else ""
    from_page = len(page_text) >= MIN_PAGE_TEXT
    return ArticleItem(
        source_id=source.id,
        source_name=source.name,
        url=url,
        link=entry.url,
        title=entry.title or (page.title if page and page.title else ""),
        body=page_text if from_page else entry.summary,
        summary=entry.summary,
        guid=entry.guid,
        author=entry.author or (page.author if page else None),
        published_at=entry.published_at or (page.published_at if page else None),
        language=page.language if page else None,
        extraction="page" if from_page else "feed",
        feed_url=feed_url,
    )


def _header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None
