"""User synonym groups: words or phrases a watchlist should treat as one.

``[matching] synonyms = [["درون", "طائرة مسيرة"], ["داعش", "تنظيم الدولة"]]`` in
settings.toml. Two rules, both predictable from the query as written:

* a phrase of a query that is exactly one member of a group (word for word, up to
  inflection) also matches every other member, as a phrase with the same slop and field;
* a single-word member used as one word of a longer phrase also accepts the group's other
  single-word members in that place.

Spelling variants of names (أمريكي/أميركي) and common broken plurals are built in
(``monitor.arabic.variants``); this is for what only the user knows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from monitor.arabic.stem import query_keys
from monitor.arabic.tokenize import tokenize
from monitor.matching.syntax import Term


class Synonyms:
    """Groups of members; a phrase is a member when each of its words shares a stem with
    the member's word in that place (so الطائرات المسيرة is طائرة مسيرة)."""

    def __init__(self, groups: Iterable[Sequence[str]] = ()) -> None:
        self._members: list[tuple[tuple[Term, ...], list[tuple[Term, ...]]]] = []
        self._words: dict[str, frozenset[str]] = {}
        for group in groups:
            members = [_terms(member) for member in group]
            members = [terms for terms in members if terms]
            for number, terms in enumerate(members):
                others = [other for index, other in enumerate(members) if index != number]
                self._members.append((terms, others))
            singles = [terms[0] for terms in members if len(terms) == 1]
            for single in singles:
                extra = frozenset().union(*(other.keys for other in singles if other != single))
                for key in single.keys:
                    self._words[key] = self._words.get(key, frozenset()) | extra

    @classmethod
    def empty(cls) -> Synonyms:
        return cls()

    def __bool__(self) -> bool:
        return bool(self._members)

    def alternatives(self, terms: Sequence[Term]) -> list[tuple[Term, ...]]:
        """Other members of the group a whole phrase belongs to (none for exact or
        prefix words: those ask for one form on purpose)."""
        if not self._members or any(term.mode != "stem" for term in terms):
            return []
        found: list[tuple[Term, ...]] = []
        for member, others in self._members:
            if len(member) == len(terms) and all(
                mine.keys & theirs.keys for mine, theirs in zip(member, terms, strict=True)
            ):
                found.extend(other for other in others if other not in found)
        return found

    def word_keys(self, norm: str) -> frozenset[str]:
        """Extra stems a query word accepts through its single-word synonyms."""
        if not self._words:
            return frozenset()
        return frozenset().union(*(self._words.get(key, ()) for key in query_keys(norm)))


def _terms(member: str) -> tuple[Term, ...]:
    return tuple(Term(token.text, "stem", query_keys(token.norm)) for token in tokenize(member))
