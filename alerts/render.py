"""What an alert says in Slack, and the text helpers every channel's templates share.

Slack renders every :data:`~alerts.compose.Message` (:func:`slack_message`): one article
with every watchlist that matched it, a batch of articles, a digest, a follow-up. Webhook
receivers get the events' JSON verbatim instead, documented field by field in
docs/webhooks.md.

Every feed-derived string is hostile until proven otherwise. Slack mrkdwn has no escape
for its formatting characters (``*``, ``_``, ``~``, backticks), so feed text never goes
into mrkdwn here: it goes into ``rich_text`` blocks, whose ``text`` elements are shown
literally (formatting is an explicit ``style``, mentions and links are elements of their
own), and into ``plain_text`` headers and context with emoji codes off. A title such as
``<!channel>`` or ``<https://evil|BBC>`` is therefore text, never a mention or a disguised
link; only http(s) article URLs become links. The notification line (``text``) is the one
mrkdwn string: there ``&``, ``<`` and ``>`` are escaped and formatting is switched off.

The notification line starts with the Arabic and isolates each part's direction
(U+2067 RLI or U+2068 FSI … U+2069 PDI), behind a right-to-left mark that makes the
whole line right-to-left, so a phone does not lay an Arabic title out left to right
because a Latin watchlist name came first (:func:`slack_notification`).

Slack's limits are respected: at most 50 blocks, 3,000 characters of text in a block,
150 in a header, and about 12,000 in all (Slack refuses longer messages as
``msg_blocks_too_long``); a cut ends with "…", a list that does not fit ends with how
many more there were.

:func:`printable` (control characters out, so a title cannot drive a terminal) and
:func:`word_spans` (hits widened to whole words) serve alerts/templating.py too.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from alerts.compose import ArticleMessage, BatchMessage, Message, compose
from alerts.event import DigestEvent, DigestStory, FollowUpEvent, MatchEvent

if TYPE_CHECKING:
    from alerts.event import MatchedArticle

SECTION_LIMIT = 3000
HEADER_LIMIT = 150
CONTEXT_LIMIT = 2000
TITLE_LIMIT = 500
LIST_TITLE_LIMIT = 300
FALLBACK_LIMIT = 3000
MAX_BLOCKS = 50
# The text of all blocks together; Slack answers msg_blocks_too_long at about 13,000.
TOTAL_LIMIT = 12000
MAX_OUTLETS = 10
ELLIPSIS = "…"

RLM, RLI, FSI, PDI = "\u200f", "\u2067", "\u2068", "\u2069"
# Direction controls a feed may carry: removed from feed text put in the notification
# line, where one could end an isolate early or reverse what follows.
_BIDI_CONTROLS = dict.fromkeys(
    map(ord, "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
)

# Characters kept as they are in an article URL; anything else (space, "|", "<", ">",
# quotes) is percent-encoded.
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~-._"
# Shown instead of a link for an entry its feed gave no usable link (stored from the feed).
NO_LINK = "بلا رابط (no link in the feed)"
SEPARATOR = " · "


# -- Slack: the message ---------------------------------------------------------------


def slack_escape(text: str) -> str:
    """Make text inert in Slack mrkdwn: no mentions, links or entities of its own."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(
    message: Message | MatchEvent, *, notification: str | None = None
) -> dict[str, Any]:
    """An incoming-webhook message: blocks, and the notification line as ``text``
    (:func:`slack_notification`'s, unless ``notification`` gives another)."""
    if isinstance(message, MatchEvent):
        message = compose([message])
    if isinstance(message, ArticleMessage):
        blocks = _article_blocks(message)
    elif isinstance(message, BatchMessage):
        blocks = _batch_blocks(message)
    elif isinstance(message, DigestEvent):
        blocks = _digest_blocks(message)
    else:
        blocks = _follow_up_blocks(message)
    line = slack_notification(message) if notification is None else notification
    return {"text": _notification_text(line), "mrkdwn": False, "blocks": blocks[:MAX_BLOCKS]}


def _article_blocks(message: ArticleMessage) -> list[dict[str, Any]]:
    article = message.article
    names = "، ".join(message.watchlists)
    blocks = [_header(f"رصد · {names}"), _rich(_title_line(article, TITLE_LIMIT))]
    meta: list[dict[str, Any]] = []
    if article.source:
        meta += [_text("المصدر: "), _text(_cut(article.source, 200))]
    if article.published_at is not None:
        meta += [_text(SEPARATOR)] if meta else []
        meta.append(_date(article.published_at))
    label = "القوائم: " if len(message.watchlists) > 1 else "القائمة: "
    meta += [_text(SEPARATOR)] if meta else []
    meta += [_text(label), _text(_cut(names, 500))]
    blocks.append(_rich(meta))
    if message.snippet:
        hits = [hit.text for hit in message.highlights]
        blocks.append(_rich(_highlighted(message.snippet, hits, SECTION_LIMIT)))
    queries = [query for query in dict.fromkeys(hit.query for hit in message.highlights) if query]
    if queries:
        blocks.append(_context("الكلمات: " + "، ".join(queries)))
    return blocks


def _batch_blocks(message: BatchMessage) -> list[dict[str, Any]]:
    counts = message.by_watchlist
    header = f"{_count(len(message.items), *_MATCHES)} · " + "، ".join(message.watchlists)
    blocks = [_header(header)]
    if len(counts) > 1:
        blocks.append(_context(SEPARATOR.join(f"{name}: {number}" for name, number in counts)))
    several = len(counts) > 1
    items = []
    for item in message.items:
        line = _title_line(item.article, LIST_TITLE_LIMIT, bold=False)
        if item.article.source:
            line.append(_text(" — " + _cut(item.article.source, 200)))
        if several:
            line.append(_text(" (" + _cut(item.watchlist, 200) + ")"))
        items.append(line)
    return _listed(blocks, items, "bullet", _MATCHES)


def _digest_blocks(event: DigestEvent) -> list[dict[str, Any]]:
    blocks = [_header(f"موجز · {event.watchlist}")]
    period = [_text("من "), _date(event.since), _text(" إلى "), _date(event.until)]
    if event.stories:
        stories = _count(len(event.stories), *_STORIES_AFTER_IN)
        period.append(_text(f"{SEPARATOR}{_count(event.matches, *_MATCHES_PLAIN)} في {stories}"))
    else:
        period.append(_text(f"{SEPARATOR}لا جديد في هذه الفترة"))
    blocks.append(_rich(period))
    items = [_story_line(story) for story in _most_reported(event.stories)]
    return _listed(blocks, items, "ordered", _STORIES)


def _most_reported(stories: Sequence[DigestStory]) -> list[DigestStory]:
    return sorted(stories, key=lambda story: (-len(story.outlets), -story.matches))


def _story_line(story: DigestStory) -> list[dict[str, Any]]:
    line = _title_line(story.article, LIST_TITLE_LIMIT, bold=False)
    outlets = _outlets(story.outlets)
    if outlets:
        line.append(_text(" — " + outlets))
    return line


def _follow_up_blocks(event: FollowUpEvent) -> list[dict[str, Any]]:
    blocks = [_header(f"متابعة · {event.watchlist}")]
    blocks.append(_rich([_text("نقلته أيضاً: ", bold=True), _text(_outlets(event.outlets))]))
    blocks.append(_rich(_title_line(event.article, TITLE_LIMIT)))
    items = []
    for report in event.reports:
        line = _title_line(report, LIST_TITLE_LIMIT, bold=False)
        if report.source:
            line.append(_text(" — " + _cut(report.source, 200)))
        items.append(line)
    return _listed(blocks, items, "bullet", _REPORTS)


def _outlets(outlets: Sequence[str]) -> str:
    shown = [_cut(outlet, 100) for outlet in outlets[:MAX_OUTLETS]]
    more = len(outlets) - len(shown)
    return "، ".join(shown) + (f" و{more} غيرها" if more else "")


def _listed(
    blocks: list[dict[str, Any]],
    items: list[list[dict[str, Any]]],
    style: str,
    noun: tuple[str, str, str, str],
) -> list[dict[str, Any]]:
    """``blocks`` followed by ``items`` as lists in rich_text blocks of at most
    :data:`SECTION_LIMIT` characters, within the message's limits; what does not fit is
    counted in a last line ("… and N more")."""
    used = sum(_length(block) for block in blocks)
    # One block and some characters are kept for the line saying how many more.
    room_blocks = MAX_BLOCKS - len(blocks) - 1
    room_chars = TOTAL_LIMIT - used - 100
    lists: list[list[list[dict[str, Any]]]] = []
    size = 0
    shown = 0
    for item in items:
        length = sum(_length(element) for element in item)
        if length > room_chars:
            break
        if not lists or size + length > SECTION_LIMIT:
            if len(lists) == room_blocks:
                break
            lists.append([])
            size = 0
        lists[-1].append(item)
        size += length
        room_chars -= length
        shown += 1
    offset = 0
    for chunk in lists:
        blocks.append(_rich_list(chunk, style, offset))
        offset += len(chunk)
    more = len(items) - shown
    if more:
        blocks.append(_context(f"{ELLIPSIS} و{_count(more, *noun)} أخرى"))
    return blocks


# -- Slack: the notification line ------------------------------------------------------


def slack_notification(message: Message | MatchEvent) -> str:
    """The line a phone shows for ``message``: the Arabic first, each part in its own
    direction isolate (RLI for Arabic, FSI for names that may be Latin), behind a
    right-to-left mark. Plain text: :func:`slack_message` escapes it for Slack."""
    if isinstance(message, MatchEvent):
        message = compose([message])
    if isinstance(message, ArticleMessage):
        parts = [_isolated_title(message.article), _fsi("، ".join(message.watchlists))]
        if message.article.source:
            parts.append(_fsi(message.article.source))
    elif isinstance(message, BatchMessage):
        parts = [_rli(_count(len(message.items), *_MATCHES)), _fsi("، ".join(message.watchlists))]
        parts.append(_isolated_title(message.items[0].article))
    elif isinstance(message, DigestEvent):
        parts = [_rli("موجز: " + _count(len(message.stories), *_STORIES)), _fsi(message.watchlist)]
    else:
        outlets = "، ".join(_fsi(outlet) for outlet in message.outlets[:MAX_OUTLETS])
        parts = [
            _isolated_title(message.article),
            _rli("نقلته أيضاً: " + outlets),
            _fsi(message.watchlist),
        ]
    return RLM + SEPARATOR.join(parts)


def _isolated_title(article: MatchedArticle) -> str:
    title = _plain(article.title or article.url or "", TITLE_LIMIT)
    return (RLI if _first_strong_is_rtl(title) else FSI) + title + PDI


def _rli(text: str) -> str:
    return RLI + text + PDI


def _fsi(text: str) -> str:
    return FSI + _plain(text, 200) + PDI


def _plain(text: str, limit: int) -> str:
    """Feed text for the notification line: one line, no direction controls of its own."""
    return _cut(" ".join(text.translate(_BIDI_CONTROLS).split()), limit)


def _first_strong_is_rtl(text: str) -> bool:
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            return True
        if kind == "L":
            return False
    return True


def _notification_text(line: str) -> str:
    """``line`` escaped for Slack's ``text``, cut within its limit without splitting an
    entity such as ``&amp;`` or leaving an isolate open."""
    escaped = [slack_escape(char) for char in line]
    if sum(map(len, escaped)) > FALLBACK_LIMIT:
        kept: list[str] = []
        length = 0
        for piece in escaped:
            if length + len(piece) > FALLBACK_LIMIT - len(ELLIPSIS) - 20:
                break
            kept.append(piece)
            length += len(piece)
        escaped = [*kept, ELLIPSIS]
    text = "".join(escaped)
    opened = sum(text.count(mark) for mark in (RLI, FSI, "\u2066")) - text.count(PDI)
    return text + PDI * max(0, opened)


# -- Slack: block pieces ---------------------------------------------------------------

# Arabic counted nouns: (one, two, three to ten, eleven to ninety-nine); a hundred and
# more take the singular (by the last two digits, as in "101 مطابقة"). One and two are
# said by the noun alone (the dual needs no number).
_MATCHES = ("مطابقة جديدة", "مطابقتان جديدتان", "مطابقات جديدة", "مطابقةً جديدةً")
_MATCHES_PLAIN = ("مطابقة", "مطابقتان", "مطابقات", "مطابقةً")
_STORIES = ("خبر", "خبران", "أخبار", "خبراً")
# After a preposition ("في خبرين"): the dual in the genitive.
_STORIES_AFTER_IN = ("خبر واحد", "خبرين", "أخبار", "خبراً")
_REPORTS = ("تقرير", "تقريران", "تقارير", "تقريراً")


def _count(number: int, one: str, two: str, few: str, many: str) -> str:
    if number == 1:
        return one
    if number == 2:
        return two
    tail = number % 100
    if 3 <= tail <= 10:
        return f"{number} {few}"
    if 11 <= tail <= 99:
        return f"{number} {many}"
    return f"{number} {one}"


def _header(text: str) -> dict[str, Any]:
    text = " ".join(text.split())
    plain = {"type": "plain_text", "text": _cut(text, HEADER_LIMIT), "emoji": False}
    return {"type": "header", "text": plain}


def _context(text: str) -> dict[str, Any]:
    plain = {"type": "plain_text", "text": _cut(text, CONTEXT_LIMIT), "emoji": False}
    return {"type": "context", "elements": [plain]}


def _rich(elements: list[dict[str, Any]]) -> dict[str, Any]:
    section = {"type": "rich_text_section", "elements": elements}
    return {"type": "rich_text", "elements": [section]}


def _rich_list(items: list[list[dict[str, Any]]], style: str, offset: int = 0) -> dict[str, Any]:
    listed: dict[str, Any] = {
        "type": "rich_text_list",
        "style": style,
        "elements": [{"type": "rich_text_section", "elements": item} for item in items],
    }
    if offset and style == "ordered":
        listed["offset"] = offset
    return {"type": "rich_text", "elements": [listed]}


def _text(text: str, *, bold: bool = False, italic: bool = False) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "text", "text": text}
    style = {name: True for name, on in (("bold", bold), ("italic", italic)) if on}
    if style:
        element["style"] = style
    return element


def _title_line(article: MatchedArticle, limit: int, *, bold: bool = True) -> list[dict[str, Any]]:
    title = _cut(" ".join((article.title or article.url or "").split()), limit) or NO_LINK
    link = _slack_url(article.url)
    if link:
        element: dict[str, Any] = {"type": "link", "url": link, "text": title}
        if bold:
            element["style"] = {"bold": True}
        return [element]
    line = [_text(title, bold=bold)]
    if not article.url:
        line.append(_text(" " + NO_LINK, italic=True))
    return line


def _date(moment: datetime) -> dict[str, Any]:
    """Slack's date element, shown in each reader's own time zone; UTC text as fallback."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return {
        "type": "date",
        "timestamp": int(moment.timestamp()),
        "format": "{date_short_pretty} {time}",
        "fallback": moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _length(node: object) -> int:
    """The characters of text a block (or element) shows."""
    if isinstance(node, dict):
        own = len(node["text"]) if isinstance(node.get("text"), str) else 0
        if node.get("type") == "date":
            own += len(node.get("fallback", ""))
        return own + sum(_length(value) for key, value in node.items() if key != "text")
    if isinstance(node, list):
        return sum(_length(value) for value in node)
    return 0


def _slack_url(url: str | None) -> str | None:
    """An http(s) URL, percent-encoded where it needs to be; None for anything else."""
    if url is None or urlsplit(url).scheme.lower() not in ("http", "https"):
        return None
    return quote(url, safe=_URL_SAFE)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS


def _highlighted(text: str, hits: list[str], limit: int) -> list[dict[str, Any]]:
    """Text elements with each hit (widened to whole words) in bold, ``limit``
    characters at most, a cut ending with "…"."""
    spans = word_spans(text, hits)
    cut = len(text) > limit
    if cut:
        text = text[: limit - len(ELLIPSIS)]
    elements = []
    position = 0
    for start, end in spans:
        if start >= len(text):
            break
        if start > position:
            elements.append(_text(text[position:start]))
        elements.append(_text(text[start : min(end, len(text))], bold=True))
        position = min(end, len(text))
    if position < len(text):
        elements.append(_text(text[position:]))
    if cut:
        elements.append(_text(ELLIPSIS))
    return elements


def word_spans(text: str, hits: list[str]) -> list[tuple[int, int]]:
    """Where the hits occur, widened to whole words and merged when they touch."""
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


# -- text shared with the templates ---------------------------------------------------


def printable(text: str) -> str:
    """Drop control characters (escape sequences could drive the terminal); newlines and
    tabs become spaces so one alert stays one block."""
    text = text.replace("\n", " ").replace("\t", " ").replace("\r", " ")
    return "".join(char for char in text if unicodedata.category(char) != "Cc")
