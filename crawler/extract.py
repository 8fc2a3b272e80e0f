"""Text out of HTML: the article in an article page (main text, title, author, date,
language), and the text of small fragments such as feed summaries.

trafilatura does the work, tuned for precision (watchlists must not match a sidebar
headline or the comment form): no comments, no tables, no links, ``favor_precision``.
Its fast path runs first; the slower backup extractors (readability, jusText) run only
when the fast path finds no article, which keeps the common case near 10 ms per page.

Dates are htmldate's reading of the page's *markup* only (no free-text search): even
so it guesses wrong on some pages, which is why the spider prefers the feed's date.

A page whose DOCTYPE declares entities is refused before any parser reads it
(:mod:`crawler.doctype`); titles, authors and text keep no bidi controls. trafilatura is
imported by the first page extracted: a run that finds nothing new never pays for it
(docs/benchmarks.md).
"""

from __future__ import annotations

import html as html_entities
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import urlsplit

from crawler.charset import ARABIC_LETTER, remove_bidi_controls
from crawler.doctype import refuse_entity_declarations
from crawler.items import ExtractedPage

# Below this, the fast path is taken to have missed the article and the backup
# extractors get a turn.
MIN_FAST_TEXT = 200
_DATE_PARAMS = {
    "extensive_search": False,
    "original_date": True,
    "outputformat": "%Y-%m-%dT%H:%M:%S%z",
}

_HTML_LANG = re.compile(r"""<html\b[^>]*?\blang\s*=\s*["']?([A-Za-z]{2,3})\b""", re.I)
_META_LANG = re.compile(
    r"""<meta\b[^>]*?http-equiv\s*=\s*["']?content-language["']?[^>]*?"""
    r"""content\s*=\s*["']?([A-Za-z]{2,3})\b""",
    re.I,
)
# Numeric references that survived HTML parsing were escaped twice by the site
# (``&amp;#1575;``); Arabic text written that way is still text to match.
_LEFTOVER_NCR = re.compile(r"&#(?:[0-9]{2,7}|[xX][0-9a-fA-F]{2,6});")
_TITLE_ELEMENT = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.I | re.S)
# How trafilatura splits a ``<title>`` (trafilatura.metadata.HTMLTITLE_REGEX).
_TRAFILATURA_TITLE_SPLIT = re.compile(r"^(.+)?\s+[–•·—|⁄*⋆~‹«<›»>:-]\s+(.+)$")
_TITLE_SEPARATOR = re.compile(r"\s+(?:[|\-–—•·»«/]{1,2}|::)\s+")
_DOMAIN_LIKE = re.compile(r"\.(?:com|net|org|info|news|tv|fm|[a-z]{2})\b", re.I)
_GENERIC_HOST_LABELS = {"www", "m", "ar", "en", "fr", "news", "com", "net", "org", "co", "gov"}
_EDGE_FORMAT_CHARS = "\u200e\u200f\ufeff"
# Letters of Persian and Urdu, not of Arabic: Arabic script alone does not mean Arabic.
_NON_ARABIC_LETTER = re.compile(
    "[\u067e\u0686\u0698\u06a9\u06af\u06cc\u0679\u0688\u0691\u06ba\u06d2\u06be]"
)


def extract_article(html: str, *, url: str, metadata: bool = True) -> ExtractedPage:
    """Extract the article from a decoded HTML page fetched from ``url``.

    Never raises for a page it cannot read: an empty or article-less page gives an
    :class:`ExtractedPage` with empty ``text`` (and whatever metadata was found), so the
    caller falls back to the feed's summary. A page it refuses to read, one whose
    DOCTYPE declares entities, raises :class:`~crawler.doctype.EntityDeclarationError`.

    ``metadata=False`` skips author and date (about half the time per page: trafilatura's
    author search is slow) for callers whose feed already gave them; the title then
    comes from ``<title>``.
    """
    refuse_entity_declarations(html)
    if not html.strip():
        return ExtractedPage(title=None, text="")
    document = _extract(html, url, fast=True, metadata=metadata)
    if document is None or len(document.text or "") < MIN_FAST_TEXT:
        fuller = _extract(html, url, fast=False, metadata=metadata)
        if fuller is not None and len(fuller.text or "") > len(document.text if document else ""):
            document = fuller
    if document is None:
        # No article, but the page's title and date may still serve the caller.
        from trafilatura import extract_metadata

        document = extract_metadata(html, default_url=url, date_config=dict(_DATE_PARAMS))
    text = _clean_text(document.text or "")
    return ExtractedPage(
        title=_clean_title(document.title, document.sitename, html, url),
        text=text,
        author=_clean_line(document.author) or None,
        published_at=_utc(document.date),
        language=_language(html, text),
    )


def html_to_text(fragment: str) -> str:
    """Text of a small HTML fragment (a feed summary, an HTML-typed title): tags dropped,
    script and style content dropped, entities decoded, a space at block boundaries so
    paragraphs do not run together. Not for whole pages: that is :func:`extract_article`.
    """
    collector = _TextCollector()
    collector.feed(fragment)
    collector.close()
    return "".join(collector.parts)


class _TextCollector(HTMLParser):
    _SKIP = frozenset({"script", "style", "template", "noscript"})
    _BLOCK = re.compile(r"p|br|div|li|[uo]l|h[1-6]|t[rdh]|table|blockquote|section|article|hr|pre")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif self._BLOCK.fullmatch(tag):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif self._BLOCK.fullmatch(tag):
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _extract(html: str, url: str, *, fast: bool, metadata: bool):
    from trafilatura import bare_extraction

    return bare_extraction(
        html,
        url=url,
        fast=fast,
        favor_precision=True,
        include_comments=False,
        include_tables=False,
        include_links=False,
        include_images=False,
        with_metadata=metadata,
        date_extraction_params=dict(_DATE_PARAMS),
    )


def _clean_text(text: str) -> str:
    text = _LEFTOVER_NCR.sub(lambda match: html_entities.unescape(match.group()), text)
    text = remove_bidi_controls(text)
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _clean_line(value: str | None) -> str:
    if not value:
        return ""
    value = _LEFTOVER_NCR.sub(lambda match: html_entities.unescape(match.group()), value)
    value = remove_bidi_controls(value)
    return " ".join(value.split()).strip(_EDGE_FORMAT_CHARS + " ")


def _clean_title(title: str | None, sitename: str | None, html: str, url: str) -> str | None:
    """The headline without a trailing site name (`` - CNNArabic.com``, `` | Assabah``).

    trafilatura, when it falls back to ``<title>``, keeps the part before the last
    separator — which cuts Arabic headlines that use `` - `` or `` : `` themselves. So
    when its title is such a piece of ``<title>``, start again from the whole ``<title>``
    and drop only segments that name the site.
    """
    title = _clean_line(title)
    raw = _raw_title(html)
    split = _TRAFILATURA_TITLE_SPLIT.match(raw)
    if not title or (split and title in (_clean_line(split.group(1)), _clean_line(split.group(2)))):
        title = raw
    if not title:
        return None
    names = {_squash(sitename or "")} | {
        label
        for label in (urlsplit(url).hostname or "").split(".")[:-1]
        if len(label) > 2 and label not in _GENERIC_HOST_LABELS
    }
    names.discard("")
    for _ in range(2):
        separators = list(_TITLE_SEPARATOR.finditer(title))
        if not separators:
            break
        last = separators[-1]
        head, tail = title[: last.start()].strip(), title[last.end() :].strip()
        # " | " almost never occurs inside a headline; " - " often does in Arabic ones.
        short_after_bar = last.group().strip() == "|" and len(tail.split()) <= 4
        if not head or not (short_after_bar or _names_site(tail, names)):
            break
        title = head
    return title


def _raw_title(html: str) -> str:
    match = _TITLE_ELEMENT.search(html, 0, 100_000)
    return _clean_line(html_entities.unescape(match.group(1))) if match else ""


def _names_site(segment: str, names: set[str]) -> bool:
    squashed = _squash(segment)
    if not squashed:
        return False
    if _DOMAIN_LIKE.search(segment) and " " not in segment.strip():
        return True
    return any(name in squashed or (len(squashed) > 3 and squashed in name) for name in names)


def _squash(value: str) -> str:
    return re.sub(r"\W+", "", value.casefold())


def _utc(value: str | None) -> datetime | None:
    """htmldate's ISO date as aware UTC; a date without a time is midnight UTC."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _language(html: str, text: str) -> str | None:
    """The page's declared language, else "ar" when the text is plainly Arabic."""
    head = html[:8192]
    match = _HTML_LANG.search(head) or _META_LANG.search(head)
    if match:
        return match.group(1).lower()
    letters = sum(1 for char in text if char.isalpha())
    arabic = len(ARABIC_LETTER.findall(text))
    mostly_arabic = letters and arabic >= 0.6 * letters
    if mostly_arabic and len(_NON_ARABIC_LETTER.findall(text)) <= 0.02 * arabic:
        return "ar"
    return None
