"""Checking a woken query against the words recorded from a text.

Positional nodes (phrases, NEAR, OR of those) yield *spans*: the first and last word of
each place they matched, with the hits that show it. Boolean nodes yield hits or None.
Results of a phrase are remembered per text (:class:`TextScans`), so a phrase shared by
many queries is verified once per text.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet

from monitor.arabic.tokenize import piece_ends, word_segments
from monitor.matching.hits import Hit
from monitor.matching.syntax import And, Near, Node, Not, Or, Phrase, Term

_NOWHERE: list[int] = []

# A NEAR with at most this many pairs of spans checks them all: cheaper than sorting
# (most NEARs of an article have one span a side), and a fixed amount of work.
FEW_PAIRS = 256


# Where a positional node matched: first word, last word, and the word ranges to show
# as hits (a phrase shows itself; a NEAR shows both of its parts). Plain tuples: a busy
# index builds hundreds of them per article.
Span = tuple[int, int, tuple[tuple[int, int], ...]]


class FieldScan:
    """One field's words: the word numbers of every recorded key, and (computed only
    when a hit must be shown) each word's offsets, from the text split into gaps and
    words (``WORDS_AND_GAPS``)."""

    __slots__ = (
        "_ends",
        "_phrase_spans",
        "_pieces",
        "_segments",
        "positions",
        "text",
    )

    def __init__(self, text: str, pieces: list[str], positions: dict[str, list[int]]) -> None:
        self.text = text
        self._pieces = pieces
        self.positions = positions
        self._ends: list[int] | None = None
        self._segments: list[int] | None = None
        self._phrase_spans: dict[int, list[Span]] = {}

    @property
    def ends(self) -> list[int]:
        """Where each piece ends: word ``i`` (as the scan numbered it) runs from
        ``ends[2 * i]`` to ``ends[2 * i + 1]``."""
        if self._ends is None:
            self._ends = piece_ends(self._pieces)
        return self._ends

    def places(self, term: Term) -> list[int]:
        """Word numbers where ``term`` occurs, ascending."""
        return self.positions.get(term_key(term), _NOWHERE)

    @property
    def segments(self) -> list[int]:
        """The sentence of each word: phrases do not cross sentence punctuation."""
        if self._segments is None:
            self._segments = word_segments(self._pieces)
        return self._segments

    def phrase_spans(self, phrase: Phrase) -> list[Span]:
        cached = self._phrase_spans.get(id(phrase))
        if cached is None:
            cached = _phrase_spans(phrase, self)
            self._phrase_spans[id(phrase)] = cached
        return cached


# A matched place ready to show: field rank, first word, last word, character start and
# end, the surface text, field name. Tuples sort into field then text order.
Part = tuple[int, int, int, int, int, str, str]


class TextScans:
    """The scanned fields of one text (title, body ...) and the phrases verified on it,
    so a phrase shared by many queries is checked and located once per text."""

    __slots__ = ("_phrase_parts", "_word_parts", "fields", "rank")

    def __init__(self, fields: dict[str, FieldScan]) -> None:
        self.fields = fields
        self.rank = {name: number for number, name in enumerate(fields)}
        self._phrase_parts: dict[int, list[Part]] = {}
        self._word_parts: dict[str, list[Part]] = {}

    def word_parts(self, key: str) -> list[Part]:
        """Where one key occurs, in field then text order: the parts of a phrase of one
        word and no field scope (most phrases), without any chaining."""
        parts = self._word_parts.get(key)
        if parts is None:
            parts = self._word_parts[key] = self.parts_of_words({key}).get(key, [])
        return parts

    def parts_of_words(self, keys: AbstractSet[str]) -> dict[str, list[Part]]:
        """:meth:`word_parts` of every key of ``keys`` present in some field, found in one
        pass per field: at 100,000 queries an article holds dozens of one-word queries,
        and a call per key costs more than making its parts."""
        found: dict[str, list[Part]] = {}
        for rank, (name, scan) in enumerate(self.fields.items()):
            positions = scan.positions
            present = keys & positions.keys()
            if not present:
                continue
            ends, text = scan.ends, scan.text
            known = found.get
            for key in present:
                parts = known(key)
                if parts is None:
                    parts = found[key] = []
                for place in positions[key]:
                    start, end = ends[2 * place], ends[2 * place + 1]
                    parts.append((rank, place, place, start, end, text[start:end], name))
        self._word_parts.update(found)
        return found

    def pair_parts(self, first_key: str, second_key: str, reach: int) -> list[Part]:
        """The parts of a two-word phrase with no field scope, the most common woken
        phrase, straight from the keys' places."""
        parts = []
        for rank, (name, scan) in enumerate(self.fields.items()):
            positions = scan.positions
            firsts = positions.get(first_key)
            if firsts:
                seconds = positions.get(second_key)
                if seconds:
                    for first, last in _pairs(firsts, seconds, reach, scan.segments):
                        parts.append(_part(scan, rank, name, first, last))
        return parts

    def phrase_parts(self, phrase: Phrase) -> list[Part]:
        """Where ``phrase`` matched, in field then text order (empty: nowhere)."""
        key = word_key(phrase)
        if key is not None:
            return self.word_parts(key)
        parts = self._phrase_parts.get(id(phrase))
        if parts is None:
            parts = []
            for rank, (name, scan) in enumerate(self.fields.items()):
                if phrase.field is None or _in_scope(phrase.field, name):
                    for first, last, _ in _phrase_spans(phrase, scan):
                        parts.append(_part(scan, rank, name, first, last))
            self._phrase_parts[id(phrase)] = parts
        return parts


def word_key(phrase: Phrase) -> str | None:
    """The key of a phrase of one word and no field scope (matched wherever it occurs,
    with nothing to verify), else None."""
    if len(phrase.terms) != 1 or phrase.field is not None:
        return None
    return term_key(phrase.terms[0])


def term_key(term: Term) -> str:
    """The one key the index gives every term of its queries (a group key for a word of
    several forms)."""
    (key,) = term.keys
    return key


def _part(scan: FieldScan, rank: int, name: str, first: int, last: int) -> Part:
    ends = scan.ends
    start, end = ends[2 * first], ends[2 * last + 1]
    return (rank, first, last, start, end, scan.text[start:end], name)


def evaluate(tree: Node, texts: TextScans, query: str) -> list[Hit] | None:
    """The hits of a query over the scanned fields, in field then text order, or None
    when it does not match."""
    parts = _truth(tree, texts)
    if not parts:  # a positive query that is true always has a part to show
        return None
    if type(tree) is not Phrase:  # parts of several branches: each once, in order
        parts = sorted(set(parts))
    return hits_of(parts, query)


def hits_of(parts: list[Part], query: str) -> list[Hit]:
    """The hits of ``query`` at ``parts``, made by ``tuple.__new__`` straight (half the
    time of ``Hit(...)``): an index of 100,000 queries makes hundreds per article."""
    new = tuple.__new__
    return [new(Hit, (part[3], part[4], part[5], query, part[6])) for part in parts]


def _truth(node: Node, texts: TextScans) -> list[Part] | None:
    if isinstance(node, Phrase):  # most queries: no per-field maps, straight to parts
        return texts.phrase_parts(node) or None
    if isinstance(node, Not):
        return [] if _truth(node.child, texts) is None else None
    if isinstance(node, And):
        parts: list[Part] = []
        for child in node.children:
            found = _truth(child, texts)
            if found is None:
                return None
            parts.extend(found)
        return parts
    if isinstance(node, Or):
        matched = False
        parts = []
        for child in node.children:
            found = _truth(child, texts)
            if found is not None:
                matched = True
                parts.extend(found)
        return parts if matched else None
    rank, fields = texts.rank, texts.fields
    parts = [
        _part(fields[name], rank[name], name, first, last)
        for name, spans in _spans(node, texts.fields).items()
        for span in spans
        for first, last in span[2]
    ]
    return parts or None


def _spans(node: Node, scans: Mapping[str, FieldScan]) -> dict[str, list[Span]]:
    """Where a positional node matched, per field."""
    if isinstance(node, Phrase):
        return {
            name: spans
            for name, scan in scans.items()
            if _in_scope(node.field, name) and (spans := scan.phrase_spans(node))
        }
    if isinstance(node, Or):
        merged: dict[str, list[Span]] = {}
        for child in node.children:
            for name, spans in _spans(child, scans).items():
                merged.setdefault(name, []).extend(spans)
        return merged
    if isinstance(node, Near):
        left = _spans(node.left, scans)
        if not left:
            return {}
        right = _spans(node.right, scans)
        found = {}
        for name in left.keys() & right.keys():
            if _in_scope(node.field, name):
                spans = _near(left[name], right[name], node.distance)
                if spans:
                    found[name] = spans
        return found
    raise ValueError(f"not a positional node: {node!r}")  # pragma: no cover - parser


def _in_scope(scope: str | None, name: str) -> bool:
    """A plain text (``search(text)``) stands for an article's body."""
    return scope is None or scope == name or (scope == "body" and name == "text")


def _near(left: list[Span], right: list[Span], distance: int) -> list[Span]:
    """Every left span paired with every right span, in either order, with at most
    ``distance`` words strictly between (overlapping spans never pair): in left order,
    then right order. Beyond a few pairs, each left span meets only the right spans
    :func:`_nearby` finds, so no pair is ever left unexamined and none needs a cap."""
    nearby = None if len(left) * len(right) <= FEW_PAIRS else _nearby(right, distance)
    found: list[Span] = []
    for first, last, hits in left:
        for other in right if nearby is None else nearby(first, last):
            if last < other[0]:
                gap = other[0] - last - 1
            elif other[1] < first:
                gap = first - other[1] - 1
            else:
                continue  # the same words cannot be both parts
            if gap <= distance:
                found.append((min(first, other[0]), max(last, other[1]), hits + other[2]))
    return found


def _nearby(spans: list[Span], distance: int) -> Callable[[int, int], list[Span]]:
    """What finds, for a span from ``first`` to ``last``, the spans that may pair with
    it: those starting at most ``distance`` words after it or ending at most
    ``distance`` words before it, in their own order.

    The spans are sorted once by first and by last word (an OR's come from several
    lists), and each lookup bisects both: a long text with many places of both sides of
    a NEAR costs its places and its matches, never all its pairs.
    """
    by_first = sorted(range(len(spans)), key=lambda at: spans[at][0])
    firsts = [spans[at][0] for at in by_first]
    by_last = sorted(range(len(spans)), key=lambda at: spans[at][1])
    lasts = [spans[at][1] for at in by_last]

    def nearby(first: int, last: int) -> list[Span]:
        after = by_first[bisect_right(firsts, last) : bisect_right(firsts, last + 1 + distance)]
        before = by_last[bisect_left(lasts, first - 1 - distance) : bisect_left(lasts, first)]
        return [spans[at] for at in sorted(after + before)]

    return nearby


def _phrase_spans(phrase: Phrase, scan: FieldScan) -> list[Span]:
    """Every non-overlapping occurrence of the phrase, earliest first: from each place
    of its first word (past the previous occurrence) the one :func:`_chains` finds."""
    if len(phrase.terms) == 1:
        return [(place, place, ((place, place),)) for place in scan.places(phrase.terms[0])]
    places = []
    for term in phrase.terms:
        found = scan.places(term)
        if not found:  # most fields lack some word of most woken phrases
            return []
        places.append(found)
    segments = scan.segments
    if len(places) == 2:
        pairs = _pairs(places[0], places[1], phrase.slop + 1, segments)
        return [(first, second, ((first, second),)) for first, second in pairs]
    spans: list[Span] = []
    last_end = -1
    for first, end in zip(*_chains(places, phrase.slop + 1, segments), strict=True):
        if first > last_end:
            spans.append((first, end, ((first, end),)))
            last_end = end
    return spans


def _pairs(
    firsts: list[int], seconds: list[int], reach: int, segments: list[int]
) -> list[tuple[int, int]]:
    """Non-overlapping places of a two-word phrase (most phrases): for each place of
    the first word, the next place of the second decides."""
    pairs = []
    last_end = -1
    for first in firsts:
        if first <= last_end:
            continue
        at = bisect_right(seconds, first)
        if at == len(seconds):
            break
        second = seconds[at]
        if second - first <= reach and segments[second] == segments[first]:
            pairs.append((first, second))
            last_end = second
    return pairs


def _chains(
    places: list[list[int]], reach: int, segments: list[int]
) -> tuple[list[int], list[int]]:
    """The places of the first word from which the whole phrase follows, and where it
    then ends.

    A place of word ``k`` continues with the next place of word ``k + 1`` that itself
    continues to the last word, when that one is within ``reach`` and in the same
    sentence; a later one never could be, and an earlier one is a dead end. Worked from
    the last word back, one bisect per place: a search forward from each first word
    would revisit the same dead ends, exponentially in the words of a long phrase.
    """
    starts, ends = places[-1], places[-1]
    for candidates in reversed(places[:-1]):
        kept: list[int] = []
        kept_ends: list[int] = []
        for place in candidates:
            at = bisect_right(starts, place)
            if at < len(starts):
                following = starts[at]
                if following - place <= reach and segments[following] == segments[place]:
                    kept.append(place)
                    kept_ends.append(ends[at])
        if not kept:
            return [], []
        starts, ends = kept, kept_ends
    return starts, ends
