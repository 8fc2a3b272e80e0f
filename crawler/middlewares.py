"""Scrapy components that put every source request through the network guard.

Two halves of one gate (monitor.netguard). The downloader middleware checks each
request before any connection: its form (scheme, credentials, IP literals such as
169.254.169.254) and where its host resolves, giving the user a precise reason. The
resolver checks again at the moment Twisted connects, so a name that changes its
answer between the two (DNS rebinding) is still refused. Redirected requests pass
through the middleware again, hop by hop.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import IResolverSimple
from twisted.internet.threads import deferToThreadPool
from zope.interface import implementer

from monitor.errors import NetworkGuardError
from monitor.netguard import NetworkPolicy

DNS_CACHE_SECONDS = 60.0


class GuardRefused(IgnoreRequest):
    """A request refused by the network guard; the message says which hop and why."""


class NetworkGuardMiddleware:
    def __init__(self, policy: NetworkPolicy) -> None:
        self.policy = policy
        self._verdicts: dict[str, tuple[float, str | None]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> NetworkGuardMiddleware:
        settings = crawler.settings
        return cls(
            NetworkPolicy.from_settings(
                allow_private_networks=settings.getbool("RASID_ALLOW_PRIVATE_NETWORKS"),
                allowed_networks=settings.getlist("RASID_ALLOWED_NETWORKS"),
            )
        )

    async def process_request(self, request: Request) -> None:
        try:
            self.policy.check_url(request.url)
            host = urlsplit(request.url).hostname or ""
            problem = await self._resolution_problem(host)
        except NetworkGuardError as exc:
            problem = str(exc)
        if problem is not None:
            hop = request.meta.get("redirect_urls")
            where = f" (redirected from {hop[-1]})" if hop else ""
            raise GuardRefused(f"{problem}{where}")

    async def _resolution_problem(self, host: str) -> str | None:
        """Why ``host`` may not be fetched (unresolvable or refused), or None; cached."""
        cached = self._verdicts.get(host)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        try:
            await asyncio.to_thread(self.policy.resolve, host)
            problem = None
        except NetworkGuardError as exc:
            problem = str(exc)
        self._verdicts[host] = (time.monotonic() + DNS_CACHE_SECONDS, problem)
        return problem


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
        deferred.addCallbacks(self._remember, self._refuse, callbackArgs=(name,))
        return deferred

    @staticmethod
    def _refuse(failure: Any) -> Any:
        # Twisted logs any other failure type with a traceback; this one it expects.
        if failure.check(NetworkGuardError):
            raise DNSLookupError(str(failure.value))
        return failure

    def _remember(self, addresses: list[str], name: str) -> str:
        # Prefer IPv4: loopback test servers and most news sites listen there.
        chosen = next((a for a in addresses if ":" not in a), addresses[0])
        self._cache[name] = (time.monotonic() + DNS_CACHE_SECONDS, chosen)
        return chosen
