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
