"""News sitemaps and sitemap indexes as entries.

A news sitemap (``<urlset>`` with the Google News ``news:`` namespace) lists recent
articles with their title and publication date: as good as a feed, and often the only
machine-readable list an Arabic outlet publishes. A plain sitemap gives URLs and
``lastmod``. A ``<sitemapindex>`` lists sitemaps: the newest few are polled as children.

Parsing is lxml with entity expansion, DTD loading and network access off (a sitemap
is untrusted input), after :mod:`crawler.doctype` has refused any DOCTYPE declaring
entities; gzip bodies are inflated up to a cap. Titles keep no bidi controls.
"""

from __future__ import annotations

import gzip
import io
import zlib
from datetime import UTC, datetime
from typing import TypedDict
from urllib.parse import urljoin

from lxml import etree

from crawler.charset import remove_bidi_controls
from crawler.doctype import refuse_entity_declarations
from crawler.items import FeedEntry, ParsedFeed
from monitor.errors import SourceError

MAX_INFLATED = 50 * 1024 * 1024
MAX_CHILDREN = 3
# The newest entries kept from one sitemap (news sitemaps hold two days, plain ones
# can list every URL a site ever had).
MAX_ENTRIES = 1000
_UNDATED = datetime.min.replace(tzinfo=UTC)
_NEWS = "{http://www.google.com/schemas/sitemap-news/0.9}"


class _ParserOptions(TypedDict):
    """lxml's options, typed for its stubs: iterparse and XMLParser take the same."""

    resolve_entities: bool
    no_network: bool
    load_dtd: bool
    recover: bool


_PARSER_OPTIONS: _ParserOptions = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "recover": True,
}


class SitemapError(SourceError):
    """A sitemap body could not be read; the message says why."""


def inflate(body: bytes) -> bytes:
    """The body, gunzipped if it is gzip (a ``.xml.gz`` sitemap), within the cap."""
    if not body.startswith(b"\x1f\x8b"):
        return body
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(body)) as stream:
            data = stream.read(MAX_INFLATED + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise SitemapError(f"broken gzip body: {exc}") from None
    if len(data) > MAX_INFLATED:
        raise SitemapError(f"gzip body inflates past {MAX_INFLATED // (1024 * 1024)} MiB")
    return data


def root_name(body: bytes) -> str | None:
    """The local name of the XML root element, or None if the body is not XML.

    Raises :class:`~crawler.doctype.EntityDeclarationError` for a DOCTYPE declaring
    entities, as :func:`parse_sitemap` does.
    """
    refuse_entity_declarations(body)
    try:
        for _event, element in etree.iterparse(
            io.BytesIO(body[:65536]), events=("start",), **_PARSER_OPTIONS
        ):
            return etree.QName(element).localname
    except etree.XMLSyntaxError:
        return None
    return None


def parse_sitemap(body: bytes, *, url: str) -> ParsedFeed:
    """Entries of a urlset, or the child sitemaps of an index (``children``)."""
    refuse_entity_declarations(body)
    try:
        root = etree.fromstring(body, etree.XMLParser(**_PARSER_OPTIONS))
    except etree.XMLSyntaxError as exc:
        raise SitemapError(f"malformed sitemap: {exc}") from None
    if root is None:
        raise SitemapError("empty sitemap")
    kind = etree.QName(root).localname
    if kind == "sitemapindex":
        children = sorted(
            (
                (_text(node, "lastmod") or "", urljoin(url, _text(node, "loc") or ""))
                for node in root
                if isinstance(node.tag, str) and etree.QName(node).localname == "sitemap"
            ),
            reverse=True,
        )
        found = [loc for _lastmod, loc in children if loc.startswith(("http://", "https://"))]
        return ParsedFeed(
            title=None, entries=[], version="sitemapindex", children=found[:MAX_CHILDREN]
        )
    if kind != "urlset":
        raise SitemapError(f"not a sitemap: the XML root is <{kind}>")
    entries = []
    for node in root:
        if not isinstance(node.tag, str) or etree.QName(node).localname != "url":
            continue
        loc = (_text(node, "loc") or "").strip()
        link = urljoin(url, loc)
        if not link.startswith(("http://", "https://")):
            continue
        news = node.find(f"{_NEWS}news")
        title = (news.findtext(f"{_NEWS}title") or "") if news is not None else ""
        published = news.findtext(f"{_NEWS}publication_date") if news is not None else None
        entries.append(
            FeedEntry(
                url=link,
                guid=None,
                title=remove_bidi_controls(title).strip(),
                summary="",
                published_at=_date(published or _text(node, "lastmod")),
            )
        )
    # Newest first, as feeds are: an outlet's sitemap may list thousands of old URLs.
    entries.sort(key=lambda entry: entry.published_at or _UNDATED, reverse=True)
    return ParsedFeed(title=None, entries=entries[:MAX_ENTRIES], version="sitemap")


def _text(node: etree._Element, name: str) -> str | None:
    for child in node:
        if isinstance(child.tag, str) and etree.QName(child).localname == name:
            return (child.text or "").strip()
    return None


def _date(value: str | None) -> datetime | None:
    """W3C datetime (2024-01-04, 2024-01-04T10:00:00+03:00, ...Z) in UTC."""
    if not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
