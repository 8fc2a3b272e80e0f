"""The item pipeline: every finished article goes to the sink (monitor.ingest)."""

from __future__ import annotations

from scrapy.crawler import Crawler

from crawler.items import ArticleItem
from crawler.spiders.sources import SourceSpider


class IngestPipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> IngestPipeline:
        return cls(crawler)

    def process_item(self, item: ArticleItem) -> ArticleItem:
        spider = self.crawler.spider
        assert isinstance(spider, SourceSpider)
        spider.sink.ingest(item)
        return item
