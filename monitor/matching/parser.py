"""The watchlist query language: text in, a checked :mod:`syntax` tree out.

    طائرة مسيرة               phrase: in order, inflection-insensitive, <= slop words between
    "طائرة مسيرة"             strict phrase: adjacent words, still inflection-insensitive
    =مسيرة                    this word plus clitics only: no inflection taken off
    مسير*                     prefix of a word's stem
    A OR B, A AND B, A B      either; both (side by side means AND)
    NOT A, -A                 exclusion
    A NEAR/5 B                both, in any order, at most 5 words apart
    title:(...) body:"..."    only in that field
    ( ... )                   grouping

Operators are upper-case Latin words, so "or" and "و" stay ordinary words. Every error
carries the character position it refers to (the CLI draws a caret under it). Limits on
length, nesting, phrases and NEAR distance keep a pasted paragraph or a runaway query
from turning into an alert storm or a slow index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from monitor.arabic.lexicon import STOPWORDS
from monitor.arabic.stem import query_keys, strict_key
from monitor.arabic.tokenize import tokenize
from monitor.errors import QuerySyntaxError
from monitor.matching.synonyms import Synonyms
from monitor.matching.syntax import (
    And,
    Field,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Positional,
    Term,
    is_positional,
    is_positive,
)

DEFAULT_SLOP = 1
DEFAULT_NEAR = 5
MAX_NEAR = 50
MAX_QUERY_LENGTH = 500
MAX_DEPTH = 8
MAX_PHRASES = 32
MAX_WORDS = 16
MIN_PREFIX = 3

_QUOTES = {'"': '"', "“": "”", "”": "”", "«": "»"}
_SPECIAL = set("()") | set(_QUOTES) | set(_QUOTES.values())
_NEAR = re.compile(r"NEAR(?:/(\w*))?")
_FIELD = re.compile(r"([A-Za-z]+):")
_FIELDS: dict[str, Field] = {"title": "title", "body": "body"}


@dataclass(frozen=True, slots=True)
class _Lexeme:
    kind: str  # word quoted ( ) OR AND NOT NEAR - field end
    text: str
    start: int
    end: int
    distance: int = 0


def parse_query(query: str, *, slop: int = DEFAULT_SLOP, synonyms: Synonyms | None = None) -> Node:
    """The checked tree a query stands for; :class:`QuerySyntaxError` says where and why
    when there is none."""
    if len(query) > MAX_QUERY_LENGTH:
        raise QuerySyntaxError(
            f"query is too long ({len(query)} characters, at most {MAX_QUERY_LENGTH})",
            query,
            MAX_QUERY_LENGTH,
        )
    parser = _Parser(query, _lex(query), slop, synonyms or Synonyms.empty())
    return parser.parse()


def _lex(query: str) -> list[_Lexeme]:
    lexemes: list[_Lexeme] = []
    position, length = 0, len(query)
    while position < length:
        char = query[position]
        if char.isspace():
            position += 1
        elif char in "()":
            lexemes.append(_Lexeme(char, char, position, position + 1))
            position += 1
        elif char in _QUOTES:
            close = query.find(_QUOTES[char], position + 1)
            if close < 0:
                raise QuerySyntaxError(
                    f"this quote is never closed: expected a closing {_QUOTES[char]}",
                    query,
                    position,
                )
            lexemes.append(_Lexeme("quoted", query[position + 1 : close], position, close + 1))
            position = close + 1
        elif char in _SPECIAL:
            raise QuerySyntaxError(f"unexpected {char}: it closes no quote", query, position)
        elif char == "-" and position + 1 < length and not query[position + 1].isspace():
            lexemes.append(_Lexeme("-", char, position, position + 1))
            position += 1
        else:
            end = position
            while end < length and not query[end].isspace() and query[end] not in _SPECIAL:
                end += 1
            lexemes.extend(_classify(query, position, end))
            position = end
    lexemes.append(_Lexeme("end", "", length, length))
    return lexemes


def _classify(query: str, start: int, end: int) -> list[_Lexeme]:
    text = query[start:end]
    if text in ("OR", "AND", "NOT"):
        return [_Lexeme(text, text, start, end)]
    near = _NEAR.fullmatch(text)
    if near:
        return [_Lexeme("NEAR", text, start, end, _near_distance(query, start, near.group(1)))]
    field = _FIELD.match(text)
    if field:
        name = field.group(1).lower()
        if name not in _FIELDS:
            raise QuerySyntaxError(
                f"unknown field {field.group(0)!r}: expected title: or body:", query, start
            )
        lexemes = [_Lexeme("field", name, start, start + len(field.group(0)))]
        if len(text) > len(field.group(0)):
            lexemes.append(_Lexeme("word", text[len(field.group(0)) :], lexemes[0].end, end))
        return lexemes
    return [_Lexeme("word", text, start, end)]


def _near_distance(query: str, start: int, written: str | None) -> int:
    if written is None:
        return DEFAULT_NEAR
    if not written.isdigit() or not 1 <= int(written) <= MAX_NEAR:
        raise QuerySyntaxError(
            f"NEAR/{written}: expected a number of words from 1 to {MAX_NEAR}, as in NEAR/5",
            query,
            start + 5,
        )
    return int(written)


class _Parser:
    """Recursive descent over the lexemes; each method returns a node and its start."""

    def __init__(self, query: str, lexemes: list[_Lexeme], slop: int, synonyms: Synonyms):
        self.query = query
        self.lexemes = lexemes
        self.at = 0
        self.slop = slop
        self.synonyms = synonyms
        self.depth = 0
        self.phrases = 0

    def error(self, message: str, position: int) -> QuerySyntaxError:
        return QuerySyntaxError(message, self.query, position)

    @property
    def current(self) -> _Lexeme:
        return self.lexemes[self.at]

    def take(self) -> _Lexeme:
        lexeme = self.lexemes[self.at]
        self.at += 1
        return lexeme

    def parse(self) -> Node:
        if self.current.kind == "end":
            raise self.error("empty query: it has no words to look for", 0)
        node = self.or_expr(None)
        if self.current.kind == ")":
            raise self.error("this ) closes no (", self.current.start)
        if self.current.kind != "end":  # pragma: no cover - or_expr consumes up to ) or end
            raise self.error("unexpected text", self.current.start)
        if not is_positive(node):
            raise self.error(
                "nothing to look for: a query made only of NOT would match almost every "
                "article; add what must appear, as in: طائرة مسيرة -احتجاجية",
                0,
            )
        return node

    def or_expr(self, field: Field | None) -> Node:
        starts = [self.current.start]
        children = [self.and_expr(field)]
        while self.current.kind == "OR":
            operator = self.take()
            starts.append(self.current.start)
            children.append(self.and_expr(field, after=operator))
        if len(children) == 1:
            return children[0]
        for child, start in zip(children, starts, strict=True):
            if not is_positive(child):
                raise self.error(
                    "NOT inside OR would match almost every article; put the exclusion "
                    "outside the OR, as in: (A OR B) -C",
                    start,
                )
        return Or(tuple(children))

    def and_expr(self, field: Field | None, after: _Lexeme | None = None) -> Node:
        start = self.current.start
        children = [self.near_expr(field, after)]
        while self.current.kind not in ("OR", ")", "end"):
            operator = self.take() if self.current.kind == "AND" else None
            children.append(self.near_expr(field, operator))
        if len(children) == 1:
            return children[0]
        if not any(is_positive(child) for child in children):
            raise self.error(
                "nothing to look for here: every part is excluded with NOT or -", start
            )
        return And(tuple(children))

    def near_expr(self, field: Field | None, after: _Lexeme | None) -> Node:
        start = self.current.start
        node = self.unary(field, after)
        while self.current.kind == "NEAR":
            operator = self.take()
            right_start = self.current.start
            right = self.unary(field, operator)
            left = self.near_operand(node, start)
            node = Near(left, self.near_operand(right, right_start), operator.distance, field)
        return node

    def near_operand(self, part: Node, position: int) -> Positional:
        """``part`` as a NEAR operand, or the error at ``position`` saying why not."""
        if is_positional(part):
            return part
        raise self.error(
            "NEAR joins words, phrases or OR groups of them; NOT and AND cannot be near something",
            position,
        )

    def unary(self, field: Field | None, after: _Lexeme | None) -> Node:
        lexeme = self.current
        if lexeme.kind in ("NOT", "-"):
            self.take()
            return Not(self.unary(field, lexeme))
        if lexeme.kind == "field":
            self.take()
            scope = _FIELDS[lexeme.text]
            if field is not None and field != scope:
                raise self.error(
                    f"{lexeme.text}: inside {field}:(...) can never match", lexeme.start
                )
            return self.atom(scope, lexeme)
        return self.atom(field, after)

    def atom(self, field: Field | None, after: _Lexeme | None) -> Node:
        lexeme = self.current
        if lexeme.kind == "(":
            self.take()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error(f"parentheses nest deeper than {MAX_DEPTH}", lexeme.start)
            if self.current.kind == ")":
                raise self.error("empty parentheses: expected a query inside", lexeme.start)
            node = self.or_expr(field)
            if self.current.kind != ")":
                raise self.error(
                    f"this ( is never closed: expected ) before {self._describe(self.current)}",
                    lexeme.start,
                )
            self.take()
            self.depth -= 1
            return node
        if lexeme.kind == "quoted":
            self.take()
            words = [
                (match.group(), lexeme.start + 1 + match.start())
                for match in re.finditer(r"\S+", lexeme.text)
            ]
            if not words:
                raise self.error("empty quotes: expected words inside", lexeme.start)
            return self.phrase(words, 0, field, lexeme.start)
        if lexeme.kind == "word":
            words = []
            while self.current.kind == "word":
                word = self.take()
                words.append((word.text, word.start))
            return self.phrase(words, self.slop, field, lexeme.start)
        what = "a word, a quoted phrase or ("
        if after is None:
            raise self.error(f"expected {what}, found {self._describe(lexeme)}", lexeme.start)
        raise self.error(
            f"expected {what} after {after.text}, found {self._describe(lexeme)}", lexeme.start
        )

    def phrase(
        self, words: list[tuple[str, int]], slop: int, field: Field | None, start: int
    ) -> Node:
        terms = [term for text, position in words for term in self.terms(text, position)]
        if not terms:
            raise self.error(
                "expected a word here, found only punctuation: the query has nothing to look for",
                start,
            )
        if len(terms) > MAX_WORDS:
            raise self.error(
                f"a phrase may have at most {MAX_WORDS} words; this one has {len(terms)}",
                start,
            )
        if all(term.stopword for term in terms):
            raise self.error(
                "this part of the query has only common words (في، من، the ...), which would match "
                "almost every article",
                start,
            )
        self.phrases += 1
        if self.phrases > MAX_PHRASES:
            raise self.error(f"a query may have at most {MAX_PHRASES} phrases", start)
        text = " ".join(text for text, _ in words)
        phrase = Phrase(tuple(terms), slop, field, text)
        alternatives = self.synonyms.alternatives(terms)
        if not alternatives:
            return phrase
        return Or((phrase, *(Phrase(alt, slop, field, text) for alt in alternatives)))

    def terms(self, text: str, position: int) -> list[Term]:
        exact = text.startswith("=")
        prefix = text.endswith("*")
        core = text[1 if exact else 0 : len(text) - 1 if prefix else len(text)]
        star = core.find("*")
        if star >= 0:
            raise self.error(
                "a * may only end a word (prefix search, as in مسير*)",
                position + (1 if exact else 0) + star,
            )
        tokens = tokenize(core)
        terms: list[Term] = []
        for number, token in enumerate(tokens):
            stopword = token.norm in STOPWORDS
            if prefix and number == len(tokens) - 1:
                stem = _prefix_stem(token.norm)
                if len(stem) < MIN_PREFIX:
                    raise self.error(
                        f"a prefix needs at least {MIN_PREFIX} letters before the *, "
                        "or it would match too many words",
                        position,
                    )
                terms.append(Term(token.text, "prefix", frozenset({"*" + stem})))
            elif exact:
                terms.append(
                    Term(token.text, "exact", frozenset({strict_key(token.norm)}), stopword)
                )
            else:
                keys = query_keys(token.norm) | self.synonyms.word_keys(token.norm)
                terms.append(Term(token.text, "stem", keys, stopword))
        return terms

    @staticmethod
    def _describe(lexeme: _Lexeme) -> str:
        if lexeme.kind == "end":
            return "the end of the query"
        return repr(lexeme.text) if lexeme.kind != "quoted" else "a quoted phrase"


def _prefix_stem(norm: str) -> str:
    """A prefix is compared with text stems, which have lost their article."""
    if norm.startswith("ال") and len(norm) - 2 >= MIN_PREFIX:
        return norm[2:]
    return norm
