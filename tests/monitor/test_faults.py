"""Database faults under a running service: one log line per outage, nothing
half-written, and the work done once the cause goes away (RELIABILITY.md scenario 44).

The service's own entry points are driven (the crawler's sink: a poll's entries, a
stored article), against real SQLite files and a real PostgreSQL server. A full disk and
a read-only database are played by SQLite itself (``max_page_count``, ``query_only``:
the same errors a full or read-only file system gives, which tests running as root
cannot provoke with permissions); a PostgreSQL restart by cutting every connection to
the real server and refusing new ones for a while.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from crawler.items import ArticleItem, FeedEntry
from crawler.sink import DueSource, PollOutcome
from monitor import sources as source_state
from monitor.config import settings_from_mapping
from monitor.db.session import Database
from monitor.service import Service
from tests.conftest import _postgres_schema_url
from tests.support.tcp_proxy import TcpProxy

FEED = "https://news.example/rss.xml"


def _service(database_url: str, tmp_path: Path) -> Service:
    settings = settings_from_mapping(
        {
            "database": {"url": database_url},
            "sources": [{"name": "news", "url": FEED}],
            "channels": [{"name": "console", "kind": "console"}],
            "watchlists": [{"name": "drones", "queries": ["طائرة مسيرة"]}],
        },
        tmp_path / "settings.toml",
        env={},
    )
    service = Service(settings)
    service.prepare()
    return service


def _source(service: Service) -> DueSource:
    [source] = source_state.claim_due(
        service.db, datetime.now(UTC), lease=service.poll_lease, everything=True
    )
    return source


def _entries(first: int, count: int) -> list[FeedEntry]:
    # Large summaries: each poll's rows need new database pages.
    return [
        FeedEntry(
            url=f"https://news.example/{n}",
            guid=None,
            title=f"إسقاط طائرة مسيرة {n}",
            summary="ملخص طويل " * 2000,
            published_at=datetime.now(UTC),
        )
        for n in range(first, first + count)
    ]


def _poll(service: Service, source: DueSource, first: int, count: int = 3) -> int:
    works = service.discover(
        source, _entries(first, count), feed_url=FEED, outcome=PollOutcome("ok", entries=count)
    )
    for work in works:
        service.ingest(
            ArticleItem(
                source_id=source.id,
                source_name=source.name,
                url=work.entry.url or "",
                link=work.entry.url,
                title=work.entry.title,
                body="أعلنت السلطات إسقاط طائرة مسيرة. " * 50,
                feed_url=FEED,
                frontier_id=work.frontier_id,
            )
        )
    return len(works)


def _count(db: Database, table: str) -> int:
    with db.connection() as connection:
        return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


@contextmanager
def _sqlite_pragma(db: Database, pragma: str) -> Iterator[None]:
    """Every connection of the engine runs ``pragma`` while the block lasts."""

    def apply(dbapi_connection, _record) -> None:
        dbapi_connection.execute(pragma)

    event.listen(db.engine, "connect", apply)
    db.engine.dispose()
    try:
        yield
    finally:
        event.remove(db.engine, "connect", apply)
        db.engine.dispose()


def _outage_lines(caplog: pytest.LogCaptureFixture) -> tuple[list[str], list[str]]:
    records = [r for r in caplog.records if r.name == "monitor.db"]
    assert not any(r.exc_info for r in caplog.records), "a traceback was logged"
    return (
        [r.getMessage() for r in records if r.levelno >= logging.ERROR],
        [r.getMessage() for r in records if "available again" in r.getMessage()],
    )


def _pages(db: Database) -> int:
    with db.connection() as connection:
        return connection.execute(text("PRAGMA page_count")).scalar_one()


FAULTS = {
    # The database may not grow by a page: SQLITE_FULL, as on a full disk.
    "full disk": (lambda db: f"PRAGMA max_page_count = {_pages(db)}", "the disk is full"),
    # Writes refused: SQLITE_READONLY, as on a read-only file or mount.
    "read-only": (lambda db: "PRAGMA query_only = 1", "read-only"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_full_or_read_only_database_is_one_line_and_recovers(tmp_path, caplog, fault):
    pragma, reason = FAULTS[fault]
    service = _service(f"sqlite:///{tmp_path / 'rasid.db'}", tmp_path)
    source = _source(service)
    caplog.set_level(logging.INFO)

    with _sqlite_pragma(service.db, pragma(service.db)):
        failed = [_poll(service, source, first=n * 3) for n in range(10)]
    recovered = _poll(service, source, first=100)

    errors, back = _outage_lines(caplog)
    assert failed == [0] * 10
    assert len(errors) == 1 and reason in errors[0]
    assert len(back) == 1
    assert recovered == 3
    assert (_count(service.db, "articles"), _count(service.db, "frontier")) == (3, 0)
    service.close()


def test_a_deleted_database_file_is_noticed_and_adopted_again_when_put_back(tmp_path, caplog):
    path = tmp_path / "rasid.db"
    service = _service(f"sqlite:///{path}", tmp_path)
    source = _source(service)
    caplog.set_level(logging.INFO)
    aside = tmp_path / "aside"
    aside.mkdir()

    moved = [p for p in tmp_path.glob("rasid.db*") if not p.name.endswith(".lock")]
    for file in moved:
        file.rename(aside / file.name)
    failed = _poll(service, source, first=0)
    still_gone = path.exists()
    for file in moved:
        (aside / file.name).rename(file)
    recovered = _poll(service, source, first=10)

    errors, back = _outage_lines(caplog)
    assert (failed, still_gone) == (0, False)
    assert len(errors) == 1 and "was deleted while rasid was running" in errors[0]
    assert len(back) == 1 and recovered == 3
    assert _count(service.db, "articles") == 3
    service.close()


@pytest.mark.postgres
def test_a_postgresql_restart_is_one_line_and_recovers(tmp_path, caplog):
    schema_url = _postgres_schema_url()
    url = next(schema_url)
    real = make_url(url)
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or 5432).start()
    try:
        through = real.set(port=proxy.port).render_as_string(hide_password=False)
        service = _service(through, tmp_path)
        source = _source(service)
        assert _poll(service, source, first=0) == 3
        caplog.set_level(logging.INFO)

        proxy.stop()  # the server goes away, with every connection
        failed = [_poll(service, source, first=10 + n * 3) for n in range(5)]
        proxy.start()  # and comes back
        recovered = _poll(service, source, first=100)

        errors, back = _outage_lines(caplog)
        assert failed == [0] * 5
        assert len(errors) == 1 and "PostgreSQL" in errors[0]
        assert len(back) == 1 and recovered == 3
        assert (_count(service.db, "articles"), _count(service.db, "frontier")) == (6, 0)
        service.close()
    finally:
        proxy.stop()
        next(schema_url, None)
