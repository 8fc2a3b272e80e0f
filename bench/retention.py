"""Pruning by [retention] and `rasid db stats` on a database of ``--articles`` articles.

The database is filled as ingest leaves it, in bulk: articles fetched evenly over the
last ``--days`` days, each with the seed article's body (6 KB), a summary, a 512-byte
story signature and three dedup keys; every tenth matched a watchlist, its alert
delivered. Settings: the defaults ([retention] article_bodies 90d, matches 365d,
delivered_alerts 90d) with ``articles = "180d"``, so that bodies, alerts and whole
articles all have something to prune.

Measured, each in one run: `rasid db stats` (the App's method), a dry run, the prune
itself (wall and this process's CPU; PostgreSQL's own CPU is not in it), the longest
single transaction (how long ingest may wait for the write lock), and a second prune
with nothing left to do (the cost of each hourly run once caught up). Then the
database's size and free pages.

    .venv/bin/python bench/retention.py [--articles 100000] [--days 200] [--database URL]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alert_delivery import fresh_database
from sqlalchemy import insert, select

from monitor.config import settings_from_mapping
from monitor.db.models import Article, DedupKey, Match, OutboxAlert, Source, Watchlist
from monitor.db.session import Database
from monitor.db.stats import database_stats
from monitor.retention import PruneReport, prune

SEED = (
    Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "seed" / "ain-al-asad-drones.txt"
)
CHUNK = 5000


def fill(db: Database, articles: int, days: int, now: datetime) -> None:
    title, _, body = SEED.read_text(encoding="utf-8").partition("\n")
    signature = bytes(512)
    step = timedelta(days=days) / articles
    with db.connection() as connection:
        source = connection.execute(
            insert(Source.__table__).returning(Source.id),
            {
                "name": "wire",
                "url": "https://wire.example/feed",
                "kind": "feed",
                "origin": "cli",
                "enabled": True,
                "interval_seconds": 600,
                "next_poll_at": now,
                "failure_count": 0,
                "entries_seen": 0,
                "articles_stored": 0,
                "created_at": now,
            },
        ).scalar_one()
        watchlist = connection.execute(
            insert(Watchlist.__table__).returning(Watchlist.id),
            {
                "name": "drones",
                "origin": "cli",
                "enabled": True,
                "slop": 1,
                "urgent": False,
                "created_at": now,
                "updated_at": now,
            },
        ).scalar_one()
    for start in range(0, articles, CHUNK):
        numbers = range(start, min(start + CHUNK, articles))
        fetched = [now - timedelta(days=days) + step * number for number in numbers]
        with db.connection() as connection:
            ids = (
                connection.execute(
                    insert(Article.__table__).returning(Article.id, sort_by_parameter_order=True),
                    [
                        {
                            "source_id": source,
                            "url": f"https://wire.example/{number}",
                            "guid": f"wire-{number}",
                            "title": f"{title} {number}",
                            "body": body,
                            "summary": body[:400],
                            "extraction": "page",
                            "content_hash": f"{number:064x}",
                            "fetched_at": at,
                            "minhash": signature,
                        }
                        for number, at in zip(numbers, fetched, strict=True)
                    ],
                )
                .scalars()
                .all()
            )
            connection.execute(
                insert(DedupKey.__table__),
                [
                    {"key": f"{kind}{number:063x}", "kind": kind, "article_id": article_id}
                    for number, article_id in zip(numbers, ids, strict=True)
                    for kind in ("u", "g", "h")
                ],
            )
            matched = [
                (article_id, at)
                for number, article_id, at in zip(numbers, ids, fetched, strict=True)
                if number % 10 == 0
            ]
            if not matched:
                continue
            match_ids = (
                connection.execute(
                    insert(Match.__table__).returning(Match.id, sort_by_parameter_order=True),
                    [
                        {
                            "article_id": article_id,
                            "watchlist_id": watchlist,
                            "highlights": [
                                {
                                    "query": "طائرة",
                                    "text": "طائرة",
                                    "field": "body",
                                    "start": 10,
                                    "end": 15,
                                }
                            ],
                            "alerted": True,
                            "created_at": at,
                        }
                        for article_id, at in matched
                    ],
                )
                .scalars()
                .all()
            )
            connection.execute(
                insert(OutboxAlert.__table__),
                [
                    {
                        "alert_id": f"msg_{match_id}",
                        "kind": "match",
                        "match_id": match_id,
                        "watchlist_id": watchlist,
                        "channel": "desk",
                        "urgent": False,
                        "payload": {"snippet": body[:280]},
                        "status": "sent",
                        "attempts": 1,
                        "next_attempt_at": at,
                        "created_at": at,
                        "sent_at": at,
                    }
                    for match_id, (_, at) in zip(match_ids, matched, strict=True)
                ],
            )


@contextmanager
def longest_transaction(db: Database) -> Iterator[list[float]]:
    """Times every transaction ``db`` opens meanwhile; yields the list it fills."""
    times: list[float] = []
    opened = db.connection

    @contextmanager
    def timed() -> Iterator[Any]:
        started = time.perf_counter()
        with opened() as connection:
            yield connection
        times.append(time.perf_counter() - started)

    db.connection = timed  # type: ignore[method-assign]  # a bench's own probe
    try:
        yield times
    finally:
        db.connection = opened  # type: ignore[method-assign]


def timed_prune(
    db: Database, settings: Any, now: datetime, dry_run: bool
) -> tuple[PruneReport, float, float, float]:
    with longest_transaction(db) as times:
        cpu = time.process_time()
        wall = time.perf_counter()
        report = prune(db, settings, now, dry_run=dry_run)
        wall = time.perf_counter() - wall
        cpu = time.process_time() - cpu
    return report, wall, cpu, max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=200)
    parser.add_argument("--database", help="a PostgreSQL URL (default: a SQLite file)")
    args = parser.parse_args()
    now = datetime.now(UTC).replace(microsecond=0)
    with (
        tempfile.TemporaryDirectory() as folder,
        fresh_database(args.database, Path(folder), "retention") as db,
    ):
        settings = settings_from_mapping(
            {"retention": {"articles": "180d"}}, Path(folder) / "settings.toml", env={}
        )
        started = time.perf_counter()
        fill(db, args.articles, args.days, now)
        print(
            f"filled {args.articles:,} articles over {args.days} days "
            f"in {time.perf_counter() - started:.1f} s ({db.engine.dialect.name})"
        )
        began = time.perf_counter()
        before = database_stats(db, now)
        stats_seconds = time.perf_counter() - began
        dry, dry_wall, dry_cpu, _ = timed_prune(db, settings, now, dry_run=True)
        real, wall, cpu, longest = timed_prune(db, settings, now, dry_run=False)
        again, again_wall, again_cpu, _ = timed_prune(db, settings, now, dry_run=False)
        after = database_stats(db, now)
        with db.connection() as connection:
            left = connection.execute(select(Article.id).limit(1)).first()
    rows = [
        ("db stats", f"{stats_seconds:.2f} s", "", f"{before.size_bytes / 2**20:,.0f} MiB"),
        ("dry run", f"{dry_wall:.2f} s", f"{dry_cpu:.2f} s", f"{dry.total:,} rows counted"),
        (
            "prune",
            f"{wall:.2f} s",
            f"{cpu:.2f} s",
            f"{real.total:,} rows, longest transaction {longest * 1000:.0f} ms",
        ),
        ("prune again", f"{again_wall:.3f} s", f"{again_cpu:.3f} s", f"{again.total} rows"),
    ]
    print(f"{'':12} {'wall':>9} {'cpu':>9}  notes")
    for name, wall_text, cpu_text, note in rows:
        print(f"{name:12} {wall_text:>9} {cpu_text:>9}  {note}")
    print(
        f"pruned: {real.delivered_alerts:,} alerts, {real.matches:,} matches, "
        f"{real.article_bodies:,} bodies, {real.articles:,} articles; "
        f"dry run equal: {dry.total == real.total}; articles left: {left is not None}"
    )
    free = f", {after.free_bytes / 2**20:,.0f} MiB of it free pages" if after.free_bytes else ""
    print(f"size after: {after.size_bytes / 2**20:,.0f} MiB{free}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
