"""Scrapy components that put every source request through the network guard.

Two halves of one gate (crawler.netguard): the downloader middleware refuses a URL by
its form (scheme, credentials, IP literals such as 169.254.169.254) before any
connection, and the resolver refuses a host whose addresses are not all allowed at the
moment Twisted connects, so redirects, feed entry links and DNS rebinding are all
covered. Redirected requests pass through the middleware again, hop by hop.
"""

from __future__ import annotations

import time
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IResolverSimple
from twisted.internet.threads import deferToThreadPool
from zope.interface import implementer

from crawler.netguard import NetworkPolicy
from monitor.errors import NetworkGuardError

DNS_CACHE_SECONDS = 60.0


class GuardRefused(IgnoreRequest):
    """A request refused by the network guard; the message says which hop and why."""


class NetworkGuardMiddleware:
    def __init__(self, policy: NetworkPolicy) -> None:
        self.policy = policy

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> NetworkGuardMiddleware:
        allow = crawler.settings.getbool("RASID_ALLOW_PRIVATE_NETWORKS")
        return cls(NetworkPolicy(allow_private_networks=allow))

    def process_request(self, request: Request) -> None:
        try:
            self.policy.check_url(request.url)
        except NetworkGuardError as exc:
            hop = request.meta.get("redirect_urls")
            where = f" (redirected from {hop[-1]})" if hop else ""
            raise GuardRefused(f"{exc}{where}") from None


@implementer(IResolverSimple)
class GuardedResolver:
    """Resolves through the network policy: a host with any refused address fails."""

    def __init__(self, reactor: Any, policy: NetworkPolicy) -> None:
        self.reactor = reactor
        self.policy = policy
        self._cache: dict[str, tuple[float, str]] = {}

    def install_on_reactor(self) -> None:
        self.reactor.installResolver(self)

    def getHostByName(self, name: str, timeout: Any = ()) -> Deferred[str]:
        cached = self._cache.get(name)
        if cached and cached[0] > time.monotonic():
            return succeed(cached[1])
        deferred = deferToThreadPool(
            self.reactor, self.reactor.getThreadPool(), self.policy.resolve, name
        )
        deferred.addCallback(self._remember, name)
        return deferred

    def _remember(self, addresses: list[str], name: str) -> str:
        # Prefer IPv4: loopback test servers and most news sites listen there.
        chosen = next((a for a in addresses if ":" not in a), addresses[0])
        self._cache[name] = (time.monotonic() + DNS_CACHE_SECONDS, chosen)
        return chosen
