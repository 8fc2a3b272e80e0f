"""One index over every query of every watchlist.

Compiling gives each query word one key. A word looked for under several forms
(طائرات is also looked for as طائرة) gets a *group key* standing for all of them, which
the scan records at every text word carrying any of those forms: from then on every
word is one key, met where its key was recorded.

Queries are then sorted by shape. A query that is one phrase or an OR of phrases (most)
matches exactly where its phrases do, so each distinct phrase becomes one *unit*,
verified once per text for all the queries it answers; a phrase of one word needs no
verifying at all and is answered straight from its key (``_roles``). Any other query
is a unit of its own. A unit is woken by its *anchors*, the keys one of which any match
must contain (the most specific word of a phrase; for OR, one per branch; for AND,
those of one positive operand), and by a second key it requires when it has one.

Matching a text walks its words once. Each distinct surface word is looked up once (and
remembered) to find which of its stems any query uses, and the group keys those stems
belong to; only those are recorded with their word position. Woken units are then
verified: phrase order and slop, sentence bounds, NEAR distances, boolean structure.
The cost follows the text's length and the units it wakes, not the number of queries
compiled.
"""

from __future__ import annotations

from collections.abc import Iterable, KeysView, Mapping
from dataclasses import dataclass
from itertools import compress, repeat
from operator import is_
from typing import overload

from monitor.arabic.normalize import normalize
from monitor.arabic.stem import clitic_keys, strict_endings, text_keys
from monitor.arabic.tokenize import WORDS_AND_GAPS
from monitor.matching.hits import Hit
from monitor.matching.parser import DEFAULT_SLOP, parse_query
from monitor.matching.synonyms import Synonyms
from monitor.matching.syntax import And, Near, Node, Not, Or, Phrase, Positional, Term, leaves
from monitor.matching.verify import (
    FieldScan,
    Part,
    TextScans,
    evaluate,
    hits_of,
    term_key,
    word_key,
)

REACH_CACHE_SIZE = 200_000
# Starts (and separates the forms of) a group key; no word or key holds it.
GROUP_MARK = "|"


@dataclass(frozen=True, slots=True)
class CompiledEntry:
    """One query of one watchlist, ready for the index."""

    owner: str
    text: str
    tree: Node


# The queries a matched phrase answers: those that are exactly the phrase, and those that
# are an OR of it and other phrases (whose hits may gather several). Their numbers, and
# their texts beside them: each hit names its query, and reading the texts from here
# touches one tuple per phrase instead of a list of 100,000 texts once per query (at that
# size, those reads missing the processor's caches cost more than making the hits).
_Consumers = tuple[tuple[int, ...], tuple[str, ...]]
_NO_CONSUMERS: _Consumers = ((), ())


# The units a key wakes alone, the units it wakes with a second key, the one-word
# queries it answers (see WatchlistIndex._roles).
_Role = tuple[tuple[int, ...], dict[str, tuple[int, ...]] | None, _Consumers | None]


@dataclass(frozen=True, slots=True)
class _Unit:
    """What the index wakes by its keys: a query of any shape, verified on its own, or a
    distinct phrase of several words with the queries it answers. Queries that are one
    phrase or an OR of phrases (most) match exactly where their phrases do, so each
    phrase is verified once per text whatever the number of queries using it."""

    # Keys that must all be present beyond those that woke the unit: a cheap rejection
    # before verifying. None when waking already proved them (most units).
    required: frozenset[str] | None
    entry: int | None = None
    phrase: Phrase | None = None
    consumers: _Consumers = _NO_CONSUMERS
    # A two-word phrase with no field scope (most units): its keys and how far apart
    # they may be, to verify without walking the phrase. Fields of the unit itself, not
    # a tuple: at 100,000 queries, each object read per woken unit is a likely cache miss.
    first: str | None = None
    second: str | None = None
    reach: int = 0


class WatchlistIndex:
    """Compiled queries of many watchlists; ``match`` says which watchlists a text hits."""

    def __init__(self, entries: Iterable[CompiledEntry]) -> None:
        interner = _Interner()
        # The queries with their trees interned and each word given one key (a group key
        # for a word of several forms): valid inside this index only.
        self._entries = [
            CompiledEntry(entry.owner, entry.text, interner.node(entry.tree)) for entry in entries
        ]
        queries = [entry.text for entry in self._entries]
        self._owners = [entry.owner for entry in self._entries]
        general, consumers = _by_shape(self._entries)
        # A phrase of one word matches wherever its key occurs: nothing to verify, so
        # its queries are found straight from the text's keys.
        word_numbers: dict[str, tuple[int, ...]] = {}
        shapes: list[tuple[Node, int | None, _Consumers]] = [
            (self._entries[number].tree, number, _NO_CONSUMERS) for number in general
        ]
        for phrase, numbers in consumers.items():
            key = word_key(phrase)
            if key is None:
                shapes.append((phrase, None, _consumers(numbers, queries)))
            else:  # phrases written differently ("طائرة", "الطائرة") share keys
                word_numbers[key] = word_numbers.get(key, ()) + numbers
        word_answers = {key: _consumers(numbers, queries) for key, numbers in word_numbers.items()}
        self._units: list[_Unit] = []
        anchors: dict[str, list[int]] = {}
        paired: dict[str, dict[str, list[int]]] = {}
        for number, (node, entry_number, answered) in enumerate(shapes):
            keys = _anchors(node)
            required = _required(node)
            second = _second_key(keys, required)
            # What woke the unit is proven: the second key, and the anchor if it is one.
            proven = {second} | (keys if len(keys) == 1 else set())
            verified = node if isinstance(node, Phrase) and entry_number is None else None
            self._units.append(
                _Unit(
                    required.difference(proven) or None,
                    entry_number,
                    verified,
                    answered,
                    *_pair(verified),
                )
            )
            for key in keys:
                if second is None:
                    anchors.setdefault(key, []).append(number)
                else:
                    paired.setdefault(key, {}).setdefault(second, []).append(number)
        # What a key of the text sets off: the units it wakes alone; the units it wakes
        # with a second key they require (most phrases have two words, and a set
        # intersection with the text's keys wakes only those with both); the one-word
        # queries it answers. One map, so each key of a text is looked up once, not in
        # three maps (at 100,000 queries each lookup is likely a cache miss).
        self._roles: dict[str, _Role] = {
            key: (
                tuple(anchors.get(key, ())),
                {second: tuple(numbers) for second, numbers in paired[key].items()}
                if key in paired
                else None,
                word_answers.get(key),
            )
            for key in anchors.keys() | paired.keys() | word_answers.keys()
        }
        # The keys of query words in one form, and each form of a group key with the
        # groups it belongs to: a text word's stems are looked up in both.
        term_keys = {term_key(term) for entry in self._entries for term in _terms(entry.tree)}
        # Each single key mapped to the index's own string object of it (see _Interner).
        self._singles = {key: key for key in term_keys if not key.startswith(GROUP_MARK)}
        self._groups_of_form: dict[str, tuple[str, ...]] = {}
        for group in sorted(term_keys - self._singles.keys()):
            for form in _forms(group):
                self._groups_of_form[form] = (*self._groups_of_form.get(form, ()), group)
        wanted = self._singles | self._groups_of_form.keys()
        self._wanted = wanted
        # Names and words marked = are met by their clitic forms (stem.clitic_keys),
        # which only words ending in one of them (in any spelling) can carry.
        self._strict_endings = frozenset().union(
            *(strict_endings(key) for key in wanted if key.startswith("="))
        )
        self._strict_lengths = tuple(sorted({len(ending) for ending in self._strict_endings}))
        self._strict_tails = frozenset(ending[-2:] for ending in self._strict_endings)
        self._prefixes = frozenset(key[1:] for key in wanted if key.startswith("*"))
        self._prefix_lengths = tuple(sorted({len(prefix) for prefix in self._prefixes}))
        # The shortest prefix's length, and every prefix cut to it: most stems begin none.
        self._head_length = self._prefix_lengths[0] if self._prefixes else 0
        self._prefix_heads = frozenset(prefix[: self._head_length] for prefix in self._prefixes)
        # Surface word -> the recorded keys it carries. News vocabulary repeats, so almost
        # every word costs one dict lookup. Safe to lose; cleared when it grows too big.
        self._reach: dict[str, tuple[str, ...]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def forget_words(self) -> None:
        """Empty the word cache, as a new index starts (benchmarks time cold rounds)."""
        self._reach.clear()

    def match(self, text: str, field: str = "text") -> dict[str, list[Hit]]:
        """``{watchlist: [hits]}`` for every watchlist with at least one hit in ``text``."""
        return self.match_fields({field: text})

    def match_fields(self, fields: Mapping[str, str]) -> dict[str, list[Hit]]:
        """Like :meth:`match` over several fields (title, body) at once, so one query can
        ask for a word in the title and another in the body; hits carry their field."""
        found: dict[str, list[Hit]] = {}
        results = self._search(fields)
        owners = self._owners
        for number in sorted(results):  # ints sort several times faster than pairs
            owner = owners[number]
            known = found.get(owner)
            if known is None:
                found[owner] = results[number]
            else:
                known += results[number]
        return found

    def search_fields(self, fields: Mapping[str, str]) -> dict[int, list[Hit]]:
        """Hits per matching query number (its place among the entries the index was built
        from), in that order."""
        results = self._search(fields)
        return {number: results[number] for number in sorted(results)}

    def _search(self, fields: Mapping[str, str]) -> dict[int, list[Hit]]:
        texts = TextScans({name: self._scan(text or "") for name, text in fields.items()})
        scans = list(texts.fields.values())
        present: KeysView[str] | set[str]
        if len(scans) == 1:
            present = scans[0].positions.keys()
        else:
            present = set().union(*(scan.positions for scan in scans))
        woken: set[int] = set()
        word_answers: dict[str, _Consumers] = {}  # the one-word queries of the text's keys
        roles = self._roles
        for key in roles.keys() & present:
            alone, seconds, consumers = roles[key]
            if alone:
                woken.update(alone)
            if seconds:
                for second in seconds.keys() & present:
                    woken.update(seconds[second])
            if consumers:
                word_answers[key] = consumers
        results: dict[int, list[Hit]] = {}
        matched = [
            (parts, word_answers[key])
            for key, parts in texts.parts_of_words(word_answers.keys()).items()
        ]
        units, entries, pair_parts = self._units, self._entries, texts.pair_parts
        for number in woken:
            unit = units[number]
            if unit.required is not None and not present >= unit.required:
                continue
            phrase, entry_number = unit.phrase, unit.entry
            if phrase is not None:
                first_key, second_key = unit.first, unit.second
                if first_key is None or second_key is None:
                    parts = texts.phrase_parts(phrase)
                else:
                    parts = pair_parts(first_key, second_key, unit.reach)
                if parts:
                    matched.append((parts, unit.consumers))
            elif entry_number is not None:
                entry = entries[entry_number]
                hits = evaluate(entry.tree, texts, entry.text)
                if hits:
                    results[entry_number] = hits
        _hand_out(matched, texts.rank, results)
        return results

    def _scan(self, text: str) -> FieldScan:
        pieces = WORDS_AND_GAPS.split(text)
        words = pieces[1::2]
        reach = self._reach
        # Map operations run in C over every word (one cache lookup each); the Python
        # loops below see only the words new to the cache and those carrying a key.
        found = list(map(reach.get, words))
        unknown = list(compress(range(len(words)), map(is_, found, repeat(None))))
        if unknown:
            if len(reach) + len(unknown) > REACH_CACHE_SIZE:
                reach.clear()
            recorded_keys = self._recorded_keys
            for index in unknown:
                word = words[index]
                keys = reach.get(word)
                if keys is None:  # not met earlier in this text
                    keys = reach[word] = recorded_keys(word)
                found[index] = keys
        positions: dict[str, list[int]] = {}
        places_of = positions.get
        for index, keys in compress(enumerate(found), found):
            for key in keys or ():  # compress kept the words with keys; `or` tells mypy
                places = places_of(key)
                if places is None:
                    positions[key] = [index]
                else:
                    places.append(index)
        return FieldScan(text, pieces, positions)

    def _recorded_keys(self, word: str) -> tuple[str, ...]:
        """The keys of ``word`` that some query uses, its own or its forms' groups (empty
        for most words)."""
        norm = normalize(word)  # not normalize_word: the word cache holds it already
        stems = text_keys(norm) if norm else ()
        wanted = self._wanted
        keys = [key for key in stems if key in wanted]
        if norm[-2:] in self._strict_tails:  # most words end unlike every strict key
            endings = self._strict_endings
            for length in self._strict_lengths:
                if norm[-length:] in endings:
                    keys.extend(key for key in clitic_keys(norm) if key in wanted)
                    break
        if self._prefixes:
            prefixes, heads, head_length = self._prefixes, self._prefix_heads, self._head_length
            for stem in stems:
                if stem[:head_length] not in heads:
                    continue
                for length in self._prefix_lengths:
                    if len(stem) >= length and stem[:length] in prefixes:
                        key = "*" + stem[:length]
                        if key not in keys:
                            keys.append(key)
        if not keys:
            return ()
        groups_of_form, singles = self._groups_of_form, self._singles
        # The index's own key objects, not the equal strings just made: every later
        # lookup of them (wake, positions) then matches by identity, without comparing
        # characters in memory the cache has lost (at 100,000 queries, most of the time).
        recorded = [singles[key] for key in keys if key in singles]
        for key in keys:
            for group in groups_of_form.get(key, ()):
                if group not in recorded:
                    recorded.append(group)
        return tuple(recorded)


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


def _hand_out(
    matched: list[tuple[list[Part], _Consumers]],
    rank: Mapping[str, int],
    results: dict[int, list[Hit]],
) -> None:
    """Give each query the hits of the phrases it answers. Most matched phrases occur
    once, so most queries get one hit made straight; an OR query two of whose phrases
    matched (rare) gets theirs merged into text order afterwards."""
    new = tuple.__new__
    repeated: set[int] = set()
    for parts, (consumers, queries) in matched:
        if len(parts) == 1:
            (_, _, _, start, end, surface, field) = parts[0]
            for consumer, query in zip(consumers, queries, strict=True):
                hit = new(Hit, (start, end, surface, query, field))
                if consumer in results:  # already had hits: an OR query
                    results[consumer].append(hit)
                    repeated.add(consumer)
                else:
                    results[consumer] = [hit]
        else:
            for consumer, query in zip(consumers, queries, strict=True):
                hits = hits_of(parts, query)
                if consumer in results:
                    results[consumer] += hits
                    repeated.add(consumer)
                else:
                    results[consumer] = hits
    for consumer in repeated:  # each place once, in field then text order, as parts sort
        results[consumer] = sorted(
            set(results[consumer]), key=lambda hit: (rank[hit.field], hit.start, hit.end)
        )


def _consumers(numbers: tuple[int, ...], queries: list[str]) -> _Consumers:
    """The queries ``numbers`` with their texts beside them (see ``_Consumers``)."""
    return numbers, tuple(queries[number] for number in numbers)


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


def _by_shape(entries: list[CompiledEntry]) -> tuple[list[int], dict[Phrase, tuple[int, ...]]]:
    """Numbers of the queries of no simple shape, and each distinct phrase with the
    queries that are it or an OR of it and others."""
    general: list[int] = []
    answered: dict[Phrase, list[int]] = {}
    for number, entry in enumerate(entries):
        phrases = _phrases(entry.tree)
        if phrases is None:
            general.append(number)
            continue
        for phrase in phrases:
            answered.setdefault(phrase, []).append(number)
    return general, {phrase: tuple(numbers) for phrase, numbers in answered.items()}


def _pair(phrase: Phrase | None) -> tuple[str | None, str | None, int]:
    if phrase is None or len(phrase.terms) != 2 or phrase.field is not None:
        return (None, None, 0)
    first, second = phrase.terms
    return (term_key(first), term_key(second), phrase.slop + 1)


def _phrases(node: Node) -> tuple[Phrase, ...] | None:
    if isinstance(node, Phrase):
        return (node,)
    if isinstance(node, Or):
        phrases = tuple(child for child in node.children if isinstance(child, Phrase))
        if len(phrases) == len(node.children):
            return phrases
    return None


def _second_key(anchors: frozenset[str], required: frozenset[str]) -> str | None:
    """A required key besides the anchors (the longest: likely the rarest), if any."""
    others = required - anchors
    return max(others, key=lambda key: (_length(key), key)) if others else None


def _required(node: Node) -> frozenset[str]:
    """Keys every match of ``node`` has (in some field)."""
    if isinstance(node, Phrase):
        return frozenset(term_key(term) for term in node.terms if term.mode != "prefix")
    if isinstance(node, Near):
        return _required(node.left) | _required(node.right)
    if isinstance(node, And):
        return frozenset().union(
            *(_required(child) for child in node.children if not isinstance(child, Not))
        )
    return frozenset()  # OR: any branch will do; verification decides


def _with_one_key(term: Term) -> Term:
    """The term itself, or for a word of several forms the same word under one group
    key standing for them all (its forms are read back by :func:`_forms`)."""
    if len(term.keys) == 1:
        return term
    group = GROUP_MARK + GROUP_MARK.join(sorted(term.keys))
    return Term(term.surface, term.mode, frozenset((group,)), term.stopword)


def _terms(node: Node) -> list[Term]:
    return [term for leaf in leaves(node) for term in leaf.terms]


def _forms(key: str) -> list[str]:
    """The forms a key stands for: a group key's members, or the key itself."""
    return key[1:].split(GROUP_MARK) if key.startswith(GROUP_MARK) else [key]


def _length(key: str) -> int:
    """How specific a key is: the length of its shortest form."""
    return min(map(len, _forms(key)))


def _best_term(terms: tuple[Term, ...]) -> Term:
    """The word least likely to occur: not a stopword, not a prefix, the longest stems."""
    return max(
        terms,
        key=lambda term: (
            not term.stopword,
            term.mode != "prefix",
            _length(term_key(term)),
        ),
    )


def _anchor_cost(keys: frozenset[str]) -> tuple[int, int]:
    """Fewer forms, then longer ones: the anchors least likely to wake the unit."""
    return (sum(len(_forms(key)) for key in keys), -min(map(_length, keys)))


class _Interner:
    """Makes equal terms and phrases one object, so thousands of queries sharing words
    share memory, and a phrase used by many watchlists is verified once per text; each
    term is interned with one key (:func:`_with_one_key`), and equal keys are one string
    object, which dictionaries compare by identity before any character."""

    def __init__(self) -> None:
        self._terms: dict[Term, Term] = {}
        self._nodes: dict[Node, Node] = {}
        self._keys: dict[str, str] = {}

    def term(self, term: Term) -> Term:
        interned = self._terms.get(term)
        if interned is None:
            one = _with_one_key(term)
            key = term_key(one)
            key = self._keys.setdefault(key, key)
            interned = Term(one.surface, one.mode, frozenset((key,)), one.stopword)
            self._terms[term] = interned
        return interned

    # An interned node is of its original's kind: a NEAR operand stays one.
    @overload
    def node(self, node: Positional) -> Positional: ...
    @overload
    def node(self, node: Node) -> Node: ...
    def node(self, node: Node) -> Node:
        if isinstance(node, Phrase):
            node = Phrase(
                tuple(self.term(term) for term in node.terms),
                node.slop,
                node.field,
                node.text,
            )
        elif isinstance(node, Near):
            node = Near(
                self.node(node.left),
                self.node(node.right),
                node.distance,
                node.field,
            )
        elif isinstance(node, Not):
            node = Not(self.node(node.child))
        else:
            node = type(node)(tuple(self.node(child) for child in node.children))
        return self._nodes.setdefault(node, node)
