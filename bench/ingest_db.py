"""How many articles per second the database part of ingest stores.

The store step as in the service: dedup probe, story, article row, its dedup keys, its
archive terms, matches, outbox rows, and the removal of its frontier entry. Each article
comes from a frontier entry written beforehand (as a poll writes it; not timed).
Articles are built from the real fixture texts (each made unique), a third of them match
a watchlist. Target (issues 2 and 12): >= 1,000 articles/s on SQLite. PostgreSQL is
measured too when reachable.

    .venv/bin/python bench/ingest_db.py [--articles 3000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from crawler.items import ArticleItem, FeedEntry
from crawler.sink import DueSource
from monitor import frontier
from monitor.archive import index_queued
from monitor.clock import SystemClock
from monitor.config import settings_from_mapping
from monitor.db.models import Source
from monitor.db.session import Database
from monitor.ingest import Ingestor
from monitor.watchlists import WatchlistBook, sync_watchlists

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def texts() -> list[str]:
    seed = (FIXTURES / "seed" / "ain-al-asad-drones.txt").read_text(encoding="utf-8")
    quiet = (FIXTURES / "real" / "cnn-arabic_2013-08-03_syria-clashes.expected.txt").read_text(
        encoding="utf-8"
    )
    jawhara = (FIXTURES / "real" / "ant_SK-economy-1-20180218.txt").read_text(encoding="utf-8")
    return [seed, quiet, jawhara]


def items(count: int) -> list[ArticleItem]:
    bodies = texts()
    now = datetime.now(UTC)
    made = []
    for number in range(count):
        body = bodies[number % len(bodies)] + f"\nمرجع {number} {uuid.uuid4().hex}"
        made.append(
            ArticleItem(
                source_id=1,
                source_name="bench",
                url=f"https://news.example/{number}/{uuid.uuid4().hex[:8]}",
                title=f"خبر رقم {number}",
                body=body,
                summary="",
                guid=f"guid-{number}",
                published_at=now - timedelta(minutes=5),
                feed_url="https://news.example/rss.xml",
            )
        )
    return made


def queued(db: Database, batch: list[ArticleItem]) -> list[ArticleItem]:
    """The articles, each with the frontier entry a poll would have written for it."""
    source = DueSource(id=1, name="bench", url="https://news.example/rss.xml")
    entries = [
        FeedEntry(url=item.url, guid=item.guid, title=item.title, summary="") for item in batch
    ]
    with db.connection() as connection:
        found = frontier.discover(
            connection,
            source,
            entries,
            feed_url=source.url,
            now=SystemClock().now(),
            token="bench",
            lease=timedelta(hours=1),
            limit=len(entries),
        )
    ids = {work.entry.url: work.frontier_id for work in found.work}
    return [replace(item, frontier_id=ids[item.url]) for item in batch]


def measure(url: str, count: int) -> tuple[float, float, int]:
    settings = settings_from_mapping(
        {
            "database": {"url": url},
            "channels": [
                {"name": "hook", "kind": "webhook", "url": "https://receiver.example/h"},
                {"name": "console", "kind": "console"},
            ],
            "watchlists": [
                {"name": "drones", "queries": ["طائرة مسيرة"]},
                {"name": "ain", "queries": ["عين الأسد"]},
            ],
        },
        Path("bench.toml"),
        env={},
    )
    db = Database(url)
    db.migrate()
    clock = SystemClock()
    with db.transaction() as session:
        session.add(
            Source(
                id=1,
                name="bench",
                url="https://news.example/rss.xml",
                interval_seconds=600,
                next_poll_at=clock.now(),
                created_at=clock.now(),
            )
        )
        sync_watchlists(session, settings, clock.now())
    book = WatchlistBook(db)
    book.refresh()
    ingestor = Ingestor(db, settings, clock, book)
    batch = queued(db, items(count))
    # The database part alone: prepare() (canonical URL, hashes, matching, payloads) runs
    # before the clock starts; store() is the one transaction per article.
    prepared = [ingestor.prepare(item) for item in batch]
    started, cpu = time.perf_counter(), time.process_time()
    alerts = 0
    for article in prepared:
        alerts += ingestor.store(article).alerts
    # The archive's terms wait in a queue that the service empties in batches.
    index_queued(db)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    duplicates = sum(ingestor.ingest(item).duplicate for item in batch[:200])
    assert duplicates == 200, "every re-ingested article must be a duplicate"
    with db.connection() as connection:
        assert frontier.counts(connection).pending == 0, "every entry must be settled"
    db.dispose()
    return count / elapsed, count / cpu, alerts


def prepare_rate(count: int) -> float:
    """prepare() alone: canonical URL, dedup keys, content hash, matching, payloads."""
    from monitor.matching import compile_watchlists
    from monitor.watchlists import CompiledWatchlists, WatchlistInfo

    class Book:
        current = CompiledWatchlists(
            compile_watchlists({"drones": ["طائرة مسيرة"], "ain": ["عين الأسد"]}),
            {
                name: WatchlistInfo(n, name, (), (), True, "settings")
                for n, name in enumerate(["drones", "ain"], 1)
            },
        )

    settings = settings_from_mapping(
        {"channels": [{"name": "console", "kind": "console"}]}, Path("bench.toml"), env={}
    )
    ingestor = Ingestor(None, settings, SystemClock(), Book())  # type: ignore[arg-type]
    batch = items(count)
    started = time.perf_counter()
    for item in batch:
        ingestor.prepare(item)
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=3000)
    parser.add_argument("--postgres", default=POSTGRES)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        rate, cpu_rate, alerts = measure(f"sqlite:///{folder}/bench.db", args.articles)
        rows.append(("SQLite (file, WAL)", rate, cpu_rate, alerts))
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(args.postgres)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001 - PostgreSQL is optional here
        print(f"(PostgreSQL skipped: {exc})")
    else:
        try:
            rate, cpu_rate, alerts = measure(
                f"{args.postgres}?options=-csearch_path%3D{schema}", args.articles
            )
            rows.append(("PostgreSQL", rate, cpu_rate, alerts))
        finally:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    preparing = prepare_rate(args.articles)
    print(
        f"\nIngest, database part: one transaction per article ({args.articles} articles, 1/3 "
        "matching 2 watchlists x 2 channels)"
    )
    print(
        f"{'database':<22}{'articles/s':>12}{'vs target 1000/s':>20}"
        f"{'per CPU-s':>12}{'outbox rows':>14}"
    )
    for name, rate, cpu_rate, alerts in rows:
        print(f"{name:<22}{rate:>12.0f}{rate / 1000:>19.2f}x{cpu_rate:>12.0f}{alerts:>14}")
    print(f"{'(prepare: CPU part)':<22}{preparing:>12.0f}")
    print("\nrerun: .venv/bin/python bench/ingest_db.py")


if __name__ == "__main__":
    main()
