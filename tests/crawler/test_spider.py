"""The source spider's own decisions, without a crawl."""

from __future__ import annotations

import asyncio
import threading

from crawler.items import ParsedFeed
from crawler.spiders import sources
from crawler.spiders.sources import SourceSpider
from monitor.netguard import NetworkPolicy
from tests.support.crawl import RecordingSink


def test_feed_bodies_are_parsed_off_the_event_loop_thread(monkeypatch):
    parsed_in: list[threading.Thread] = []

    def parse_document(body: bytes, **_options: object) -> ParsedFeed:
        parsed_in.append(threading.current_thread())
        return ParsedFeed(title=None, entries=[])

    monkeypatch.setattr(sources, "parse_document", parse_document)
    spider = SourceSpider(sink=RecordingSink(), policy=NetworkPolicy())

    async def parse() -> threading.Thread:
        await spider._parse_in_worker(b"<rss/>", url="https://news.example/rss.xml")
        return threading.current_thread()

    loop_thread = asyncio.run(parse())
    spider._on_closed()

    assert len(parsed_in) == 1
    assert parsed_in[0] is not loop_thread


def test_an_entry_of_a_source_without_pages_is_its_article_with_no_request():
    from crawler.items import ArticleItem, FeedEntry
    from crawler.sink import DueSource, PageWork

    spider = SourceSpider(sink=RecordingSink(), policy=NetworkPolicy())
    source = DueSource(1, "wire", "https://wire.example/rss.xml", pages=False)
    entry = FeedEntry(
        url="https://wire.example/1", guid="1", title="خبر", summary="ملخص", content="النص كله"
    )

    [article] = spider.fetch_page(PageWork(7, source, entry, source.url))
    spider._on_closed()

    assert isinstance(article, ArticleItem)
    assert (article.url, article.body, article.summary) == (entry.url, "النص كله", "ملخص")
    assert (article.extraction, article.frontier_id) == ("entry", 7)
