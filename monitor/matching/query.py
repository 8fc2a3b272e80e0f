"""Watchlist queries: parsing a query into words, each with the forms it may match.

This first version knows one construct, the phrase: ``طائرة مسيرة`` matches when its
words appear in order, each inflection-insensitive, with at most ``slop`` other words
between consecutive words (default 1: "طائرة أميركية مسيّرة"), within one sentence.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.arabic.stem import query_keys
from monitor.arabic.tokenize import tokenize
from monitor.errors import QuerySyntaxError

DEFAULT_SLOP = 1
MAX_QUERY_LENGTH = 500
MAX_WORDS = 16

STOPWORDS = frozenset(
    {
        "في",
        "من",
        "الي",
        "علي",
        "عن",
        "مع",
        "ان",
        "او",
        "ثم",
        "قد",
        "لا",
        "ما",
        "لم",
        "لن",
        "هذا",
        "هذه",
        "ذلك",
        "تلك",
        "التي",
        "الذي",
        "الذين",
        "كان",
        "كانت",
        "هو",
        "هي",
        "و",
        "the",
        "of",
        "and",
        "or",
        "a",
        "an",
        "in",
        "on",
        "at",
        "to",
        "for",
        "by",
        "is",
    }
)


@dataclass(frozen=True, slots=True)
class Term:
    """One query word: what the user wrote and the stems it may match."""

    surface: str
    keys: frozenset[str]


@dataclass(frozen=True, slots=True)
class Phrase:
    text: str
    terms: tuple[Term, ...]
    slop: int = DEFAULT_SLOP


def parse_query(text: str, *, slop: int = DEFAULT_SLOP) -> Phrase:
    """The phrase a query stands for; QuerySyntaxError says why when there is none."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QuerySyntaxError(
            f"query is too long ({len(text)} characters, at most {MAX_QUERY_LENGTH})", text
        )
    tokens = tokenize(text)
    if not tokens:
        raise QuerySyntaxError("empty query: it has no words to look for", text)
    if len(tokens) > MAX_WORDS:
        raise QuerySyntaxError(
            f"query has {len(tokens)} words; a phrase may have at most {MAX_WORDS}",
            text,
            tokens[MAX_WORDS].start,
        )
    if all(token.norm in STOPWORDS for token in tokens):
        raise QuerySyntaxError(
            "query has only common words (في، من، the ...), which would match almost every article",
            text,
        )
    terms = tuple(Term(token.text, query_keys(token.norm)) for token in tokens)
    return Phrase(text=text, terms=terms, slop=slop)
