"""Sources with ``pages = false``: the feed's entries are the articles, stored together
in the transaction that records the poll, with no frontier round trip; a batch that
fails leaves nothing behind."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crawler.items import ArticleItem, FeedEntry
from crawler.sink import PollOutcome
from monitor import sources as source_state
from monitor.config import settings_from_mapping
from monitor.db.models import Article, FrontierEntry, Match, OutboxAlert, Source
from monitor.service import Service
from tests.support.newsroom import (
    newsroom_settings,
    open_newsroom,
    other_story,
    retold,
    seed_article,
)

FEED = "https://wire.example/rss.xml"


@pytest.fixture
def service(database_url, tmp_path, clock):
    settings = settings_from_mapping(
        {
            "database": {"url": database_url},
            "crawl": {"pages": False},
            "sources": [{"name": "wire", "url": FEED}],
            "channels": [{"name": "console", "kind": "console"}],
            "watchlists": [{"name": "drones", "queries": ["طائرة مسيرة"]}],
        },
        tmp_path / "settings.toml",
        env={},
    )
    service = Service(settings, clock=clock)
    service.prepare()
    yield service
    service.close()


def _entry(number: int, title: str, body: str) -> FeedEntry:
    return FeedEntry(
        url=f"https://wire.example/{number}",
        guid=f"wire-{number}",
        title=title,
        summary=body[:120],
        content=body,
    )


def _poll(service, entries: list[FeedEntry]) -> list:
    [source] = source_state.claim_due(
        service.db, service.clock.now(), lease=service.poll_lease, everything=True
    )
    assert source.pages is False
    outcome = PollOutcome("ok", http_status=200, entries=len(entries))
    return service.discover(source, entries, feed_url=FEED, outcome=outcome)


def _count(service, what) -> int:
    with service.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(what)) or 0


def test_new_entries_are_stored_with_their_full_content_and_no_page_work(service):
    seed = _entry(1, *seed_article())
    other = _entry(2, "سوق الأسهم", "ارتفعت أسعار الأسهم في البورصة اليوم " * 5)

    work = _poll(service, [seed, other])

    assert work == []
    with service.db.transaction() as session:
        rows = session.execute(select(Article.url, Article.body, Article.extraction)).all()
        source = session.scalars(select(Source)).one()
        counters = (source.articles_stored, source.extraction_fallbacks, source.last_status)
    assert sorted(rows) == [(seed.url, seed.content, "entry"), (other.url, other.content, "entry")]
    assert counters == (2, 0, "ok")
    assert _count(service, FrontierEntry) == 0
    assert (service.summary.new_articles, service.summary.ok) == (2, 1)


def test_a_second_poll_stores_only_the_entries_it_had_not_seen(service, clock):
    seed = _entry(1, *seed_article())
    _poll(service, [seed])
    clock.advance(3600)

    _poll(service, [_entry(2, "سوق الأسهم", "ارتفعت أسعار الأسهم في البورصة اليوم " * 5), seed])

    assert _count(service, Article) == 2
    assert service.summary.new_articles == 2


def test_a_poll_carrying_two_copies_of_a_story_alerts_once(service):
    _poll(service, [_entry(1, *seed_article()), _entry(2, *retold(1))])

    with service.db.transaction() as session:
        stories = session.execute(select(Article.id, Article.story_id).order_by(Article.id)).all()
        alerted = session.scalars(select(Match.alerted).order_by(Match.id)).all()
    (first, founded), (_, joined) = stories
    assert founded is None and joined == first
    assert alerted == [True, False]
    assert _count(service, OutboxAlert) == 1


def test_a_failed_batch_leaves_no_article_in_the_story_index(db, clock, tmp_path):
    room = open_newsroom(
        db, clock, newsroom_settings(tmp_path, [{"name": "drones", "queries": ["طائرة مسيرة"]}])
    )
    title, body = other_story(3)
    prepared = room.ingestor.prepare(
        ArticleItem(
            source_id=room.sources["wire"], source_name="wire", url="", title=title, body=body
        )
    )

    def fail(_connection, _results):
        raise RuntimeError("the poll could not be recorded")

    with pytest.raises(RuntimeError):
        room.ingestor.store_all([prepared], also=fail)
    again = room.publish("daily", title, body)

    assert again.story_id is None  # it founds its story: the failed copy was never stored
