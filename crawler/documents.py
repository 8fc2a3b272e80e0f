"""What a source's URL serves, turned into entries: feed, sitemap or listing page.

``kind = "auto"`` looks at the body: a sitemap's XML root (``urlset``,
``sitemapindex``), else a feed (RSS 0.9x/1.0/2.0, Atom, JSON Feed). ``kind = "html"``
reads a listing page with the source's ``links`` selector. Gzip bodies (``.xml.gz``
sitemaps) are inflated first. A document whose DOCTYPE declares entities is refused
whatever its kind (:mod:`crawler.doctype`), before anything guesses what it is.
"""

from __future__ import annotations

from crawler.charset import charset_from_content_type
from crawler.doctype import refuse_entity_declarations
from crawler.feed_parser import parse_feed
from crawler.items import ParsedFeed
from crawler.listing import parse_listing
from crawler.sitemap import SitemapError, inflate, parse_sitemap, root_name

SITEMAP_ROOTS = ("urlset", "sitemapindex")


def parse_document(
    body: bytes,
    *,
    url: str,
    content_type: str | None = None,
    kind: str = "auto",
    links: str | None = None,
) -> ParsedFeed:
    """Entries of whatever the source serves; a SourceError says why there are none."""
    if kind == "html" and links:
        return parse_listing(body, url=url, content_type=content_type, selector=links)
    body = inflate(body)
    refuse_entity_declarations(body, charset=charset_from_content_type(content_type))
    if kind in ("auto", "sitemap"):
        root = root_name(body) if body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<" else None
        if root in SITEMAP_ROOTS:
            return parse_sitemap(body, url=url)
        if kind == "sitemap":
            found = f"<{root}>" if root else "no XML"
            raise SitemapError(f"not a sitemap: expected <urlset> or <sitemapindex>, found {found}")
    return parse_feed(body, url=url, content_type=content_type)
