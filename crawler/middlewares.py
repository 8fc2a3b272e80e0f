"""Scrapy components that put every source request through the network guard.

Two halves of one gate (monitor.netguard). The downloader middleware checks each
request before any connection: its form (scheme, credentials, IP literals such as
169.254.169.254) and where its host resolves, giving the user a precise reason. The
resolver checks again at the moment Twisted connects, so a name that changes its
answer between the two (DNS rebinding) is still refused; Twisted reports only "no
results" for a name its resolver refused, so the middleware asks the resolver why and
says so. Redirected requests pass through the middleware again, hop by hop, and a
redirect Scrapy would not follow (``file:``, ``gopher:``) is refused by the middleware
too: every refused hop is named with the URL it came from.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import CannotResolveHostError, IgnoreRequest
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import IResolverSimple
from twisted.internet.threads import deferToThreadPool
from w3lib.url import safe_url_string
from zope.interface import implementer

from monitor.errors import NetworkGuardError, ResolutionError
from monitor.netguard import NetworkPolicy

if TYPE_CHECKING:
    from scrapy.http import Response

DNS_CACHE_SECONDS = 60.0
# How many URLs the middleware remembers as allowed by their form (a poll asks for the
# same feed URL every time; article URLs come once). Forgotten all at once when full.
ALLOWED_URLS = 20_000
# The statuses Scrapy's RedirectMiddleware follows.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class GuardRefused(IgnoreRequest):
    """A request refused by the network guard; the message says which hop and why."""


class HostUnresolved(GuardRefused):
    """A host name that does not resolve now (a DNS failure that may pass)."""


class AddressChangedError(DNSLookupError):
    """A host refused when connecting, after it passed the middleware's check: its
    address changed in between. A DNSLookupError, as the failure it stands for (and
    retried like one); ``sentence`` is what to show."""

    def __init__(self, host: str, refusal: str) -> None:
        detail = refusal.removeprefix(f"refused host {host!r}: ")
        self.sentence = (
            f"refused host {host!r} when connecting: its address changed after the "
            f"network guard's check (DNS rebinding?), and now {detail}"
        )
        super().__init__(self.sentence)


class NetworkGuardMiddleware:
    def __init__(self, policy: NetworkPolicy) -> None:
        self.policy = policy
        self._verdicts: dict[str, tuple[float, NetworkGuardError | None]] = {}
        # The policy is fixed for the crawler's life, so a URL's form is judged once.
        self._allowed: set[str] = set()

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
            self._check_form(request.url)
            host = urlparse_cached(request).hostname or ""
            problem = await self._resolution_problem(host)
        except NetworkGuardError as exc:
            problem = exc
        if problem is not None:
            hop = request.meta.get("redirect_urls")
            where = f" (redirected from {hop[-1]})" if hop else ""
            refused = HostUnresolved if isinstance(problem, ResolutionError) else GuardRefused
            raise refused(f"{problem}{where}")

    def _check_form(self, url: str) -> None:
        """``policy.check_url``, remembered for the URLs it allows."""
        if url in self._allowed:
            return
        self.policy.check_url(url)
        if len(self._allowed) >= ALLOWED_URLS:
            self._allowed.clear()
        self._allowed.add(url)

    def process_response(self, request: Request, response: Response) -> Response:
        """Refuse a redirect the guard would refuse, naming the hop.

        Scrapy's RedirectMiddleware does not follow a redirect to a scheme other than
        http(s): it hands back the 3xx, which would read as a bare "HTTP 302" with no
        word of ``file:///etc/passwd``. Followed redirects reach :meth:`process_request`.
        """
        location = response.headers.get(b"Location")
        if (
            location is None
            or response.status not in REDIRECT_STATUSES
            or request.meta.get("dont_redirect")
            or request.meta.get("handle_httpstatus_all")
            or response.status in request.meta.get("handle_httpstatus_list", ())
        ):
            return response
        # Resolved as RedirectMiddleware resolves it, so the URL judged is the one it
        # would request.
        target = urljoin(request.url, safe_url_string(location.decode("latin-1")))
        try:
            self.policy.check_url(target)
        except NetworkGuardError as exc:
            raise GuardRefused(f"{exc} (redirected from {request.url})") from None
        return response

    def process_exception(self, request: Request, exception: Exception) -> None:
        """Replace the "no results for hostname lookup" of a host the resolver refused
        by why it refused it."""
        if not isinstance(exception, CannotResolveHostError | DNSLookupError):
            return
        # Imported when used: importing it before Scrapy has installed the asyncio
        # reactor would install Twisted's default one.
        from twisted.internet import reactor

        resolver = getattr(reactor, "resolver", None)
        if not isinstance(resolver, GuardedResolver):
            return
        host = urlsplit(request.url).hostname or ""
        refusal = resolver.refusal(host)
        if refusal is not None:
            raise AddressChangedError(host, refusal) from exception

    async def _resolution_problem(self, host: str) -> NetworkGuardError | None:
        """Why ``host`` may not be fetched (unresolvable or refused), or None; cached."""
        cached = self._verdicts.get(host)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        try:
            await asyncio.to_thread(self.policy.resolve, host)
            problem = None
        except NetworkGuardError as exc:
            problem = exc
        self._verdicts[host] = (time.monotonic() + DNS_CACHE_SECONDS, problem)
        return problem


@implementer(IResolverSimple)
class GuardedResolver:
    """Resolves through the network policy: a host with any refused address fails."""

    def __init__(self, reactor: Any, policy: NetworkPolicy) -> None:
        self.reactor = reactor
        self.policy = policy
        self._cache: dict[str, tuple[float, str]] = {}
        # Why a name was refused lately; Twisted passes on only "no results".
        self._refusals: dict[str, tuple[float, str]] = {}

    def install_on_reactor(self) -> None:
        self.reactor.installResolver(self)

    def getHostByName(self, name: str, timeout: Any = ()) -> Deferred[str]:
        cached = self._cache.get(name)
        if cached and cached[0] > time.monotonic():
            return succeed(cached[1])
        deferred = deferToThreadPool(
            self.reactor, self.reactor.getThreadPool(), self.policy.resolve, name
        )
        return deferred.addCallbacks(
            self._remember, self._refuse, callbackArgs=(name,), errbackArgs=(name,)
        )

    def refusal(self, name: str) -> str | None:
        """Why ``name`` was last refused, if that was within :data:`DNS_CACHE_SECONDS`
        and it has not resolved to allowed addresses since."""
        refused = self._refusals.get(name.lower())
        return refused[1] if refused and refused[0] > time.monotonic() else None

    def _refuse(self, failure: Any, name: str) -> Any:
        # Twisted logs any other failure type with a traceback; this one it expects.
        if failure.check(NetworkGuardError):
            if not failure.check(ResolutionError):
                refusal = str(failure.value)
                self._refusals[name.lower()] = (time.monotonic() + DNS_CACHE_SECONDS, refusal)
            raise DNSLookupError(str(failure.value))
        return failure

    def _remember(self, addresses: list[str], name: str) -> str:
        # Prefer IPv4: loopback test servers and most news sites listen there.
        chosen = next((a for a in addresses if ":" not in a), addresses[0])
        self._cache[name] = (time.monotonic() + DNS_CACHE_SECONDS, chosen)
        self._refusals.pop(name.lower(), None)
        return chosen
