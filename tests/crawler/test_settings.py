"""The Scrapy components rasid's crawler runs with (crawler/settings.py)."""

from __future__ import annotations

from scrapy.core.downloader.middleware import DownloaderMiddlewareManager
from scrapy.extension import ExtensionManager
from scrapy.utils.test import get_crawler

from crawler.settings import scrapy_settings
from crawler.spiders.sources import SourceSpider
from monitor.config import Settings


def _crawler():
    return get_crawler(SourceSpider, settings_dict=scrapy_settings(Settings()))


def test_the_crawler_serves_no_code_running_endpoint_and_no_telnet_console():
    extensions = {
        type(each).__name__ for each in ExtensionManager.from_crawler(_crawler()).middlewares
    }

    assert "RemoteControl" not in extensions
    assert "TelnetConsole" not in extensions
    assert "AutoThrottle" in extensions  # the rest of Scrapy's defaults stay


def test_the_crawler_keeps_no_cookies():
    manager = DownloaderMiddlewareManager.from_crawler(_crawler())
    middlewares = {type(each).__name__ for each in manager.middlewares}

    assert "CookiesMiddleware" not in middlewares
    assert {"NetworkGuardMiddleware", "RobotsMiddleware", "RedirectMiddleware"} <= middlewares


def test_polls_of_one_priority_leave_the_scheduler_in_the_order_they_were_claimed():
    """Sources are claimed oldest due first; Scrapy's default LIFO queue let each tick's
    claims overtake the earlier ones, starving them under overload (bench/soak.py)."""
    from scrapy import Request
    from scrapy.pqueues import ScrapyPriorityQueue
    from scrapy.utils.misc import load_object

    crawler = _crawler()
    memory = load_object(crawler.settings["SCHEDULER_MEMORY_QUEUE"])
    queue = ScrapyPriorityQueue.from_crawler(crawler, memory, key="")
    urls = [f"https://site{number}.example/feed.xml" for number in range(6)]
    for url in urls:
        queue.push(Request(url, dont_filter=True))
    page = Request("https://site9.example/article", dont_filter=True, priority=10)
    queue.push(page)

    order = [queue.pop().url for _ in range(len(urls) + 1)]

    assert order == [page.url, *urls]  # article pages first, then polls in claim order
