"""What an alert says in Slack and on the console, rendered from its :class:`MatchEvent`.

The event (alerts/event.py) is the one contract every channel renders from; webhook
receivers get its JSON verbatim, documented field by field in docs/webhooks.md.

Every feed-derived string is hostile until proven otherwise. In Slack mrkdwn ``&``, ``<``
and ``>`` are escaped, so a title such as ``<!channel>`` or ``<https://evil|BBC>`` is
shown as text, never as a mention or a disguised link; only http(s) article URLs become
links. Slack's limits are respected (section text 3,000 characters, header 150, 50
blocks), cutting with "…". On the console, control characters are removed so a title
cannot drive the terminal.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

if TYPE_CHECKING:
    from alerts.event import MatchEvent

SECTION_LIMIT = 3000
HEADER_LIMIT = 150
CONTEXT_LIMIT = 2000
TITLE_LIMIT = 500
FALLBACK_LIMIT = 3000
MAX_BLOCKS = 50
ELLIPSIS = "…"

# Characters kept as they are when an article URL is put inside a Slack link; anything
# else (space, "|", "<", ">", quotes) is percent-encoded so it cannot end the link early.
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~-._"
# Shown instead of a link for an entry its feed gave no usable link (stored from the feed).
NO_LINK = "بلا رابط (no link in the feed)"


# -- Slack --------------------------------------------------------------------------


def slack_escape(text: str) -> str:
    """Make text inert in Slack mrkdwn: no mentions, links or entities of its own."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(event: MatchEvent) -> dict[str, Any]:
    """An incoming-webhook message: blocks, plus a plain ``text`` fallback for notifications.

    Layout: a header naming the watchlist, the linked title, source and time, the snippet
    with matched words in bold, and the matched queries.
    """
    article = event.article
    watchlist = event.watchlist
    title = article.title or article.url or ""
    source = article.source
    snippet = event.snippet
    hits = [hit.text for hit in event.highlights]

    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(f"رصد · {watchlist}", HEADER_LIMIT)},
        },
        _section(_title_line(title, article.url)),
    ]
    context = [f"المصدر: {slack_escape(source)}"] if source else []
    when = _slack_time(article.published_at)
    if when:
        context.append(when)
    context.append(f"القائمة: {slack_escape(watchlist)}")
    blocks.append(_context(context))
    if snippet:
        blocks.append(_section(_highlighted(snippet, hits, SECTION_LIMIT)))
    queries = list(dict.fromkeys(hit.query for hit in event.highlights))
    if any(queries):
        blocks.append(_context(["الكلمات: " + "، ".join(slack_escape(q) for q in queries if q)]))

    fallback = f"{watchlist}: {title}" + (f" ({source})" if source else "")
    return {"text": _cut_escaped(fallback, FALLBACK_LIMIT), "blocks": blocks[:MAX_BLOCKS]}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(texts: list[str]) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": _cut(text, CONTEXT_LIMIT)} for text in texts],
    }


def _title_line(title: str, url: str | None) -> str:
    text = _cut_escaped(title, TITLE_LIMIT)
    link = _slack_url(url)
    if link:
        return f"*<{link}|{text}>*"
    return f"*{text}*" + ("" if url else f" _{slack_escape(NO_LINK)}_")


def _slack_url(url: str | None) -> str | None:
    """An http(s) URL made safe inside ``<url|text>``; None for anything else."""
    if url is None or urlsplit(url).scheme.lower() not in ("http", "https"):
        return None
    return slack_escape(quote(url, safe=_URL_SAFE))


def _slack_time(moment: datetime | None) -> str | None:
    """Slack's date token, shown in each reader's own time zone; UTC text as fallback."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS


def _cut_escaped(text: str, limit: int) -> str:
    """Escape, then fit ``limit`` without splitting an entity such as ``&amp;``."""
    return _highlighted(text, [], limit)


def _highlighted(text: str, hits: list[str], limit: int) -> str:
    """Escaped mrkdwn with each hit (widened to whole words) in bold, within ``limit``.

    A cut never splits an entity such as ``&amp;`` and never leaves a bold span open.
    """
    pieces = _pieces(text, _word_spans(text, hits))
    if sum(len(piece) for piece, _ in pieces) <= limit:
        return "".join(piece for piece, _ in pieces)
    out: list[str] = []
    length = 0
    bold = False
    for piece, marker in pieces:
        bold_after = bold != marker
        if length + len(piece) + bold_after + len(ELLIPSIS) > limit:
            break
        out.append(piece)
        length += len(piece)
        bold = bold_after
    return "".join(out) + ("*" if bold else "") + ELLIPSIS


def _pieces(text: str, spans: list[tuple[int, int]]) -> list[tuple[str, bool]]:
    """Escaped characters and bold markers (flagged True): the units a cut falls between."""
    starts = {start for start, _ in spans}
    ends = {end for _, end in spans}
    pieces: list[tuple[str, bool]] = []
    for index, char in enumerate(text):
        if index in ends or index in starts:
            pieces.append(("*", True))
        pieces.append((slack_escape(char), False))
    if len(text) in ends:
        pieces.append(("*", True))
    return pieces


def _word_spans(text: str, hits: list[str]) -> list[tuple[int, int]]:
    """Where the hits occur, widened to whole words (Slack bolds only whole words) and
    merged when they touch."""
    found: list[tuple[int, int]] = []
    for hit in {hit.strip() for hit in hits if hit.strip()}:
        position = text.find(hit)
        while position != -1:
            start, end = position, position + len(hit)
            while start > 0 and _in_word(text[start - 1]):
                start -= 1
            while end < len(text) and _in_word(text[end]):
                end += 1
            found.append((start, end))
            position = text.find(hit, position + len(hit))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _in_word(char: str) -> bool:
    # Arabic diacritics (harakat) are combining marks, not letters, yet belong to the word.
    return char.isalnum() or unicodedata.category(char).startswith("M")


# -- console ------------------------------------------------------------------------


def console_text(event: MatchEvent) -> str:
    """One readable multi-line block, matched words marked with ``*``; ends with a newline."""
    article = event.article
    title = _printable(article.title)
    source = _printable(article.source)
    published = article.published_at.isoformat() if article.published_at else ""
    snippet = _printable(event.snippet)
    hits = [hit.text for hit in event.highlights]
    lines = [f"[{_printable(event.watchlist)}] {title}"]
    lines.append("  " + " · ".join(part for part in (source, published) if part))
    lines.append("  " + _printable(article.url or NO_LINK))
    if snippet:
        lines.append("  " + _marked(snippet, hits))
    queries = dict.fromkeys(f"{_printable(hit.query)} ({hit.field})" for hit in event.highlights)
    if queries:
        lines.append("  matched: " + ", ".join(queries))
    lines.append(f"  alert {event.id}")
    return "\n".join(lines) + "\n"


def _marked(text: str, hits: list[str]) -> str:
    out, position = [], 0
    for start, end in _word_spans(text, hits):
        out.append(text[position:start] + "*" + text[start:end] + "*")
        position = end
    return "".join(out) + text[position:]


def _printable(text: str) -> str:
    """Drop control characters (escape sequences could drive the terminal); newlines and
    tabs become spaces so one alert stays one block."""
    text = text.replace("\n", " ").replace("\t", " ").replace("\r", " ")
    return "".join(char for char in text if unicodedata.category(char) != "Cc")
