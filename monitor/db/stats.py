"""How big the database is, table by table, and how fast it grows (``rasid db stats``).

Sizes come from the engine itself:

* PostgreSQL: ``pg_total_relation_size`` of each table of the schema (its indexes and
  TOAST included), ``pg_database_size`` of the database, and the dead rows autovacuum
  has yet to clear (``pg_stat_user_tables.n_dead_tup``).
* SQLite: the ``dbstat`` virtual table when SQLite was built with it (each table's pages
  and its indexes'); otherwise the used pages (``page_count - freelist_count``) shared
  out between the tables by an estimate of their rows' bytes, said so (``sizes``). The
  free pages (left by deletes, reused before the file grows) and the WAL file are shown
  apart: pruning frees pages, only VACUUM gives them back to the file system.

*Growth* is the rows a table gained per day over the last ``days`` days, read from the
time each row was made (an article's fetch, a match, an alert, a frontier entry); the
tables without such a time (dedup keys, the search index) grow with the articles, at
their own rows per article. Bytes per day multiply that by the bytes a recent row
takes: for articles, the table's bytes per row scaled by how much more text a recent
article carries than the average one (older bodies may have been pruned).

Row counts are exact (``count(*)``), except PostgreSQL tables its statistics put over a
million rows, where the planner's estimate is shown (a count would read the table).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, LargeBinary, cast, func, literal, select, text
from sqlalchemy import table as table_named

from monitor.db.models import (
    SEARCH_TABLE,
    Article,
    Base,
    FrontierEntry,
    Match,
    OutboxAlert,
)
from monitor.db.session import Database

GROWTH_DAYS = 7
# Above this many rows (by PostgreSQL's statistics) a table's rows are estimated.
EXACT_COUNT_MAX = 1_000_000
# Rows read per table to estimate bytes per row when SQLite has no dbstat, and what a
# row costs besides its values (its header and rowid in the b-tree, about).
SAMPLE_ROWS = 1000
_ROW_OVERHEAD = 24

# The tables whose rows say when they were made.
_MADE_AT: dict[str, Any] = {
    "articles": Article.fetched_at,
    "matches": Match.created_at,
    "alert_outbox": OutboxAlert.created_at,
    "frontier": FrontierEntry.discovered_at,
}
# Tables that grow with the articles (one row or several per article).
_WITH_ARTICLES = ("dedup_keys", "pending_terms", SEARCH_TABLE)
# What an article's text weighs, to compare recent articles with all of them.
_TEXT_BYTES = {
    "sqlite": "length(CAST(title AS BLOB)) + length(CAST(body AS BLOB))"
    " + length(CAST(summary AS BLOB)) + coalesce(length(minhash), 0)",
    "postgresql": "octet_length(title) + octet_length(body) + octet_length(summary)"
    " + coalesce(octet_length(minhash), 0)",
}

SizeSource = Literal["pg_total_relation_size", "dbstat", "estimate"]


@dataclass(frozen=True)
class TableStats:
    """One table: rows, bytes (with its indexes), rows and bytes added per day."""

    name: str
    rows: int
    rows_estimated: bool
    bytes: int | None
    rows_per_day: float | None
    bytes_per_day: float | None
    # PostgreSQL: rows deleted or updated that autovacuum has not cleared yet.
    dead_rows: int | None = None


@dataclass(frozen=True)
class DatabaseStats:
    """The database as a whole and each of rasid's tables, largest first."""

    engine: Literal["sqlite", "postgresql"]
    # SQLite: its pages (in the file and its WAL); PostgreSQL: the whole database,
    # every schema in it.
    size_bytes: int
    # SQLite: pages free inside the file (reused first; VACUUM gives them back), and
    # the write-ahead log beside it.
    free_bytes: int | None
    wal_bytes: int | None
    sizes: SizeSource
    tables: list[TableStats]
    days: int
    rows_per_day: float
    bytes_per_day: float | None
    measured_at: datetime
    seconds: float


def database_stats(db: Database, now: datetime, *, use_dbstat: bool = True) -> DatabaseStats:
    """Measure ``db`` at ``now``; ``use_dbstat=False`` takes SQLite's estimate even when
    dbstat is there (as on an SQLite built without it)."""
    import time

    started = time.perf_counter()
    since = now - timedelta(days=GROWTH_DAYS)
    with db.connection() as connection:
        if db.is_sqlite:
            measured = _sqlite_sizes(connection, db, use_dbstat)
        else:
            measured = _postgres_sizes(connection)
        tables = _tables(connection, measured, since)
    total_rows = sum(table.rows_per_day or 0 for table in tables)
    known = [table.bytes_per_day for table in tables if table.bytes_per_day is not None]
    return DatabaseStats(
        engine="sqlite" if db.is_sqlite else "postgresql",
        size_bytes=measured.size,
        free_bytes=measured.free,
        wal_bytes=measured.wal,
        sizes=measured.source,
        tables=sorted(tables, key=lambda table: (-(table.bytes or 0), -table.rows, table.name)),
        days=GROWTH_DAYS,
        rows_per_day=total_rows,
        bytes_per_day=sum(known) if known else None,
        measured_at=now,
        seconds=time.perf_counter() - started,
    )


@dataclass
class _Measured:
    size: int
    free: int | None
    wal: int | None
    source: SizeSource
    # table -> bytes (None: unknown), and PostgreSQL's row estimates and dead rows.
    bytes: dict[str, int | None]
    estimated_rows: dict[str, int]
    dead: dict[str, int]


def _table_names() -> list[str]:
    return [*sorted(Base.metadata.tables), SEARCH_TABLE]


def _postgres_sizes(connection: Connection) -> _Measured:
    rows: Sequence[Any] = connection.execute(
        text(
            "SELECT c.relname, pg_total_relation_size(c.oid), c.reltuples::bigint, "
            "coalesce(s.n_dead_tup, 0) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')"
        )
    ).all()
    size: int = connection.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    return _Measured(
        size=int(size),
        free=None,
        wal=None,
        source="pg_total_relation_size",
        bytes={name: int(total) for name, total, _, _ in rows},
        estimated_rows={name: int(tuples) for name, _, tuples, _ in rows},
        dead={name: int(dead) for name, _, _, dead in rows},
    )


def _sqlite_sizes(connection: Connection, db: Database, use_dbstat: bool) -> _Measured:
    page_size, pages, free_pages = (
        int(connection.exec_driver_sql(f"PRAGMA {pragma}").scalar_one())
        for pragma in ("page_size", "page_count", "freelist_count")
    )
    # The database as SQLite reads it: pages still in the WAL, not yet written back to
    # the main file, count too.
    size = pages * page_size
    database = db.engine.url.database or ""
    wal = None
    if database and not database.startswith(":"):
        log = Path(f"{database}-wal")
        wal = log.stat().st_size if log.exists() else 0
    sized = _dbstat(connection) if use_dbstat else None
    source: SizeSource = "dbstat"
    if sized is None:
        sized = _estimated(connection, (pages - free_pages) * page_size)
        source = "estimate"
    return _Measured(size, free_pages * page_size, wal, source, sized, {}, {})


def _dbstat(connection: Connection) -> dict[str, int | None] | None:
    """Each table's pages and its indexes' (an FTS5 table's shadow tables with it);
    None when SQLite was built without dbstat."""
    from sqlalchemy.exc import OperationalError

    try:
        pages: Sequence[Any] = connection.exec_driver_sql(
            "SELECT m.tbl_name, m.name, d.pgsize FROM "
            "(SELECT name, sum(pgsize) AS pgsize FROM dbstat GROUP BY name) d "
            "JOIN sqlite_master m ON m.name = d.name"
        ).all()
    except OperationalError:
        return None
    found: dict[str, int | None] = {}
    for owner, _name, size in pages:
        owner = SEARCH_TABLE if owner.startswith(f"{SEARCH_TABLE}_") else owner
        found[owner] = (found.get(owner) or 0) + int(size)
    return found


def _estimated(connection: Connection, used: int) -> dict[str, int | None]:
    """The used bytes shared between the tables by their rows' sampled bytes; the
    search index (no readable columns) gets what the sample leaves unexplained."""
    weights: dict[str, float] = {}
    for name, mapped in Base.metadata.tables.items():
        sample = select(mapped).limit(SAMPLE_ROWS).subquery()
        row_bytes = sum(
            (func.coalesce(func.length(cast(column, LargeBinary)), 0) for column in sample.c),
            literal(_ROW_OVERHEAD),
        )
        sampled, average = connection.execute(
            select(func.count(), func.avg(row_bytes).label("average"))
        ).one()
        weights[name] = float(str(average or 0)) * _count(connection, name) if sampled else 0.0
    explained = sum(weights.values())
    found: dict[str, int | None] = {}
    if explained <= used:
        found = {name: int(weight) for name, weight in weights.items()}
        found[SEARCH_TABLE] = used - int(explained)
    else:
        found = {name: int(weight * used / explained) for name, weight in weights.items()}
        found[SEARCH_TABLE] = 0
    return found


def _tables(connection: Connection, measured: _Measured, since: datetime) -> list[TableStats]:
    postgres = connection.dialect.name == "postgresql"
    counts: dict[str, tuple[int, bool]] = {}
    for name in _table_names():
        if name not in measured.bytes and postgres:
            continue  # not in this schema (never: migrations made it)
        estimate = measured.estimated_rows.get(name, 0)
        if estimate > EXACT_COUNT_MAX:
            counts[name] = (estimate, True)
        else:
            counts[name] = (_count(connection, name), False)
    days = float(GROWTH_DAYS)
    per_day: dict[str, float] = {}
    for name, column in _MADE_AT.items():
        added = connection.execute(select(func.count()).where(column >= since)).scalar_one()
        per_day[name] = added / days
    articles = counts.get("articles", (0, False))[0]
    for name in _WITH_ARTICLES:
        rows = counts.get(name, (0, False))[0]
        per_day[name] = per_day["articles"] * (rows / articles) if articles else 0.0
    weight = _recent_weight(connection, since)
    found = []
    for name, (rows, estimated) in counts.items():
        size = measured.bytes.get(name)
        rate = per_day.get(name)
        bytes_per_day = None
        if size is not None and rate is not None and rows:
            bytes_per_day = rate * size / rows * (weight if name == "articles" else 1.0)
        elif rate == 0:
            bytes_per_day = 0.0
        found.append(
            TableStats(
                name=name,
                rows=rows,
                rows_estimated=estimated,
                bytes=size,
                rows_per_day=rate,
                bytes_per_day=bytes_per_day,
                dead_rows=measured.dead.get(name) if postgres else None,
            )
        )
    return found


def _count(connection: Connection, name: str) -> int:
    counted = select(func.count()).select_from(table_named(name))
    return int(connection.execute(counted).scalar_one())


def _recent_weight(connection: Connection, since: datetime) -> float:
    """How many times the text of an article of the last days outweighs the average
    stored article's (1 when there are none: nothing to scale)."""
    weight = text(_TEXT_BYTES[connection.dialect.name])
    overall = connection.execute(select(func.avg(weight)).select_from(Article)).scalar()
    recent = connection.execute(
        select(func.avg(weight)).select_from(Article).where(Article.fetched_at >= since)
    ).scalar()
    if not overall or recent is None:
        return 1.0
    return float(recent) / float(overall)
