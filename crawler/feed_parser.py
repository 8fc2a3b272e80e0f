"""Feed bodies (RSS 0.9x/1.0/2.0, Atom, JSON Feed) into clean :class:`ParsedFeed` entries.

Every body gives a :class:`ParsedFeed` (possibly empty, possibly with warnings) or a
:class:`FeedParseError` saying what is wrong. Entries are plain text — even where
feedparser leaves a ``text/plain`` title like ``<img src=x onerror=…>`` untouched — links
absolute http(s) or None, dates aware UTC. feedparser's ``bozo`` is not fatal: what it
recovered from broken XML is kept, the error becomes a warning. Charsets are checked
after parsing, because feedparser reads undeclared windows-1256 as windows-1252 and
trusts a wrong declaration (``Euro â‚¬``); then :mod:`crawler.charset` decodes the
bytes and feedparser parses the repaired text. A feed whose DOCTYPE declares entities
never reaches feedparser (:mod:`crawler.doctype`), and no text keeps a bidi control
that could reorder an alert.
"""

from __future__ import annotations

import io
import json
import re
import time
import xml.sax
from datetime import UTC, datetime
from html import unescape
from typing import Any
from urllib.parse import urljoin, urlsplit

from crawler.charset import (
    charset_from_content_type,
    decode_document,
    decode_html,
    looks_like_mojibake,
    normalize_encoding,
    remove_bidi_controls,
    xml_declared_encoding,
)
from crawler.doctype import refuse_entity_declarations
from crawler.extract import html_to_text
from crawler.items import FeedEntry, ParsedFeed
from monitor.errors import SourceError

_HTML_START = re.compile(
    rb"\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*(?:<!doctype\s+html|<(?:html|head|body)[\s>])",
    re.I | re.S,
)
_TAG_SHAPED = re.compile(r"<[A-Za-z!/][^<>]*>")
_XML_ENCODING_ATTRIBUTE = re.compile(r"""^(\s*<\?xml[^>]*?encoding\s*=\s*)(["'])[^"']*\2""")
_LINK_TAG = re.compile(r"<link\b[^>]*>", re.I)
_ATTRIBUTE = re.compile(r"""([A-Za-z_:][-\w:.]*)\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+)""")
_EMAIL_THEN_NAME = re.compile(r"^\s*[^\s()@]+@[^\s()]+\s*\((?P<name>[^()]+)\)\s*$")
_NAME_THEN_EMAIL = re.compile(r"^\s*(?P<name>[^()]+?)\s*\([^\s()@]+@[^\s()]+\)\s*$")
_FEED_TYPES = {"application/rss+xml", "application/atom+xml", "application/feed+json"}
_EDGE_FORMAT_CHARS = "\u200e\u200f\ufeff"
_MOJIBAKE_SAMPLE = 20


class FeedParseError(SourceError):
    """A feed body could not be turned into entries; the message says why."""


def parse_feed(body: bytes, *, url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse a fetched feed body; ``url`` (after redirects) resolves relative links.

    feedparser never fetches anything here: it gets the bytes and the response headers.
    Raises :class:`~crawler.doctype.EntityDeclarationError` for a DOCTYPE that declares
    entities (feedparser honours the header's charset too, so the check reads it).
    """
    refuse_entity_declarations(body, charset=charset_from_content_type(content_type))
    head = body[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        raise FeedParseError("empty response: the body holds no feed")
    if head.startswith(b"{"):
        return _parse_json_feed(body, url)
    if _HTML_START.match(head):
        raise FeedParseError(_not_a_feed_message(body, content_type, url))

    warnings: list[str] = []
    result, encoding = _parse_xml(body, url, content_type, warnings)
    error = result.get("bozo_exception")
    if isinstance(error, xml.sax.SAXException):
        if not result.entries:
            raise FeedParseError(f"malformed feed: {_describe(error)}; no entries")
        warnings.append(f"malformed feed (entries recovered): {_describe(error)}")
    if not result.entries and not result.get("version"):
        raise FeedParseError("not a feed: no RSS, Atom or JSON Feed document in the response")

    entries = [_entry(raw, url, warnings) for raw in result.entries]
    return ParsedFeed(
        title=_text(result.feed.get("title_detail")) or None,
        entries=entries,
        warnings=warnings,
        encoding=encoding,
        version=result.get("version") or None,
    )


def _parse_xml(
    body: bytes, url: str, content_type: str | None, warnings: list[str]
) -> tuple[Any, str | None]:
    """feedparser on the bytes, then a second parse of re-decoded text when the charset
    it settled on is doubtful. Returns the result and the encoding really used."""
    header_charset = charset_from_content_type(content_type)
    # Always an XML media type for feedparser: a bare text/xml would make it assume
    # us-ascii and ignore the XML declaration (RFC 3023), which real servers never mean.
    media_type = "application/xml" + (f"; charset={header_charset}" if header_charset else "")
    result = _feedparser(body, url, media_type)
    from feedparser.exceptions import CharacterEncodingOverride, CharacterEncodingUnknown

    used = normalize_encoding(result.get("encoding"))
    expected = normalize_encoding(header_charset or xml_declared_encoding(body)) or "utf-8"

    doubtful = (
        isinstance(
            result.get("bozo_exception"), CharacterEncodingOverride | CharacterEncodingUnknown
        )
        or used != expected
        or _mojibake_in(result)
        # Non-ASCII bytes that are valid UTF-8 are UTF-8, whatever the declaration says.
        or (expected != "utf-8" and not body.isascii() and _is_utf8(body))
    )
    if not doubtful:
        return result, used
    decoded = decode_document(body, content_type, markup="xml")
    declared = f"declared {decoded.declared}" if decoded.declared else "not declared"
    if decoded.encoding != used:
        # Read in another encoding, the bytes are another document: checked again.
        refuse_entity_declarations(decoded.text)
        text = _XML_ENCODING_ATTRIBUTE.sub(r"\1\2utf-8\2", decoded.text.lstrip("\ufeff"), count=1)
        result = _feedparser(text.encode("utf-8"), url, "application/xml; charset=utf-8")
    if decoded.overridden:
        warnings.append(f"charset: {declared}, decoded as {decoded.encoding}")
    if decoded.replacements:
        warnings.append(f"charset: {decoded.replacements} invalid byte sequence(s) replaced")
    if decoded.mojibake or _mojibake_in(result):
        warnings.append(
            f"charset: the text looks like mojibake ({declared}, "
            f"decoded as {decoded.encoding}); check the source's encoding"
        )
    return result, decoded.encoding


def _feedparser(data: bytes, url: str, media_type: str) -> Any:
    # A BytesIO, not the bytes: given bytes that happen to name a local file,
    # feedparser opens and parses that file. Its HTML sanitizer and URI resolver are off
    # (a quarter of its time on a 50-item feed): every text field becomes plain text in
    # _plain_text (tags, scripts and styles dropped), and links are resolved by _link.
    # Nor is it told the feed's URL: it would join every link-like element with it (a
    # quarter of what is left, docs/benchmarks.md), which _link does for the links kept.
    # Imported here, by the first feed parsed: a run whose feeds are unchanged needs none.
    import feedparser

    try:
        return feedparser.parse(
            io.BytesIO(data),
            response_headers={"content-type": media_type},
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:
        # Broken input reaches unguarded code in feedparser: the XML declaration's label
        # decoded as UTF-8 (UnicodeDecodeError), the loose parser's <image><height>
        # (TypeError). A crash on a source's bytes is that source's error, not ours.
        raise FeedParseError(
            f"malformed feed: feedparser failed on it ({type(exc).__name__}: {exc})"
        ) from exc


def _mojibake_in(result: Any) -> bool:
    sample = [result.feed.get("title", "")]
    for raw in result.entries[:_MOJIBAKE_SAMPLE]:
        sample.append(raw.get("title", ""))
        sample.append(raw.get("summary", "")[:500])
    return looks_like_mojibake(" ".join(part for part in sample if isinstance(part, str)))


def _describe(error: Exception) -> str:
    if isinstance(error, xml.sax.SAXParseException):
        return (
            f"{error.getMessage()} at line {error.getLineNumber()}, "
            f"column {error.getColumnNumber()}"
        )
    return str(error)


def _entry(raw: Any, feed_url: str, warnings: list[str]) -> FeedEntry:
    title = _text(raw.get("title_detail"))
    summary = _text(raw.get("summary_detail"))
    content = ""
    if raw.get("content"):
        full = raw.content[0]
        if not summary:
            summary = _text(full)
        elif full.get("value") != raw.get("summary_detail", {}).get("value"):
            content = _text(full)
    # Only "updated_parsed" that is really there: feedparser otherwise maps it to
    # published_parsed with a DeprecationWarning.
    parsed = raw.get("published_parsed") or (
        raw.get("updated_parsed") if "updated_parsed" in raw else None
    )
    return FeedEntry(
        url=_link(raw.get("link"), feed_url, title, warnings),
        guid=(raw.get("id") or "").strip() or None,
        title=title,
        summary=summary,
        author=_author(raw.get("author")),
        published_at=_utc(parsed),
        content=content,
    )


def _author(value: Any) -> str | None:
    """The author's name out of RSS's "email (Name)" or feedparser's Atom "Name (email)".

    Not feedparser's ``author_detail``: its e-mail pattern stops at a four-letter TLD,
    so "desk@news.example (مكتب دمشق)" comes out as the name "ple (مكتب دمشق".
    """
    if not isinstance(value, str):
        return None
    match = _EMAIL_THEN_NAME.match(value) or _NAME_THEN_EMAIL.match(value)
    return _plain_text(match.group("name") if match else value, html=False) or None


def _plain(value: Any) -> str:
    return _plain_text(value, html=False) if isinstance(value, str) else ""


def _text(detail: Any) -> str:
    """Plain text of a feedparser text construct (a dict with ``type`` and ``value``)."""
    if not detail or not isinstance(detail.get("value"), str):
        return ""
    kind = detail.get("type") or "text/plain"
    return _plain_text(detail["value"], html="html" in kind)


def _plain_text(value: str, *, html: bool) -> str:
    """Markup to text for HTML; plain text is kept verbatim unless it holds tag-shaped
    markup, which RSS publishers routinely send in titles typed as plain text. Bidi
    controls go wherever they are; direction marks only at the edges."""
    if html or _TAG_SHAPED.search(value):
        value = html_to_text(value)
    value = remove_bidi_controls(value)
    return " ".join(value.split()).strip(_EDGE_FORMAT_CHARS + " ")


def _link(raw: Any, base: str, title: str, warnings: list[str]) -> str | None:
    if not isinstance(raw, str) or not raw.strip():
        return None
    absolute = raw.strip()
    try:
        absolute = urljoin(base, absolute)
        parts = urlsplit(absolute)
        if parts.scheme in ("http", "https") and parts.hostname:
            return absolute
    except ValueError:  # an unbalanced IPv6 bracket, a bad port
        pass
    warnings.append(f"entry {title[:60]!r}: link {absolute[:80]!r} is not http(s); dropped")
    return None


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _utc(parsed: time.struct_time | None) -> datetime | None:
    if not parsed:
        return None
    try:
        return datetime(*parsed[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _parse_json_feed(body: bytes, url: str) -> ParsedFeed:
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FeedParseError(f"malformed JSON feed: {exc}") from exc
    version = document.get("version") if isinstance(document, dict) else None
    if not isinstance(version, str) or not version.startswith("https://jsonfeed.org/version/"):
        raise FeedParseError("not a feed: a JSON document without a JSON Feed version")
    items = document.get("items", [])
    if not isinstance(items, list):
        raise FeedParseError("malformed JSON feed: 'items' is not a list")
    warnings: list[str] = []
    entries = [_json_entry(item, url, warnings) for item in items if isinstance(item, dict)]
    if len(entries) < len(items):
        warnings.append(f"JSON feed: {len(items) - len(entries)} items are not objects; skipped")
    return ParsedFeed(
        title=_plain(document.get("title")) or None,
        entries=entries,
        warnings=warnings,
        encoding="utf-8",
        version="json" + version.rsplit("/", 1)[-1].replace(".", ""),
    )


def _json_entry(item: dict[str, Any], feed_url: str, warnings: list[str]) -> FeedEntry:
    field = {key: value for key, value in item.items() if isinstance(value, str)}
    title = _plain_text(field.get("title", ""), html=False)
    summary = _plain_text(field.get("summary") or field.get("content_text", ""), html=False)
    summary = summary or _plain_text(field.get("content_html", ""), html=True)
    authors = item.get("authors") or [item.get("author")]  # 1.1 has a list, 1.0 one
    first = authors[0] if isinstance(authors, list) and authors else None
    identifier = item.get("id")
    guid = str(identifier).strip() if isinstance(identifier, str | int) else ""
    return FeedEntry(
        url=_link(field.get("url") or field.get("external_url"), feed_url, title, warnings),
        guid=guid or None,
        title=title,
        summary=summary,
        author=_author(first.get("name") if isinstance(first, dict) else None),
        published_at=_iso_utc(field.get("date_published") or field.get("date_modified", "")),
    )


def _iso_utc(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _not_a_feed_message(body: bytes, content_type: str | None, url: str) -> str:
    served = f" (served as {content_type})" if content_type else ""
    message = f"not a feed: the response is an HTML page{served}"
    text, _encoding = decode_html(body[:65536], content_type)
    feeds: list[str] = []
    for tag in _LINK_TAG.findall(text):
        attributes = {name.lower(): value.strip("\"'") for name, value in _ATTRIBUTE.findall(tag)}
        rel = attributes.get("rel", "").lower().split()
        if "alternate" in rel and attributes.get("type", "").lower() in _FEED_TYPES:
            href = attributes.get("href", "").strip()
            if href:
                feeds.append(urljoin(url, unescape(href)))
    if feeds:
        return f"{message}; it advertises feeds at {', '.join(dict.fromkeys(feeds))}"
    return (
        f'{message} and advertises no feed (<link rel="alternate" type="application/rss+xml">); '
        'to follow its article links instead, set kind = "html" and links = "<CSS selector>"'
    )
