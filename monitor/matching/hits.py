"""A match's evidence: where in the text, what was written there, and an excerpt."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Hit:
    """One occurrence of a query in a text.

    ``start``/``end`` are character offsets into the original text (end exclusive) from
    the first to the last matched word, so ``text`` is the surface form as written,
    e.g. "بطائرتين مسيرتين" or "طائرة أميركية مسيّرة".
    """

    start: int
    end: int
    text: str
    query: str
    field: str = "text"


def snippet(text: str, hits: list[Hit], length: int = 280) -> str:
    """About ``length`` characters of ``text`` around the first hit, cut at spaces,
    with "…" where something was left out."""
    text = " ".join(text.split()) if "\n" in text or "  " in text else text
    if len(text) <= length:
        return text
    if hits:
        first = min(hits, key=lambda hit: hit.start)
        # Offsets refer to the original text; find the hit again in the collapsed one.
        anchor = text.find(first.text)
        anchor = max(anchor, 0)
        hit_length = len(first.text)
    else:
        anchor, hit_length = 0, 0
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
