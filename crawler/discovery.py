"""Finding a site's feeds from its home page, for ``rasid sources add https://site/``.

Candidates come from the page's ``<link rel="alternate">`` tags (RSS, Atom, JSON Feed),
the ``Sitemap:`` lines of its robots.txt, and the paths Arabic outlets commonly use
(/rss.xml, /feed, /sitemap_news.xml ...). Each candidate is fetched and parsed with the
same parsers the service uses, so only what really yields entries is offered.

This is a one-off, interactive fetch made by the operator's own command, so it uses the
guarded client alerts use (:mod:`monitor.guarded_http`) rather than the crawler: every
URL (and every redirect hop) is checked by the network policy, the connection goes only
to an address the policy vetted, the whole request has a deadline, bodies are read up
to the crawl size cap, and failures read as sentences.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin

from parsel import Selector

from crawler.charset import decode_html
from crawler.documents import parse_document
from monitor.errors import ConnectionFailed, NetworkGuardError, SourceError
from monitor.guarded_http import GuardedClient
from monitor.netguard import NetworkPolicy

COMMON_PATHS = (
    "/rss.xml",
    "/rss",
    "/feed",
    "/feed.xml",
    "/atom.xml",
    "/index.xml",
    "/feeds/rss.xml",
    "/sitemap_news.xml",
    "/news-sitemap.xml",
    "/sitemap-news.xml",
    "/sitemap.xml",
)
FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json")
MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class Candidate:
    """A URL that parsed as a feed or sitemap, and what it holds."""

    url: str
    kind: str  # "feed" or "sitemap"
    title: str | None
    entries: int
    newest: datetime | None
    found_by: str


@dataclass(frozen=True)
class Fetched:
    url: str
    status: int
    content_type: str | None
    body: bytes


class Fetcher:
    """GETs within the network policy, the size cap and the deadline, following
    redirects one checked hop at a time."""

    def __init__(
        self, policy: NetworkPolicy, *, timeout: float, max_bytes: int, user_agent: str
    ) -> None:
        self._client = GuardedClient(
            policy, timeout=timeout, max_response_bytes=max_bytes, user_agent=user_agent
        )

    def get(self, url: str) -> Fetched:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                reply = self._client.get(url)
            except ConnectionFailed as exc:
                raise SourceError(str(exc)) from None
            location = reply.headers.get("location")
            if reply.status in REDIRECTS and location:
                url = urljoin(url, location)
                continue
            if reply.truncated:
                raise SourceError(f"{url}: response larger than the size cap, or cut short")
            return Fetched(url, reply.status, reply.headers.get("content-type"), reply.content)
        raise SourceError(f"{url}: more than {MAX_REDIRECTS} redirects")

    def close(self) -> None:
        self._client.close()


def discover(
    url: str, fetcher: Fetcher, *, progress: Callable[[str], None] | None = None
) -> tuple[Candidate | None, list[Candidate]]:
    """``(the URL itself if it is a feed or sitemap, else None; candidates found)``.

    The URL itself is returned even when it holds no entry (``entries == 0``): whoever
    gave a feed's own URL must hear that it is empty, not be shown the site's others.
    """
    page = fetcher.get(url)
    if page.status >= 400:
        raise SourceError(f"{page.url}: HTTP {page.status}")
    itself = _candidate(page, "the URL itself", keep_empty=True)
    if itself is not None:
        return itself, []
    text, _encoding = decode_html(page.body, page.content_type)
    proposals: dict[str, str] = {}
    for href in _advertised(text, page.url):
        proposals.setdefault(href, 'a <link rel="alternate"> on the page')
    for sitemap in _robots_sitemaps(page.url, fetcher):
        proposals.setdefault(sitemap, "robots.txt")
    for path in COMMON_PATHS:
        proposals.setdefault(urljoin(page.url, path), "a common path")
    found: list[Candidate] = []
    for candidate_url, found_by in proposals.items():
        if progress:
            progress(candidate_url)
        try:
            fetched = fetcher.get(candidate_url)
        except (SourceError, NetworkGuardError):
            continue
        if fetched.status >= 400 or any(c.url == fetched.url for c in found):
            continue
        candidate = _candidate(fetched, found_by)
        if candidate is not None:
            found.append(candidate)
    found.sort(key=lambda c: (c.kind != "feed", -c.entries))
    return None, found


def _candidate(fetched: Fetched, found_by: str, *, keep_empty: bool = False) -> Candidate | None:
    try:
        parsed = parse_document(fetched.body, url=fetched.url, content_type=fetched.content_type)
    except SourceError:
        return None
    if not parsed.entries and not parsed.children and not keep_empty:
        return None
    kind = "sitemap" if parsed.version in ("sitemap", "sitemapindex") else "feed"
    dates = [entry.published_at for entry in parsed.entries if entry.published_at]
    return Candidate(
        url=fetched.url,
        kind=kind,
        title=parsed.title,
        entries=len(parsed.entries) or len(parsed.children),
        newest=max(dates) if dates else None,
        found_by=found_by,
    )


def _advertised(html: str, base: str) -> list[str]:
    page = Selector(text=html, base_url=base)
    found = []
    for link in page.xpath("//link[@href]"):
        rel = (link.attrib.get("rel") or "").lower().split()
        kind = (link.attrib.get("type") or "").lower().split(";")[0].strip()
        if "alternate" in rel and kind in FEED_TYPES:
            found.append(urljoin(base, link.attrib["href"].strip()))
    return found


def _robots_sitemaps(base: str, fetcher: Fetcher) -> list[str]:
    try:
        robots = fetcher.get(urljoin(base, "/robots.txt"))
    except (SourceError, NetworkGuardError):
        return []
    if robots.status >= 400:
        return []
    lines = robots.body.decode("utf-8", errors="replace").splitlines()
    return [
        urljoin(base, line.split(":", 1)[1].strip())
        for line in lines
        if line.lower().startswith("sitemap:") and line.split(":", 1)[1].strip()
    ]
