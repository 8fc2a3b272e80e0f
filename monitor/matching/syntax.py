"""The parsed form of a watchlist query: a small tree the index compiles and evaluates.

Leaves are positional (they say *where* in a field they matched): a :class:`Phrase`
(plain, strict or a single word) and :class:`Near`. Above them :class:`And`, :class:`Or`
and :class:`Not` combine truth values. Nodes are frozen and hashable so identical
leaves from many queries are stored and verified once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeGuard

TermMode = Literal["stem", "exact", "prefix"]
Field = Literal["title", "body"]


@dataclass(frozen=True, slots=True)
class Term:
    """One query word and the text keys that satisfy it.

    ``stem`` keys are the word's light stems (inflection-insensitive); ``exact`` keys are
    ``=`` + the normalized word (orthography only); a ``prefix`` term has one key, ``*`` +
    the normalized prefix, met by any text stem that starts with it.
    """

    surface: str
    mode: TermMode
    keys: frozenset[str]
    stopword: bool = False


@dataclass(frozen=True, slots=True)
class Phrase:
    """Words in order, at most ``slop`` other words between consecutive ones, within one
    sentence of one field (``field`` None: title or body)."""

    terms: tuple[Term, ...]
    slop: int
    field: Field | None
    text: str


@dataclass(frozen=True, slots=True)
class Near:
    """Two positional parts in either order with at most ``distance`` words between."""

    left: Positional
    right: Positional
    distance: int
    field: Field | None


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


Positional = Phrase | Near | Or
Node = Phrase | Near | Or | And | Not


def is_positive(node: Node) -> bool:
    """Whether the node can only be true when some word of the text matched it.

    A query must be positive: ``NOT A`` alone, or ``A OR NOT B``, would be true for
    almost every article. The index relies on it: only queries whose words occur in a
    text are evaluated against it.
    """
    if isinstance(node, Not):
        return False
    if isinstance(node, Or):
        return all(is_positive(child) for child in node.children)
    if isinstance(node, And):
        return any(is_positive(child) for child in node.children)
    return True


def is_positional(node: Node) -> TypeGuard[Positional]:
    """Whether the node matches at places in the text (a NEAR operand must)."""
    if isinstance(node, Or):
        return all(is_positional(child) for child in node.children)
    return isinstance(node, Phrase | Near)


def leaves(node: Node) -> list[Phrase]:
    """Every phrase in the tree, depth first."""
    if isinstance(node, Phrase):
        return [node]
    if isinstance(node, Near):
        return leaves(node.left) + leaves(node.right)
    if isinstance(node, Not):
        return leaves(node.child)
    return [leaf for child in node.children for leaf in leaves(child)]
