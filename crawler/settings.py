"""Scrapy settings for rasid's crawler (scrapy.cfg points here).

Scrapy's defaults are made for one-off crawls of trusted sites; a service that polls
user-supplied URLs forever needs tighter ones: a 1 GiB body cap, a 180 s timeout and 20
redirects are all far too generous, ``file:``/``ftp:``/``s3:``/``data:`` handlers and
environment proxies would bypass the network guard, and the duplicate filter would
remember every URL for the life of the process (rasid deduplicates in the database).
The values from settings.toml's ``[crawl]`` table are applied by :func:`scrapy_settings`.
"""

from __future__ import annotations

from typing import Any

from monitor.config import Settings

BOT_NAME = "rasid"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

DOWNLOAD_HANDLERS = {"file": None, "ftp": None, "s3": None, "data": None}
HTTPPROXY_ENABLED = False
TWISTED_DNS_RESOLVER = "crawler.middlewares.GuardedResolver"
DOWNLOADER_MIDDLEWARES = {
    "crawler.middlewares.NetworkGuardMiddleware": 50,
    # Each layer costs every request and response a pass; these do nothing for rasid:
    # no allowed_domains to keep to, no HTTP auth, no byte counts read.
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
    "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": None,
    "scrapy.downloadermiddlewares.stats.DownloaderStats": None,
    # Scrapy's reads robots.txt once per process and allows all when it cannot; rasid's
    # re-reads it and refuses a site whose robots.txt is unreachable (crawler.robots).
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "crawler.robots.RobotsMiddleware": 100,
}
# Likewise every item and request a callback yields passes each spider middleware: rasid
# sends no Referer (an article page need not learn which feed listed it), keeps no
# depth, and copies no meta from responses.
SPIDER_MIDDLEWARES = {
    "scrapy.spidermiddlewares.referer.RefererMiddleware": None,
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,
}
ITEM_PIPELINES = {"crawler.pipelines.IngestPipeline": 300}
# Scrapy's RemoteControl extension, on by default, serves an HTTP endpoint on localhost
# that runs any Python code sent to it (behind a token it writes to a file in the user's
# home). Off, and left out of the components Scrapy loads (below) with others rasid does
# not use: Scrapy imports every component named in EXTENSIONS or DOWNLOADER_MIDDLEWARES,
# even one set to None, and these imports (aiohttp, tldextract) cost each start a
# seventh of a CPU second (docs/benchmarks.md).
REMOTE_CONTROL_ENABLED = False
_LEFT_OUT = {
    "EXTENSIONS_BASE": (
        "scrapy.extensions.remote_control.RemoteControl",
        "scrapy.extensions.telnet.TelnetConsole",  # off (TELNETCONSOLE_ENABLED)
        # Counts every response and item into stats nobody reads (rasid keeps its own).
        "scrapy.extensions.corestats.CoreStats",
    ),
    "DOWNLOADER_MIDDLEWARES_BASE": (
        "scrapy.downloadermiddlewares.cookies.CookiesMiddleware",  # off (COOKIES_ENABLED)
    ),
}
DUPEFILTER_CLASS = "scrapy.dupefilters.BaseDupeFilter"
# Requests of one priority go out in the order they came (Scrapy's default is last in,
# first out, a depth-first crawl's choice). Polls are claimed oldest due first: under
# LIFO, when more polls are due than the crawler can make, each tick's claims jumped the
# queue and the sources claimed first starved for as long as the overload lasted (half
# of 5,000 feeds unpolled for minutes in bench/soak.py's overload run).
SCHEDULER_MEMORY_QUEUE = "scrapy.squeues.FifoMemoryQueue"
SCHEDULER_DISK_QUEUE = "scrapy.squeues.PickleFifoDiskQueue"

# Scrapy re-reads each callback's source on every response to warn about generators
# that return values; its cache misses on bound methods, which made that a third of the
# CPU of an unchanged poll. rasid's callbacks are its own and tested.
WARN_ON_GENERATOR_RETURN_VALUE = False
# Scrapy starts this many tasks (and one more) to process each response's output, for a
# poll that yields nothing (a 304) or a few article requests. Items are stored one by one
# by the ingest pipeline, synchronously, so one worker is as fast and costs each poll the
# least (docs/benchmarks.md, poll_cycle.py).
CONCURRENT_ITEMS = 1
DOWNLOAD_TIMEOUT = 20
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
REDIRECT_MAX_TIMES = 5
METAREFRESH_ENABLED = False
# A poll that fails is retried by the schedule with backoff, not hammered at once.
RETRY_ENABLED = False
COOKIES_ENABLED = False
# robots.txt is obeyed by crawler.robots, per request: a source may opt out (meta
# "dont_obey_robotstxt", set by the spider). Scrapy's own switch stays off.
ROBOTSTXT_OBEY = False
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "WARNING"
CONCURRENT_REQUESTS = 32
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_DELAY = 0
DEFAULT_REQUEST_HEADERS = {
    "Accept": (
        "application/rss+xml, application/atom+xml, application/feed+json, "
        "application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.8, */*;q=0.5"
    ),
    "Accept-Language": "ar, en;q=0.5",
}


def scrapy_settings(settings: Settings) -> dict[str, Any]:
    """This module's settings with the user's ``[crawl]`` values applied."""
    crawl = settings.crawl
    values = {
        name: value
        for name, value in globals().items()
        if name.isupper() and not name.startswith("_")
    }
    from scrapy.settings import default_settings

    for name, left_out in _LEFT_OUT.items():
        base = getattr(default_settings, name)
        values[name] = {path: order for path, order in base.items() if path not in left_out}
    values.update(
        USER_AGENT=crawl.agent,
        RASID_ROBOTS_CACHE=crawl.robots_cache.total_seconds(),
        AUTOTHROTTLE_ENABLED=crawl.autothrottle,
        DOWNLOAD_DELAY=crawl.download_delay.total_seconds(),
        DOWNLOAD_TIMEOUT=crawl.timeout.total_seconds(),
        DOWNLOAD_MAXSIZE=crawl.max_response_size,
        DOWNLOAD_WARNSIZE=min(DOWNLOAD_WARNSIZE, crawl.max_response_size),
        REDIRECT_MAX_TIMES=crawl.max_redirects,
        CONCURRENT_REQUESTS=crawl.concurrent_requests,
        CONCURRENT_REQUESTS_PER_DOMAIN=crawl.concurrent_requests_per_domain,
        RASID_ALLOW_PRIVATE_NETWORKS=crawl.allow_private_networks,
        RASID_ALLOWED_NETWORKS=list(crawl.allowed_networks),
    )
    if settings.log_level == "DEBUG":
        values["LOG_LEVEL"] = "DEBUG"
    return values
