"""HTML listing pages: article links picked out by a per-source CSS or XPath selector.

Some outlets publish no feed and no sitemap; their section page ("آخر الأخبار") is the
list. ``links`` in settings.toml selects the article links on it: a CSS selector
(``"h3.title a"``) or, when it starts with ``/`` or ``(``, an XPath expression
(``"//div[@class='news']//a"``). The anchor's text becomes the entry's title; the
article page is then fetched and extracted like any feed entry's. A page whose DOCTYPE
declares entities is refused before it is parsed (:mod:`crawler.doctype`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urljoin

from cssselect import SelectorError
from lxml.etree import XPathError
from parsel import Selector
from parsel.csstranslator import HTMLTranslator

from crawler.charset import decode_html, remove_bidi_controls
from crawler.doctype import refuse_entity_declarations
from crawler.items import FeedEntry, ParsedFeed
from monitor.errors import SourceError

if TYPE_CHECKING:
    from monitor.config import Settings

MAX_LINKS = 200


class ListingError(SourceError):
    """A listing page gave no article links; the message says why."""


def is_xpath(selector: str) -> bool:
    return selector.lstrip().startswith(("/", "("))


def check_selector(selector: str) -> None:
    """Raise ValueError with the reason when ``selector`` is not valid CSS or XPath."""
    probe = Selector(text="<html></html>")
    try:
        if is_xpath(selector):
            probe.xpath(selector)
        else:
            HTMLTranslator().css_to_xpath(selector)
    except (ValueError, SelectorError, XPathError) as exc:
        kind = "XPath" if is_xpath(selector) else "CSS selector"
        raise ValueError(f"invalid {kind} {selector!r}: {exc}") from None


def check_selectors(settings: Settings) -> None:
    """Refuse, naming the key, a listing source whose ``links`` is not valid CSS or XPath:
    the crawler checks its own keys when it is built, before any poll."""
    for source in settings.sources:
        if source.links is not None:
            try:
                check_selector(source.links)
            except ValueError as exc:
                raise settings.key_error("sources", source, "links", str(exc)) from None


def parse_listing(body: bytes, *, url: str, content_type: str | None, selector: str) -> ParsedFeed:
    """The article links the selector picks on the page, in page order, each once."""
    text, encoding = decode_html(body, content_type)
    # The decoded text, not the bytes: it is exactly what the HTML parser is given.
    refuse_entity_declarations(text)
    page = Selector(text=text, base_url=url)
    nodes = page.xpath(selector) if is_xpath(selector) else page.css(selector)
    entries: list[FeedEntry] = []
    seen: set[str] = set()
    for node in nodes:
        href = node.attrib.get("href") if hasattr(node, "attrib") else None
        if href is None:  # a container was selected: take the first link inside it
            href = node.xpath(".//a/@href").get()
        if not href:
            continue
        link = urljoin(url, href.strip()).split("#", 1)[0]
        if not link.startswith(("http://", "https://")) or link in seen:
            continue
        seen.add(link)
        title = " ".join(remove_bidi_controls(" ".join(node.xpath(".//text()").getall())).split())
        entries.append(FeedEntry(url=link, guid=None, title=title, summary=""))
        if len(entries) >= MAX_LINKS:
            break
    if not entries:
        raise ListingError(
            f"the links selector {selector!r} matched no article links on this page; "
            "check it against the page's HTML"
        )
    page_title = page.css("title::text").get()
    return ParsedFeed(
        title=remove_bidi_controls(page_title) if page_title else None,
        entries=entries,
        encoding=encoding,
    )
