"""Two instances on one PostgreSQL share the story index through the database: a story
alerts once however its copies are split between them."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from monitor.db.models import Match, OutboxAlert
from monitor.db.session import Database
from monitor.ingest import Ingestor, IngestResult
from monitor.watchlists import WatchlistBook
from tests.conftest import _postgres_schema_url
from tests.support.newsroom import (
    Newsroom,
    newsroom_settings,
    open_newsroom,
    other_story,
    retold,
    seed_article,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def rooms(clock, tmp_path) -> Iterator[tuple[Newsroom, Newsroom]]:
    """Two instances: each its own Database (its own connections) and Ingestor, on one
    schema; each has its story index loaded already, by an unrelated article."""
    schema = _postgres_schema_url()
    url = next(schema)
    settings = newsroom_settings(
        tmp_path, [{"name": "drones", "queries": ["طائرة مسيرة"]}], channels=("desk",)
    )
    first_db, second_db = Database(url), Database(url)
    first_db.migrate()
    first = open_newsroom(first_db, clock, settings)
    book = WatchlistBook(second_db)
    book.refresh()
    second = Newsroom(
        second_db,
        clock,
        settings,
        Ingestor(second_db, settings, clock, book),
        first.sources,
        numbers=1000,  # its own article URLs
    )
    first.publish("radio", *other_story(1))
    second.publish("radio", *other_story(2))
    try:
        yield first, second
    finally:
        first_db.dispose()
        second_db.dispose()
        next(schema, None)


def _alerts(room: Newsroom) -> tuple[int, int]:
    """(alerted matches, outbox rows) of the seed's story, across both instances."""
    with room.db.transaction() as session:
        alerted = session.scalar(select(func.count()).where(Match.alerted.is_(True)))
        rows = session.scalar(select(func.count()).select_from(OutboxAlert))
    return alerted or 0, rows or 0


def test_copies_stored_by_two_instances_at_once_alert_once(rooms):
    first, second = rooms
    before = _alerts(first)
    start = threading.Barrier(2)
    results: dict[str, IngestResult] = {}

    def publish(room: Newsroom, name: str, number: int) -> None:
        start.wait()
        results[name] = room.publish(name, *retold(number))

    threads = [
        threading.Thread(target=publish, args=(first, "daily", 1)),
        threading.Thread(target=publish, args=(second, "weekly", 2)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    daily, weekly = results["daily"], results["weekly"]
    founder, joiner = sorted([daily, weekly], key=lambda result: result.article_id or 0)
    assert joiner.story_id == founder.article_id and founder.story_id is None
    assert founder.alerts == 1 and joiner.alerts == 0
    alerted, rows = _alerts(first)
    assert (alerted - before[0], rows - before[1]) == (1, 1)


def test_a_copy_stored_by_one_instance_joins_a_story_stored_by_the_other(rooms):
    first, second = rooms
    seed = first.publish("wire", *seed_article())
    copy = second.publish("daily", *retold(1))
    again = first.publish("weekly", *retold(2))

    assert seed.alerts == 1
    assert copy.story_id == seed.article_id and copy.alerts == 0
    assert again.story_id == seed.article_id and again.alerts == 0
