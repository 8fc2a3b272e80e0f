"""The long-lived spider that polls every kind of source and fetches its new articles.

One spider lives as long as the service; the poll tick feeds it polls through
:meth:`SourceSpider.poll` and frontier entries through :meth:`SourceSpider.fetch`, and
it stays open when idle. Per poll: a conditional GET (ETag / Last-Modified); a 304, or
a body identical to the last one, ends the poll without parsing; otherwise the body is
parsed in a worker thread (a huge feed must not stall the event loop), the sink writes
the new entries to the frontier with the poll's outcome in one transaction, and only
then are those articles' pages fetched, extracted and handed to the pipeline. A failure
is recorded on its source and never stops the others.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from typing import Any

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import (
    DontCloseSpider,
)
from scrapy.http import Response
from twisted.python.failure import Failure

from crawler.charset import decode_html
from crawler.dates import date_in_page
from crawler.documents import parse_document
from crawler.extract import extract_article
from crawler.failures import describe_failure, is_transient, retry_after
from crawler.items import ArticleItem, ExtractedPage, ParsedFeed, entry_article
from crawler.sink import CrawlSink, DueSource, PageWork, PollOutcome
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
        initial_work: Iterable[PageWork] = (),
        keep_alive: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sink = sink
        self.policy = policy
        self.initial = list(initial)
        self.initial_work = list(initial_work)
        self.keep_alive = keep_alive
        # One worker: parses never compete with each other, only leave the loop free.
        self._parser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rasid-parse")

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SourceSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._on_idle, signal=signals.spider_idle)
        crawler.signals.connect(spider._on_closed, signal=signals.spider_closed)
        return spider

    def _on_idle(self) -> None:
        self.sink.flush()
        if self.keep_alive:
            raise DontCloseSpider

    def _on_closed(self) -> None:
        self.sink.flush()
        self._parser.shutdown(wait=False, cancel_futures=True)

    async def start(self) -> AsyncIterator[scrapy.Request | ArticleItem]:
        # Entries left by an earlier run first: they were found before anything polled now.
        for work in self.initial_work:
            for output in self.fetch_page(work):
                yield output
        for source in self.initial:
            yield self.poll_request(source)

    def poll(self, sources: Iterable[DueSource]) -> None:
        """Queue a poll of each source (called by the service's poll tick)."""
        assert self.crawler.engine is not None
        for source in sources:
            self.crawler.engine.crawl(self.poll_request(source))

    def fetch(self, works: Iterable[PageWork]) -> None:
        """Fetch the pages of entries claimed from the frontier (the service's tick)."""
        assert self.crawler.engine is not None
        for work in works:
            for output in self.fetch_page(work):
                if isinstance(output, ArticleItem):
                    self.sink.ingest(output)  # no page to fetch: the feed's text is it
                else:
                    self.crawler.engine.crawl(output)

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

    async def parse_feed(self, response: Response) -> AsyncIterator[scrapy.Request | ArticleItem]:
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
        body_hash: str | None = hashlib.sha256(response.body).hexdigest()
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
            feed = await self._parse_in_worker(
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
        if feed.children:
            # A sitemap index: its children change while it often does not, so it is read
            # again at every poll (no validators kept), and its children with it.
            etag = last_modified = body_hash = None
        outcome = PollOutcome(
            "ok",
            http_status=response.status,
            warnings=list(feed.warnings),
            etag=etag,
            last_modified=last_modified,
            body_hash=body_hash,
            entries=len(feed.entries),
        )
        works = self.sink.discover(source, feed.entries, feed_url=response.url, outcome=outcome)
        for work in works:
            for output in self.fetch_page(work):
                yield output
        for child in feed.children:
            for request in self._child_sitemap(source, child):
                yield request

    async def _parse_in_worker(self, body: bytes, **options: Any) -> ParsedFeed:
        """:func:`parse_document` in the parse worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._parser, partial(parse_document, body, **options))

    def _count(self, what: str) -> None:
        """Scrapy stats ``rasid/feeds/<what>``: how polls ended, so a parse is countable."""
        self.crawler.stats.inc_value(f"{FEED_STATS}{what}")

    def _child_sitemap(self, source: DueSource, url: str) -> Iterator[scrapy.Request]:
        """A sitemap listed by the source's sitemap index, read in the same poll."""
        try:
            self.policy.check_url(url)
        except NetworkGuardError as exc:
            logger.warning("source %s: child sitemap not fetched: %s", source.name, exc)
            return
        yield scrapy.Request(
            url,
            callback=self.parse_child_sitemap,
            errback=self.child_sitemap_failed,
            dont_filter=True,
            meta={"source": source, "dont_obey_robotstxt": not source.obey_robots},
        )

    async def parse_child_sitemap(
        self, response: Response
    ) -> AsyncIterator[scrapy.Request | ArticleItem]:
        source: DueSource = response.meta["source"]
        self._count("parsed")
        try:
            sitemap = await self._parse_in_worker(response.body, url=response.url, kind="sitemap")
        except SourceError as exc:
            logger.warning("source %s: sitemap %s: %s", source.name, response.url, exc)
            return
        for work in self.sink.discover(source, sitemap.entries, feed_url=response.url):
            for output in self.fetch_page(work):
                yield output

    def child_sitemap_failed(self, failure: Failure) -> None:
        request = _failed_request(failure)
        logger.warning(
            "source %s: sitemap %s not fetched (%s)",
            request.meta["source"].name,
            request.url,
            describe_failure(failure),
        )

    def fetch_page(self, work: PageWork) -> Iterator[scrapy.Request | ArticleItem]:
        """The request for an entry's article page; or, when there is no page rasid may
        fetch (a source with ``pages = false``, no usable link, or one the network guard
        refuses), the article made of what the feed said."""
        link = work.entry.url
        if not work.source.pages:
            yield entry_article(
                work.entry,
                source_id=work.source.id,
                source_name=work.source.name,
                feed_url=work.feed_url,
                frontier_id=work.frontier_id,
            )
            return
        if not link:
            yield _article(work, None, "")
            return
        try:
            self.policy.check_url(link)
        except NetworkGuardError as exc:
            # A hostile feed must not make rasid fetch internal addresses; keep the entry.
            logger.warning("source %s: article page not fetched: %s", work.source.name, exc)
            yield _article(work, None, link)
            return
        yield scrapy.Request(
            link,
            callback=self.parse_article,
            errback=self.article_failed,
            dont_filter=True,
            priority=ARTICLE_PRIORITY,
            meta={"work": work, "dont_obey_robotstxt": not work.source.obey_robots},
        )

    def parse_article(self, response: Response) -> Iterator[ArticleItem]:
        work: PageWork = response.meta["work"]
        entry = work.entry
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
        except SourceError as exc:
            # A page rasid refuses to read (a hostile DOCTYPE): the feed's text stands in.
            logger.warning(
                "source %s: article page %s not used (%s); using the feed's summary",
                work.source.name,
                response.url,
                exc,
            )
        except Exception:
            # A page that breaks the extractor must not lose the article: the feed's own
            # text stands in, and the traceback goes to the log for a bug report.
            logger.exception("extraction failed for %s", response.url)
        yield _article(work, page, response.url)

    def article_failed(self, failure: Failure) -> Iterator[ArticleItem]:
        request = _failed_request(failure)
        work: PageWork = request.meta["work"]
        reason = describe_failure(failure)
        if not self.sink.page_failed(work, reason, transient=is_transient(failure)):
            return  # the entry stays in the frontier: fetched again later
        logger.warning(
            "source %s: article page %s not fetched (%s); using the feed's summary",
            work.source.name,
            request.url,
            reason,
        )
        yield _article(work, None, work.entry.url or request.url)

    def feed_failed(self, failure: Failure) -> None:
        request = _failed_request(failure)
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


def _article(work: PageWork, page: ExtractedPage | None, url: str) -> ArticleItem:
    """Merge what the feed said with what the page said; feed dates win (page dates are
    guessed, and guessed wrong often enough)."""
    source, entry = work.source, work.entry
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
        feed_url=work.feed_url,
        frontier_id=work.frontier_id,
    )


def _failed_request(failure: Failure) -> scrapy.Request:
    """The request whose download an errback's ``failure`` is about."""
    # Scrapy sets this attribute on the Failure it passes an errback; Twisted's stubs
    # declare no such attribute.
    request: scrapy.Request = failure.request  # type: ignore[attr-defined]
    return request


def _header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None
