"""The archive of stored articles, searchable by the matcher's own word stems.

Every stored article gets a row in ``article_terms``: the set of light stems of its
words (what :func:`monitor.arabic.stem.text_keys` gives) plus each normalized word. A
query is turned into a full-text expression over those terms that every match must
satisfy (each phrase needs all its words; OR needs one branch; NOT is left to the
verifier), so a backtest reads only candidate articles and runs the real matcher on them.
The same expression works on SQLite FTS5 and PostgreSQL tsquery.

An article's terms are written in its own transaction, but to a plain queue
(``pending_terms``); :func:`index_pending` moves them into the index in batches.
Inserting into SQLite's FTS5 index article by article made it flush a new segment per
transaction, the largest single cost of storing an article (docs/benchmarks.md); in
batches of hundreds that cost all but vanishes. A backtest first empties the queue, so
it sees every stored article.

The SQLite table is contentless (it stores no text, only which article has which term),
so it cannot forget one article: terms of a deleted article stay behind. That only adds
candidates; the matcher, reading the articles themselves, never reports them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from itertools import chain

from sqlalchemy import Connection, delete, insert, select, text

from monitor.arabic.stem import text_keys
from monitor.arabic.tokenize import normalized_words
from monitor.arabic.variants import CANONICAL
from monitor.db.models import Article, PendingTerms, Source
from monitor.db.session import Database
from monitor.matching import CompiledQuery, Hit
from monitor.matching.syntax import And, Near, Node, Not, Or, Phrase, Term

BATCH = 500

Progress = Callable[[int, int], None]

_PENDING = PendingTerms.__table__
_QUEUE = insert(_PENDING)


@dataclass(frozen=True)
class ArchiveMatch:
    article_id: int
    url: str
    title: str
    source: str | None
    published_at: datetime | None
    fetched_at: datetime
    hits: list[Hit]


def search_terms(*texts: str) -> str:
    """The space-separated terms an article is indexed under."""
    return terms_of(normalized_words(*texts))


def terms_of(words: list[str]) -> str:
    """:func:`search_terms` of an article's normalized words: each word and its stems,
    in no particular order (the index does not keep one)."""
    return " ".join(set(chain.from_iterable(map(_word_terms, set(words)))))


@lru_cache(maxsize=200_000)
def _word_terms(norm: str) -> tuple[str, ...]:
    """A word and its stems (cached as text_keys is: news vocabulary repeats)."""
    return (norm, *text_keys(norm))


def store_terms(connection: Connection, rows: list[dict[str, object]]) -> None:
    """Queue articles' terms (``article_id``, ``terms``) for the index, in the
    transaction that stores them."""
    connection.execute(_QUEUE, rows)


def index_pending(db: Database, limit: int = BATCH) -> int:
    """Move up to ``limit`` queued articles' terms into the index (one transaction);
    returns how many. Instances sharing a PostgreSQL each take rows the others do not."""
    with db.connection() as connection:
        rows = connection.execute(
            select(PendingTerms.article_id, PendingTerms.terms)
            .order_by(_PENDING.c.article_id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        if not rows:
            return 0
        _write_index(connection, [(article_id, terms) for article_id, terms in rows])
        connection.execute(
            delete(_PENDING).where(_PENDING.c.article_id.in_([row[0] for row in rows]))
        )
    return len(rows)


def _write_index(connection: Connection, rows: list[tuple[int, str]]) -> None:
    if connection.dialect.name == "sqlite":
        statement = "INSERT INTO article_terms (rowid, terms) VALUES (:id, :terms)"
    else:
        statement = (
            "INSERT INTO article_terms (article_id, terms) "
            "VALUES (:id, strip(to_tsvector('simple', :terms))) ON CONFLICT DO NOTHING"
        )
    connection.execute(text(statement), [{"id": key, "terms": terms} for key, terms in rows])


def index_queued(db: Database) -> int:
    """Empty the queue, a batch per transaction; returns how many articles were indexed."""
    indexed = 0
    while moved := index_pending(db):
        indexed += moved
    return indexed


def catch_up(db: Database, progress: Progress | None = None) -> int:
    """Index everything stored: the queue, then articles stored before the index existed;
    returns how many articles were indexed."""
    return index_queued(db) + index_missing(db, progress)


def index_missing(db: Database, progress: Progress | None = None) -> int:
    """Index stored articles that have no terms yet (stored before the index existed)."""
    with db.connection() as connection:
        if connection.dialect.name == "sqlite":
            missing = (
                "SELECT id FROM articles WHERE id NOT IN (SELECT rowid FROM article_terms) "
                "AND id NOT IN (SELECT article_id FROM pending_terms)"
            )
        else:
            missing = (
                "SELECT id FROM articles a WHERE NOT EXISTS "
                "(SELECT 1 FROM article_terms t WHERE t.article_id = a.id) AND NOT EXISTS "
                "(SELECT 1 FROM pending_terms p WHERE p.article_id = a.id)"
            )
        ids = [row[0] for row in connection.execute(text(missing))]
    for done in range(0, len(ids), BATCH):
        batch = ids[done : done + BATCH]
        with db.connection() as connection:
            rows = connection.execute(
                select(Article.id, Article.title, Article.body).where(Article.id.in_(batch))
            )
            _write_index(
                connection,
                [(article_id, search_terms(title, body)) for article_id, title, body in rows],
            )
        if progress:
            progress(min(done + BATCH, len(ids)), len(ids))
    return len(ids)


def candidate_expression(tree: Node, dialect: str) -> str:
    """A full-text expression every article matching ``tree`` satisfies."""
    if dialect == "sqlite":
        return _expression(tree, _FTS5)
    return _expression(tree, _TSQUERY)


@dataclass(frozen=True)
class _Syntax:
    and_: str
    or_: str
    word: Callable[[str], str]
    prefix: Callable[[str], str]


_FTS5 = _Syntax(" AND ", " OR ", lambda key: f'"{key}"', lambda key: f'"{key}"*')
_TSQUERY = _Syntax(" & ", " | ", lambda key: f"'{key}'", lambda key: f"'{key}':*")


def _expression(node: Node, syntax: _Syntax) -> str:
    if isinstance(node, Phrase):
        return syntax.and_.join(_term(term, syntax) for term in node.terms)
    if isinstance(node, Near):
        return f"({_expression(node.left, syntax)}){syntax.and_}({_expression(node.right, syntax)})"
    if isinstance(node, Or):
        return syntax.or_.join(f"({_expression(child, syntax)})" for child in node.children)
    if isinstance(node, And):
        return syntax.and_.join(
            f"({_expression(child, syntax)})"
            for child in node.children
            if not isinstance(child, Not)
        )
    raise ValueError("a negation has no candidates")  # the parser refuses such queries


def _term(term: Term, syntax: _Syntax) -> str:
    if term.mode == "prefix":
        *whole, last = _pieces(next(iter(term.keys))[1:])
        return syntax.and_.join([*map(syntax.word, whole), syntax.prefix(last)])
    words = sorted({word for key in term.keys for word in _indexed_words(key)})
    return "(" + syntax.or_.join(_word(word, syntax) for word in words) + ")"


_PIECE = re.compile(r"[^\W_]+")


def _pieces(word: str) -> list[str]:
    """The runs of letters and digits the full-text tokenizers index a term under.
    Most keys are one run, but NFKC can put punctuation inside a word (½ becomes 1⁄2),
    and a quoted term of two runs is a phrase, which the contentless FTS5 table cannot
    answer; each run is asked for instead (a wider candidate set the matcher narrows)."""
    return _PIECE.findall(word) or [word]


def _word(word: str, syntax: _Syntax) -> str:
    pieces = _pieces(word)
    if len(pieces) == 1:
        return syntax.word(pieces[0])
    return "(" + syntax.and_.join(map(syntax.word, pieces)) + ")"


def _indexed_words(key: str) -> tuple[str, ...]:
    """The indexed terms one of which an article holds where ``key`` occurs. A strict
    key (``=`` + a name or marked word, perhaps with its article) occurs where the word
    less its clitics does: its stems hold it bare (للأسد -> اسد), or as the singular a
    broken plural stands for (الصواريخ -> صاروخ), and the normalized word itself when it
    is one a strip may not leave (الله)."""
    if not key.startswith("="):
        return (key,)
    word = key[1:]
    bare = word[2:] if word.startswith("ال") and len(word) > 3 else word
    return (word, bare, CANONICAL.get(bare, bare))


def backtest(
    db: Database,
    query: CompiledQuery,
    *,
    since: datetime | None = None,
    progress: Progress | None = None,
) -> Iterator[ArchiveMatch]:
    """Stored articles (fetched since ``since``) the query matches, newest first."""
    index_queued(db)
    with db.connection() as connection:
        dialect = connection.dialect.name
        expression = candidate_expression(query.tree, dialect)
        if dialect == "sqlite":
            sql = "SELECT rowid FROM article_terms WHERE article_terms MATCH :expression"
        else:
            sql = (
                "SELECT article_id FROM article_terms "
                "WHERE terms @@ to_tsquery('simple', :expression)"
            )
        candidates = [row[0] for row in connection.execute(text(sql), {"expression": expression})]
    candidates.sort(reverse=True)
    total = len(candidates)
    if progress:
        progress(0, total)
    for done in range(0, total, BATCH):
        batch = candidates[done : done + BATCH]
        statement = (
            select(
                Article.id,
                Article.url,
                Article.title,
                Article.body,
                Source.name,
                Article.published_at,
                Article.fetched_at,
            )
            .outerjoin(Source, Source.id == Article.source_id)
            .where(Article.id.in_(batch))
            .order_by(Article.id.desc())
        )
        if since is not None:
            statement = statement.where(Article.fetched_at >= since)
        with db.connection() as connection:
            rows = connection.execute(statement).all()
        for article_id, url, title, body, source, published, fetched in rows:
            hits = query.search_fields({"title": title, "body": body})
            if hits:
                yield ArchiveMatch(article_id, url, title, source, published, fetched, hits)
        if progress:
            progress(min(done + BATCH, total), total)
