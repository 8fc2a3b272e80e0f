"""Backtest speed: one query over 100,000 stored articles (target <= 10 s).

Builds a SQLite archive of ``--articles`` articles (the corpus of bench/corpus.py,
repeated with a distinct marker word per copy so every row is its own article), indexes
each under its stems as ingest does, then times ``monitor.archive.backtest`` (candidates
from FTS5, every candidate read and verified by the matcher) for a few queries: rare,
common, and with operators.

    .venv/bin/python bench/backtest.py [--articles 100000] [--keep PATH]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import articles
from sqlalchemy import insert, text

from monitor.archive import backtest, search_terms
from monitor.db.models import Article
from monitor.db.session import Database
from monitor.matching import compile_query

QUERIES = [
    "طائرة مسيرة",
    "الأمم المتحدة",
    '"Ain al-Asad" OR "عين الأسد"',
    "(صاروخ OR قصف) NEAR/5 (سوريا OR العراق)",
    "ترامب -روسيا",
]
BATCH = 2_000


def build(db: Database, count: int) -> float:
    pairs, origin = articles()
    print(f"corpus: {origin}")
    base_terms = [search_terms(title, body) for title, body in pairs]
    now = datetime.now(UTC)
    began = time.perf_counter()
    for start in range(0, count, BATCH):
        rows, terms = [], []
        for number in range(start, min(start + BATCH, count)):
            title, body = pairs[number % len(pairs)]
            marker = f"نسخة{number}"
            rows.append(
                {
                    "id": number + 1,
                    "url": f"https://archive.example/{number}",
                    "title": title,
                    "body": f"{body}\n{marker}",
                    "summary": "",
                    "extraction": "page",
                    "content_hash": f"{number:064d}",
                    "fetched_at": now,
                }
            )
            terms.append({"id": number + 1, "terms": f"{base_terms[number % len(pairs)]} {marker}"})
        with db.connection() as connection:
            connection.execute(insert(Article.__table__), rows)
            connection.execute(
                text("INSERT INTO article_terms (rowid, terms) VALUES (:id, :terms)"), terms
            )
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--keep", help="Build the archive at PATH and keep it.")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(options.keep) if options.keep else Path(scratch) / "archive.db"
        db = Database(f"sqlite:///{path}")
        db.migrate()
        built = build(db, options.articles)
        size = path.stat().st_size / 1e6
        print(f"archive: {options.articles} articles, {size:.0f} MB, built in {built:.0f} s")
        print(f"{'query':<45} {'matches':>8} {'seconds':>8} {'x target':>9}")
        for query in QUERIES:
            compiled = compile_query(query)
            began = time.perf_counter()
            found = sum(1 for _ in backtest(db, compiled))
            seconds = time.perf_counter() - began
            print(f"{query:<45} {found:>8} {seconds:>8.2f} {seconds / 10:>9.2f}")
        db.dispose()
    print("target: <= 10 s per query over 100,000 articles (x target <= 1.00 meets it)")


if __name__ == "__main__":
    main()
