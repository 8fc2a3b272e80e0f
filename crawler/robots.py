"""robots.txt for a spider that lives as long as the service.

Scrapy's RobotsTxtMiddleware is made for one-off crawls: it reads a site's robots.txt
once for the life of the spider, and when the file cannot be fetched (a 5xx, a timeout,
a refused connection) it allows everything. In rasid the spider runs for weeks, so a
changed robots.txt would never be seen and one failed fetch would open the site until
the next restart. This middleware keeps Scrapy's parser (``ROBOTSTXT_PARSER``, Protego)
and its request path (the robots.txt request passes the network guard and the redirect
middleware like any other), the per-request opt-out (meta ``dont_obey_robotstxt``, set
by the spider for sources with ``robots = false``), and changes what is cached, how long:

- 2xx: the rules hold for ``[crawl] robots_cache`` (24 h by default, RFC 9309's cap);
- 4xx other than 429, or a redirect chain refused by the guard or the redirect limit:
  the site has no usable robots.txt, everything is allowed, for as long;
- 429, 5xx, timeout, connection error (robots.txt *unreachable*): the last rules read are
  kept when there are any; when there are none, the site's URLs are refused with a
  message saying why (RFC 9309 section 2.3.1.4: assume complete disallow). Either way
  robots.txt is asked again after :data:`ROBOTS_RETRY`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import build_from_crawler, load_object
from twisted.python.failure import Failure

from crawler.failures import describe_failure

ROBOTS_RETRY = 600.0  # seconds before an unreachable robots.txt is asked again
# Ahead of every feed and article: a poll cannot start before its site's rules are known.
ROBOTS_PRIORITY = 1000


class RobotsRefused(IgnoreRequest):
    """A request robots.txt forbids, or whose site's robots.txt cannot be read; the
    message is the sentence ``rasid status`` shows."""


@dataclass(frozen=True)
class SiteRules:
    """What rasid knows about one site's robots.txt, until ``expires`` (monotonic)."""

    parser: Any | None  # a scrapy.robotstxt.RobotParser; None: everything allowed
    unreachable: str | None  # why robots.txt could not be read and no rules are known
    expires: float


class RobotsCache:
    """Per-site rules with their expiry; the clock is injected so tests can move it."""

    def __init__(
        self, ttl: float, retry: float = ROBOTS_RETRY, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.retry = min(retry, ttl)
        self.clock = clock
        self._sites: dict[str, SiteRules] = {}

    def fresh(self, site: str) -> SiteRules | None:
        """The site's rules if they may still be used without asking again."""
        rules = self._sites.get(site)
        if rules is None or rules.expires <= self.clock():
            return None
        return rules

    def read(self, site: str, parser: Any) -> SiteRules:
        return self._keep(site, SiteRules(parser, None, self.clock() + self.ttl))

    def absent(self, site: str) -> SiteRules:
        return self._keep(site, SiteRules(None, None, self.clock() + self.ttl))

    def unreachable(self, site: str, why: str) -> SiteRules:
        previous = self._sites.get(site)
        expires = self.clock() + self.retry
        if previous is not None and previous.unreachable is None:
            # The last rules read (or the last "no robots.txt") stand until it answers.
            return self._keep(site, SiteRules(previous.parser, None, expires))
        return self._keep(site, SiteRules(None, why, expires))

    def _keep(self, site: str, rules: SiteRules) -> SiteRules:
        self._sites[site] = rules
        return rules


class RobotsMiddleware:
    """Downloader middleware: obey each site's robots.txt, re-read it as it expires."""

    def __init__(self, crawler: Crawler, cache: RobotsCache) -> None:
        self.crawler = crawler
        self.cache = cache
        self._parser_class = load_object(crawler.settings.get("ROBOTSTXT_PARSER"))
        self._user_agent: str = crawler.settings.get("USER_AGENT")
        self._reading: dict[str, asyncio.Future[SiteRules]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RobotsMiddleware:
        ttl = crawler.settings.getfloat("RASID_ROBOTS_CACHE", 86400.0)
        return cls(crawler, RobotsCache(ttl))

    async def process_request(self, request: Request) -> None:
        if request.meta.get("dont_obey_robotstxt"):
            return
        url = urlparse_cached(request)
        if url.scheme not in ("http", "https"):
            return  # the network guard refuses it with its own reason
        rules = await self._rules(url.scheme, url.netloc)
        if rules.unreachable is not None:
            self.crawler.stats.inc_value("robotstxt/unreachable_refused")
            raise RobotsRefused(
                f"{request.url} not fetched: the site's robots.txt could not be read "
                f"({rules.unreachable}); rasid does not crawl a site whose robots.txt is "
                f"unreachable and asks again in {self.cache.retry / 60:.0f} min; set "
                "robots = false on this source to override"
            )
        agent = request.headers.get(b"User-Agent") or self._user_agent
        if rules.parser is not None and not rules.parser.allowed(request.url, agent):
            self.crawler.stats.inc_value("robotstxt/forbidden")
            raise RobotsRefused(
                f"{request.url} is disallowed by the site's robots.txt; set robots = false "
                "on this source to override"
            )

    async def _rules(self, scheme: str, site: str) -> SiteRules:
        rules = self.cache.fresh(site)
        if rules is not None:
            return rules
        reading = self._reading.get(site)
        if reading is not None:  # another request of this site is already asking
            # An asyncio future, not a Deferred: a Deferred hands its result to the
            # first waiter's callback only, and the next ones would get None.
            return await asyncio.shield(reading)
        reading = self._reading[site] = asyncio.get_running_loop().create_future()
        try:
            rules = await self._read(scheme, site)
        except BaseException as exc:
            reading.set_exception(exc)  # no request of this site may wait forever
            reading.exception()  # retrieved: raised below, logged once
            raise
        finally:
            del self._reading[site]
        reading.set_result(rules)
        return rules

    async def _read(self, scheme: str, site: str) -> SiteRules:
        request = Request(
            f"{scheme}://{site}/robots.txt",
            priority=ROBOTS_PRIORITY,
            meta={"dont_obey_robotstxt": True},
            callback=NO_CALLBACK,
            dont_filter=True,
        )
        stats = self.crawler.stats
        stats.inc_value("robotstxt/request_count")
        assert self.crawler.engine is not None
        try:
            response = await self.crawler.engine.download_async(request)
        except IgnoreRequest:
            # A hop refused by the network guard, or too many redirects (RFC 9309 allows
            # treating a robots.txt behind more than five redirects as absent).
            return self.cache.absent(site)
        except Exception as exc:  # noqa: BLE001 - any download failure: unreachable
            stats.inc_value("robotstxt/unreachable")
            return self.cache.unreachable(site, describe_failure(Failure(exc)))
        stats.inc_value(f"robotstxt/response_status_count/{response.status}")
        if 200 <= response.status < 300:
            parser = build_from_crawler(self._parser_class, self.crawler, response.body)
            return self.cache.read(site, parser)
        if response.status == 429 or response.status >= 500:
            stats.inc_value("robotstxt/unreachable")
            return self.cache.unreachable(site, f"HTTP {response.status}")
        return self.cache.absent(site)
