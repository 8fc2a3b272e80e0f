"""One index over every query of every watchlist.

Each query word contributes its stems to a table ``stem -> [(phrase, word position)]``.
Matching a text walks its tokens once, looks each token's readings up in that table, and
only then verifies positions for the phrases it touched. The cost follows the text's
length and the candidates it touches, not the number of queries.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Mapping
from itertools import chain

from monitor.arabic.stem import surface_keys
from monitor.arabic.tokenize import WORD, segment_breaks
from monitor.matching.hits import Hit
from monitor.matching.query import DEFAULT_SLOP, Phrase, parse_query

REACH_CACHE_SIZE = 200_000


class WatchlistIndex:
    """Compiled queries of many watchlists; ``match`` says which watchlists a text hits."""

    def __init__(self, phrases: list[tuple[str, Phrase]]) -> None:
        self._owners = [owner for owner, _ in phrases]
        self._phrases = [phrase for _, phrase in phrases]
        postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for number, phrase in enumerate(self._phrases):
            for position, term in enumerate(phrase.terms):
                for key in term.keys:
                    postings[key].append((number, position))
        self._postings = dict(postings)
        # Surface word -> the postings it reaches: news vocabulary repeats, so almost
        # every word costs one dict lookup. Safe to lose; cleared when it grows too big.
        self._reach: dict[str, tuple[tuple[int, int], ...]] = {}

    def __len__(self) -> int:
        return len(self._phrases)

    def match(self, text: str, field: str = "text") -> dict[str, list[Hit]]:
        """``{watchlist: [hits]}`` for every watchlist with at least one hit in ``text``."""
        found: dict[str, list[Hit]] = {}
        for number, hits in self._search(text, field).items():
            found.setdefault(self._owners[number], []).extend(hits)
        return found

    def match_fields(self, fields: Mapping[str, str]) -> dict[str, list[Hit]]:
        """Like :meth:`match` over several fields (title, body); hits carry their field."""
        found: dict[str, list[Hit]] = {}
        for field, text in fields.items():
            for owner, hits in self.match(text or "", field).items():
                found.setdefault(owner, []).extend(hits)
        return found

    def _reached(self, word: str) -> tuple[tuple[int, int], ...]:
        postings = self._postings
        reach = tuple(
            dict.fromkeys(chain.from_iterable(postings.get(key, ()) for key in surface_keys(word)))
        )
        if len(self._reach) >= REACH_CACHE_SIZE:
            self._reach.clear()
        self._reach[word] = reach
        return reach

    def _search(self, text: str, field: str) -> dict[int, list[Hit]]:
        spans: list[tuple[int, int]] = []
        occurrences: dict[int, dict[int, list[int]]] = {}
        reach_cache = self._reach
        for match in WORD.finditer(text):
            word = match.group()
            reach = reach_cache.get(word)
            if reach is None:
                reach = self._reached(word)
            index = len(spans)
            spans.append(match.span())
            for number, position in reach:
                occurrences.setdefault(number, {}).setdefault(position, []).append(index)
        if not occurrences:
            return {}
        tokens = _Tokens(spans, segment_breaks(text))
        results: dict[int, list[Hit]] = {}
        for number, places in occurrences.items():
            phrase = self._phrases[number]
            if len(places) < len(phrase.terms):
                continue
            hits = _verify(phrase, places, tokens, text, field)
            if hits:
                results[number] = hits
        return results


class _Tokens:
    """Token offsets, and each token's sentence segment computed only when asked."""

    def __init__(self, spans: list[tuple[int, int]], breaks: list[int]) -> None:
        self.spans = spans
        self._breaks = breaks

    def segment(self, index: int) -> int:
        return bisect_left(self._breaks, self.spans[index][0])


def _verify(
    phrase: Phrase,
    places: dict[int, list[int]],
    tokens: _Tokens,
    text: str,
    field: str,
) -> list[Hit]:
    """Every non-overlapping occurrence of the phrase, earliest first."""
    hits: list[Hit] = []
    last_end = -1
    for first in places[0]:
        if first <= last_end:
            continue
        chain = _chain(phrase, places, tokens, 1, first)
        if chain is None:
            continue
        start, end = tokens.spans[first][0], tokens.spans[chain][1]
        hits.append(Hit(start, end, text[start:end], phrase.text, field))
        last_end = chain
    return hits


def _chain(
    phrase: Phrase, places: dict[int, list[int]], tokens: _Tokens, position: int, previous: int
) -> int | None:
    """The token index of the last word when words ``position..`` follow ``previous``."""
    if position == len(phrase.terms):
        return previous
    segment = tokens.segment(previous)
    for candidate in places.get(position, ()):
        if candidate <= previous:
            continue
        if candidate > previous + 1 + phrase.slop or tokens.segment(candidate) != segment:
            break
        end = _chain(phrase, places, tokens, position + 1, candidate)
        if end is not None:
            return end
    return None


class CompiledQuery:
    """A single query, searchable on its own (``rasid watch test``, the API)."""

    def __init__(self, phrase: Phrase) -> None:
        self.phrase = phrase
        self._index = WatchlistIndex([("", phrase)])

    def search(self, text: str) -> list[Hit]:
        return self._index.match(text).get("", [])


def compile_query(query: str, *, slop: int = DEFAULT_SLOP) -> CompiledQuery:
    """Parse and compile one query; raises QuerySyntaxError with a reason."""
    return CompiledQuery(parse_query(query, slop=slop))


def compile_watchlists(
    watchlists: Mapping[str, list[str]], *, slop: int = DEFAULT_SLOP
) -> WatchlistIndex:
    """The one index over every query of every watchlist."""
    return WatchlistIndex(
        [
            (name, parse_query(query, slop=slop))
            for name, queries in watchlists.items()
            for query in queries
        ]
    )
