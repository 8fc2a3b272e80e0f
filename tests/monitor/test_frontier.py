"""The frontier: entries queued with their poll, claimed with leases, given up, retried."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from crawler.items import ArticleItem, FeedEntry
from crawler.sink import DueSource
from monitor import frontier
from monitor.config import settings_from_mapping
from monitor.db.models import FrontierEntry, Source
from monitor.ingest import Ingestor
from monitor.watchlists import WatchlistBook, sync_watchlists

FEED = "https://news.example/rss.xml"
LEASE = timedelta(seconds=10)


@pytest.fixture
def source(db, clock) -> DueSource:
    with db.transaction() as session:
        row = Source(
            name="news",
            url=FEED,
            interval_seconds=600,
            next_poll_at=clock.now(),
            created_at=clock.now(),
        )
        session.add(row)
        session.flush()
        return DueSource(id=row.id, name=row.name, url=row.url)


def entry(number: int, *, hours_ago: float = 1, url: bool = True, **fields) -> FeedEntry:
    values = {
        "url": f"https://news.example/{number}" if url else None,
        "guid": None,
        "title": f"خبر {number}",
        "summary": f"ملخص {number}",
        "published_at": datetime(2026, 3, 1, 12, tzinfo=UTC) - timedelta(hours=hours_ago),
    }
    return FeedEntry(**(values | fields))


def discover(db, clock, source, entries, *, token="a", limit=300):
    with db.connection() as connection:
        return frontier.discover(
            connection,
            source,
            entries,
            feed_url=FEED,
            now=clock.now(),
            token=token,
            lease=LEASE,
            limit=limit,
        )


def claim(db, clock, token="b", max_attempts=5):
    return frontier.claim(db, clock.now(), token=token, lease=LEASE, max_attempts=max_attempts)


def rows(db) -> list[FrontierEntry]:
    with db.transaction() as session:
        found = session.scalars(select(FrontierEntry).order_by(FrontierEntry.id)).all()
        session.expunge_all()
        return list(found)


def test_new_entries_are_queued_claimed_and_known_at_the_next_poll(db, clock, source):
    first = discover(db, clock, source, [entry(1), entry(2)])
    again = discover(db, clock, source, [entry(1), entry(2), entry(3)])

    assert [work.entry.url for work in first.work] == [
        "https://news.example/1",
        "https://news.example/2",
    ]
    assert [work.entry.url for work in again.work] == ["https://news.example/3"]
    assert all(row.lease_token == "a" and row.attempts == 1 for row in rows(db))


def test_an_entry_listed_twice_in_one_feed_is_queued_once(db, clock, source):
    found = discover(db, clock, source, [entry(1), entry(1, title="نسخة")])

    assert len(found.work) == 1


def test_an_entry_whose_article_is_stored_is_not_queued(db, clock, source, tmp_path):
    ingestor = _ingestor(db, clock, tmp_path)
    ingestor.ingest(_item(source, "https://news.example/1"))

    found = discover(db, clock, source, [entry(1), entry(2)])

    assert [work.entry.url for work in found.work] == ["https://news.example/2"]


def test_a_poll_queues_only_its_newest_entries_beyond_the_limit(db, clock, source):
    entries = [entry(n, hours_ago=n) for n in (5, 1, 9, 3, 7)] + [entry(0, published_at=None)]

    found = discover(db, clock, source, entries, limit=3)

    assert [work.entry.url for work in found.work] == [
        "https://news.example/1",
        "https://news.example/3",
        "https://news.example/5",
    ]
    assert found.over_cap == 3
    assert found.warnings == [
        "6 new entries in one poll: the newest 3 were queued, 3 older ones skipped "
        "(crawl.max_new_entries)"
    ]


def test_entries_with_nothing_to_store_are_counted_not_queued(db, clock, source):
    empty = FeedEntry(url=None, guid="x-1", title="", summary="")

    found = discover(db, clock, source, [empty, entry(1)])

    assert len(found.work) == 1
    assert found.unusable == 1


def test_an_entry_without_a_link_is_known_by_its_guid_or_its_text(db, clock, source):
    linkless = [
        entry(1, url=False),
        entry(1, url=False),  # the same text again: the same item
        entry(2, url=False),
        entry(3, url=False, guid="bulletin-7"),
    ]

    found = discover(db, clock, source, linkless)
    again = discover(db, clock, source, [entry(3, url=False, guid="bulletin-7", title="تحديث")])

    assert [work.entry.title for work in found.work] == ["خبر 1", "خبر 2", "خبر 3"]
    assert again.work == []


def test_a_claim_skips_entries_held_by_another_process_and_takes_expired_ones(db, clock, source):
    discover(db, clock, source, [entry(1)], token="a")

    assert claim(db, clock, token="b") == []
    clock.advance(LEASE + timedelta(seconds=1))
    [work] = claim(db, clock, token="b")

    assert work.attempts == 2
    assert work.source == source
    assert work.entry == entry(1)
    assert rows(db)[0].lease_token == "b"


def test_renewing_keeps_an_entry_in_flight(db, clock, source):
    [work] = discover(db, clock, source, [entry(1)], token="a").work

    clock.advance(LEASE * 0.8)
    frontier.renew(db, [work.frontier_id], token="a", now=clock.now(), lease=LEASE)
    clock.advance(LEASE * 0.8)

    assert claim(db, clock, token="b") == []


def test_an_entry_claimed_too_often_is_given_up_and_can_be_queued_again(db, clock, source):
    discover(db, clock, source, [entry(1)], token="a")
    clock.advance(LEASE * 2)
    assert len(claim(db, clock, max_attempts=2)) == 1
    clock.advance(LEASE * 2)

    assert claim(db, clock, max_attempts=2) == []
    [row] = rows(db)
    assert row.state == "failed"
    assert row.last_error.startswith("given up after 2 attempts")
    with db.connection() as connection:
        assert frontier.counts(connection) == frontier.FrontierCounts(pending=0, failed=1)
        [failed] = frontier.list_failed(connection)
    assert (failed.source, failed.url, failed.attempts) == ("news", "https://news.example/1", 2)

    assert frontier.retry_failed(db) == 1
    [work] = claim(db, clock, max_attempts=2)
    assert work.attempts == 1


def test_a_clean_release_does_not_count_an_attempt(db, clock, source):
    [work] = discover(db, clock, source, [entry(1)], token="a").work

    frontier.release(db, [work.frontier_id], token="a")

    [row] = rows(db)
    assert (row.attempts, row.lease_token, row.claimed_until) == (0, None, None)
    assert len(claim(db, clock)) == 1


def test_a_transient_page_failure_waits_then_gives_way_to_the_feed_text(db, clock, source):
    [work] = discover(db, clock, source, [entry(1)], token="a").work
    delays = []
    while True:
        retry_at = frontier.retry_page_later(
            db, work, token=work_token(db), now=clock.now(), error="timed out"
        )
        if retry_at is None:
            break
        delays.append(retry_at - clock.now())
        assert claim(db, clock) == []  # not before its time
        clock.set(retry_at)
        [work] = claim(db, clock, token="a")

    assert delays == [timedelta(seconds=30), timedelta(minutes=2)]
    assert rows(db)[0].last_error == "timed out"


def work_token(db) -> str:
    return rows(db)[0].lease_token


def test_two_instances_never_claim_the_same_entry(db, clock, source):
    discover(db, clock, source, [entry(n) for n in range(40)], token=None)
    claimed: dict[str, list[int]] = {}
    start = threading.Barrier(2)

    def instance(token: str) -> None:
        start.wait()
        ids = []
        while batch := frontier.claim(
            db, clock.now(), token=token, lease=LEASE, max_attempts=5, limit=3
        ):
            ids.extend(work.frontier_id for work in batch)
        claimed[token] = ids

    threads = [threading.Thread(target=instance, args=(token,)) for token in ("x", "y")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(claimed["x"] + claimed["y"]) == [row.id for row in rows(db)]


def test_storing_an_article_removes_its_entry_in_the_same_transaction(db, clock, source, tmp_path):
    [first, second] = discover(db, clock, source, [entry(1), entry(2)]).work
    ingestor = _ingestor(db, clock, tmp_path)

    stored = ingestor.ingest(_item(source, "https://news.example/1", first.frontier_id))
    # The same article reached again through another entry: a duplicate, settled too.
    again = ingestor.ingest(_item(source, "https://news.example/1", second.frontier_id))

    assert not stored.duplicate and again.duplicate
    assert rows(db) == []


def _ingestor(db, clock, tmp_path: Path) -> Ingestor:
    settings = settings_from_mapping(
        {"watchlists": [{"name": "drones", "queries": ["طائرة مسيرة"]}]},
        tmp_path / "settings.toml",
        env={},
    )
    with db.transaction() as session:
        sync_watchlists(session, settings, clock.now())
    book = WatchlistBook(db)
    book.refresh()
    return Ingestor(db, settings, clock, book)


def _item(source: DueSource, url: str, frontier_id: int | None = None) -> ArticleItem:
    return ArticleItem(
        source_id=source.id,
        source_name=source.name,
        url=url,
        link=url,
        title="عنوان",
        body="نص الخبر " * 40,
        feed_url=FEED,
        frontier_id=frontier_id,
    )
