"""A match's evidence: where in the text, what was written there, and an excerpt."""

from __future__ import annotations

import re
from typing import NamedTuple

_WHITESPACE = re.compile(r"\s+")


class Hit(NamedTuple):
    """One occurrence of a query in a text.

    ``start``/``end`` are character offsets into the original text (end exclusive) from
    the first to the last matched word, so ``text`` is the surface form as written,
    e.g. "بطائرتين مسيرتين" or "طائرة أميركية مسيّرة".

    A named tuple, not a dataclass: an article against 100,000 queries yields hundreds
    of hits, and a tuple is made in less than half the time.
    """

    start: int
    end: int
    text: str
    query: str
    field: str = "text"


def snippet(text: str, hits: list[Hit], length: int = 280) -> str:
    """About ``length`` characters of ``text`` around the first hit, cut at spaces,
    with "…" where something was left out.

    Whitespace runs fold to one space; the hit is placed by its offsets, folded piece by
    piece (a hit starts and ends on a word), so a hit whose words are separated by a line
    break or two spaces is still the one shown.
    """
    if hits:
        first = min(hits, key=lambda hit: hit.start)
        before_hit = _WHITESPACE.sub(" ", text[: first.start]).lstrip()
        hit_text = _WHITESPACE.sub(" ", text[first.start : first.end])
        text = before_hit + hit_text + _WHITESPACE.sub(" ", text[first.end :]).rstrip()
        anchor, hit_length = len(before_hit), len(hit_text)
    else:
        text = _WHITESPACE.sub(" ", text).strip()
        anchor, hit_length = 0, 0
    if len(text) <= length:
        return text
    before = max(0, (length - hit_length) // 3)
    start = max(0, anchor - before)
    end = min(len(text), start + length)
    start = max(0, end - length)
    if start > 0:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < anchor else start
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > anchor + hit_length else end
    excerpt = text[start:end].strip()
    return ("…" if start > 0 else "") + excerpt + ("…" if end < len(text) else "")
