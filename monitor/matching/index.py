"""One index over every query of every watchlist.

Compiling: each query's tree is reduced to its *anchors*, the keys of one word that any
match must contain (the most specific word of a phrase; for OR, one per branch; for AND,
those of one positive operand). ``anchors[key]`` lists the queries it can wake.

Matching a text walks its words once. Each distinct surface word is looked up once (and
remembered) to find which of its stems any query uses; only those are recorded with
their word position. The queries woken by the recorded keys are then verified: phrase
order and slop, sentence bounds, NEAR distances, boolean structure. The cost follows the
text's length and the queries it wakes, not the number of queries compiled.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass

from monitor.arabic.normalize import normalize_word
from monitor.arabic.stem import text_keys
from monitor.arabic.tokenize import WORD
from monitor.matching.hits import Hit
from monitor.matching.parser import DEFAULT_SLOP, parse_query
from monitor.matching.synonyms import Synonyms
from monitor.matching.syntax import And, Near, Node, Not, Or, Phrase, Term, leaves
from monitor.matching.verify import FieldScan, evaluate

REACH_CACHE_SIZE = 200_000


@dataclass(frozen=True, slots=True)
class CompiledEntry:
    """One query of one watchlist, ready for the index."""

    owner: str
    text: str
    tree: Node


@dataclass(frozen=True, slots=True)
class _Compiled:
    owner: str
    text: str
    tree: Node
    # Key groups that must all be met (one key of each) before verifying: a cheap
    # rejection for the many woken queries whose other words are absent.
    required: tuple[tuple[str, ...], ...]


class WatchlistIndex:
    """Compiled queries of many watchlists; ``match`` says which watchlists a text hits."""

    def __init__(self, entries: Iterable[CompiledEntry]) -> None:
        interner = _Interner()
        self._entries = []
        for entry in entries:
            tree = interner.node(entry.tree)
            self._entries.append(_Compiled(entry.owner, entry.text, tree, _required(tree)))
        anchors: dict[str, list[int]] = {}
        wanted: set[str] = set()
        for number, entry in enumerate(self._entries):
            for key in _anchors(entry.tree):
                anchors.setdefault(key, []).append(number)
            for leaf in leaves(entry.tree):
                for term in leaf.terms:
                    wanted |= term.keys
        self._anchors = {key: tuple(numbers) for key, numbers in anchors.items()}
        self._wanted = frozenset(wanted)
        self._prefix_lengths = tuple(
            sorted({len(key) - 1 for key in wanted if key.startswith("*")})
        )
        # Surface word -> the recorded keys it carries. News vocabulary repeats, so almost
        # every word costs one dict lookup. Safe to lose; cleared when it grows too big.
        self._reach: dict[str, tuple[str, ...]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def entries(self) -> list[CompiledEntry]:
        return [CompiledEntry(entry.owner, entry.text, entry.tree) for entry in self._entries]

    def match(self, text: str, field: str = "text") -> dict[str, list[Hit]]:
        """``{watchlist: [hits]}`` for every watchlist with at least one hit in ``text``."""
        return self.match_fields({field: text})

    def match_fields(self, fields: Mapping[str, str]) -> dict[str, list[Hit]]:
        """Like :meth:`match` over several fields (title, body) at once, so one query can
        ask for a word in the title and another in the body; hits carry their field."""
        found: dict[str, list[Hit]] = {}
        for number, hits in self.search_fields(fields).items():
            found.setdefault(self._entries[number].owner, []).extend(hits)
        return found

    def search_fields(self, fields: Mapping[str, str]) -> dict[int, list[Hit]]:
        """Hits per matching query number (its place in :attr:`entries`)."""
        scans = {name: self._scan(text or "") for name, text in fields.items()}
        candidates: set[int] = set()
        anchors = self._anchors
        for scan in scans.values():
            for key in scan.positions:
                woken = anchors.get(key)
                if woken:
                    candidates.update(woken)
        if len(scans) == 1:
            present: Container[str] = next(iter(scans.values())).positions
        else:
            present = set().union(*(scan.positions for scan in scans.values()))
        results: dict[int, list[Hit]] = {}
        entries = self._entries
        for number in sorted(candidates):
            entry = entries[number]
            if not all(any(key in present for key in keys) for keys in entry.required):
                continue
            hits = evaluate(entry.tree, scans, entry.text)
            if hits:
                results[number] = hits
        return results

    def _scan(self, text: str) -> FieldScan:
        positions: dict[str, list[int]] = {}
        reach = self._reach
        for index, word in enumerate(WORD.findall(text)):
            keys = reach.get(word)
            if keys is None:
                keys = self._record_keys(word)
            for key in keys:
                if key in positions:
                    positions[key].append(index)
                else:
                    positions[key] = [index]
        return FieldScan(text, positions)

    def _record_keys(self, word: str) -> tuple[str, ...]:
        norm = normalize_word(word)
        stems = text_keys(norm) if norm else frozenset()
        wanted = self._wanted
        keys = [key for key in stems if key in wanted]
        if norm and "=" + norm in wanted:
            keys.append("=" + norm)
        for length in self._prefix_lengths:
            for stem in stems:
                key = "*" + stem[:length]
                if len(stem) >= length and key in wanted and key not in keys:
                    keys.append(key)
        if len(self._reach) >= REACH_CACHE_SIZE:
            self._reach.clear()
        recorded = tuple(keys)
        self._reach[word] = recorded
        return recorded


class CompiledQuery:
    """A single query, searchable on its own (``rasid watch test``, the API)."""

    def __init__(self, text: str, tree: Node) -> None:
        self.text = text
        self.tree = tree
        self._index = WatchlistIndex([CompiledEntry("", text, tree)])

    def search(self, text: str, field: str = "text") -> list[Hit]:
        """Every hit of the query in ``text``; empty when it does not match."""
        return self._index.match(text, field).get("", [])

    def search_fields(self, fields: Mapping[str, str]) -> list[Hit]:
        """Hits over named fields (``title``, ``body``) for field-scoped queries."""
        return self._index.match_fields(fields).get("", [])


def compile_query(
    query: str, *, slop: int = DEFAULT_SLOP, synonyms: Synonyms | None = None
) -> CompiledQuery:
    """Parse and compile one query; raises QuerySyntaxError saying where and why."""
    return CompiledQuery(query, parse_query(query, slop=slop, synonyms=synonyms))


def compile_watchlists(
    watchlists: Mapping[str, Iterable[str]],
    *,
    slop: int = DEFAULT_SLOP,
    slops: Mapping[str, int] | None = None,
    synonyms: Synonyms | None = None,
) -> WatchlistIndex:
    """The one index over every query of every watchlist (``slops`` per watchlist)."""
    slops = slops or {}
    return WatchlistIndex(
        CompiledEntry(
            name,
            query,
            parse_query(query, slop=slops.get(name, slop), synonyms=synonyms),
        )
        for name, queries in watchlists.items()
        for query in queries
    )


def _anchors(node: Node) -> frozenset[str]:
    """Keys one of which every match of ``node`` contains."""
    if isinstance(node, Phrase):
        return _best_term(node.terms).keys
    if isinstance(node, Near):
        return min(_anchors(node.left), _anchors(node.right), key=_anchor_cost)
    if isinstance(node, Or):
        return frozenset().union(*(_anchors(child) for child in node.children))
    if isinstance(node, And):
        positive = [_anchors(child) for child in node.children if not isinstance(child, Not)]
        return min(positive, key=_anchor_cost)
    raise ValueError("a negation has no anchor")  # the parser refuses such queries


def _required(node: Node) -> tuple[tuple[str, ...], ...]:
    """Key groups every match of ``node`` has one key of, in some field."""
    if isinstance(node, Phrase):
        return tuple(tuple(term.keys) for term in node.terms if term.mode != "prefix")
    if isinstance(node, Near):
        return _required(node.left) + _required(node.right)
    if isinstance(node, And):
        return tuple(
            group
            for child in node.children
            if not isinstance(child, Not)
            for group in _required(child)
        )
    return ()  # OR: any branch will do; verification decides


def _best_term(terms: tuple[Term, ...]) -> Term:
    """The word least likely to occur: not a stopword, not a prefix, the longest stems."""
    return max(
        terms,
        key=lambda term: (
            not term.stopword,
            term.mode != "prefix",
            min(len(key) for key in term.keys),
        ),
    )


def _anchor_cost(keys: frozenset[str]) -> tuple[int, int]:
    return (len(keys), -min(len(key) for key in keys))


class _Interner:
    """Makes equal terms and phrases one object, so thousands of queries sharing words
    share memory, and a phrase used by many watchlists is verified once per text."""

    def __init__(self) -> None:
        self._terms: dict[Term, Term] = {}
        self._nodes: dict[Node, Node] = {}

    def node(self, node: Node) -> Node:
        if isinstance(node, Phrase):
            node = Phrase(
                tuple(self._terms.setdefault(term, term) for term in node.terms),
                node.slop,
                node.field,
                node.text,
            )
        elif isinstance(node, Near):
            node = Near(
                self.node(node.left),  # type: ignore[arg-type]
                self.node(node.right),  # type: ignore[arg-type]
                node.distance,
                node.field,
            )
        elif isinstance(node, Not):
            node = Not(self.node(node.child))
        else:
            node = type(node)(tuple(self.node(child) for child in node.children))
        return self._nodes.setdefault(node, node)
