"""Retention: what [retention] prunes, what it keeps because dedup, stories, alerts and
digests still read it, in batches, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import random
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from alerts.channels import build_channels
from alerts.dispatch import Dispatcher
from crawler.items import ArticleItem, FeedEntry
from crawler.sink import DueSource
from monitor import frontier
from monitor.config import settings_from_mapping
from monitor.db.models import (
    Article,
    DedupKey,
    DigestMark,
    FrontierEntry,
    Instance,
    Match,
    OutboxAlert,
)
from monitor.errors import ConfigError
from monitor.ingest import Ingestor
from monitor.netguard import NetworkPolicy
from monitor.retention import count_prunable, prune
from monitor.watchlists import WatchlistBook
from tests.support.dispatch import dispatch_due
from tests.support.newsroom import (
    Newsroom,
    newsroom_settings,
    open_newsroom,
    other_story,
    retold,
    seed_article,
)

DAY = timedelta(days=1)
DRONES = {"name": "drones", "queries": ["طائرة مسيرة"], "channels": ["desk"]}


def _room(db, clock, tmp_path, watchlists=(DRONES,), **retention) -> Newsroom:
    settings = newsroom_settings(
        tmp_path,
        list(watchlists),
        retention={"delivered_alerts": "1d", **retention},
        stories={"window": "7d"},
    )
    return open_newsroom(db, clock, settings)


def _deliver(room: Newsroom) -> None:
    """Send every due alert through the real dispatcher (console channels)."""
    channels = build_channels(room.settings, NetworkPolicy(), room.clock, stream=io.StringIO())
    dispatcher = Dispatcher(
        room.db, channels, room.settings.alerts, room.clock, rng=random.Random(1)
    )
    dispatch_due(dispatcher)


def _restart(room: Newsroom) -> Newsroom:
    """A new ingest path over the same database, as after a restart: its story index
    loads the story window from the stored signatures."""
    book = WatchlistBook(room.db)
    book.refresh()
    ingestor = Ingestor(room.db, room.settings, room.clock, book)
    return Newsroom(room.db, room.clock, room.settings, ingestor, room.sources)


def _article(db, article_id) -> Article | None:
    with db.transaction() as session:
        found = session.get(Article, article_id)
        if found is not None:
            session.expunge(found)
        return found


def _count(db, model, *where) -> int:
    with db.connection() as connection:
        return connection.execute(
            select(func.count()).select_from(model).where(*where)
        ).scalar_one()


# -- article bodies ----------------------------------------------------------------


def test_old_bodies_are_dropped_and_titles_urls_hashes_and_keys_kept(db, clock, tmp_path):
    room = _room(db, clock, tmp_path, article_bodies="30d")
    old = room.publish("wire", *other_story(1))
    clock.advance(31 * DAY)
    new = room.publish("daily", *other_story(2))
    before = _article(db, old.article_id)
    keys = _count(db, DedupKey, DedupKey.article_id == old.article_id)

    report = prune(db, room.settings, clock.now())

    assert report.article_bodies == 1
    pruned, kept = _article(db, old.article_id), _article(db, new.article_id)
    assert (pruned.body, pruned.summary, pruned.minhash) == ("", "", None)
    assert (pruned.title, pruned.url, pruned.content_hash, pruned.fetched_at) == (
        before.title,
        before.url,
        before.content_hash,
        before.fetched_at,
    )
    assert _count(db, DedupKey, DedupKey.article_id == old.article_id) == keys > 0
    assert kept.body == other_story(2)[1] and kept.minhash is not None


def test_a_story_alerted_before_its_founders_body_was_pruned_does_not_alert_again(
    db, clock, tmp_path
):
    room = _room(db, clock, tmp_path, article_bodies="7d", matches="7d")
    founder = room.publish("wire", *seed_article())
    clock.advance(6 * DAY)
    member = room.publish("daily", *retold(1))
    _deliver(room)
    clock.advance(2 * DAY)  # the founder is 8 days old, its member 2

    report = prune(db, room.settings, clock.now())
    later = _restart(room).publish("weekly", *retold(2))

    assert founder.alerts == 1 and member.alerts == 0
    assert report.article_bodies == 1 and report.matches == 0  # the story is live
    assert _article(db, founder.article_id).body == ""
    assert later.story_id == founder.article_id
    assert later.alerts == 0


# -- matches, alerts and whole articles -------------------------------------------------


def test_matches_and_alerts_of_a_story_no_longer_live_are_pruned(db, clock, tmp_path):
    room = _room(db, clock, tmp_path, matches="10d")
    room.publish("wire", *seed_article())
    room.publish("daily", *retold(1))
    _deliver(room)
    clock.advance(11 * DAY)
    fresh = room.publish("weekly", *other_story(3))

    report = prune(db, room.settings, clock.now())

    assert report.delivered_alerts == 1  # the story's one alert; the fresh one is pending
    assert report.matches == 2
    assert _count(db, Match) == 1 and _count(db, Match, Match.article_id == fresh.article_id) == 1
    assert _count(db, OutboxAlert) == 1


def test_a_match_whose_alert_is_not_delivered_is_kept_with_it(db, clock, tmp_path):
    room = _room(db, clock, tmp_path, matches="10d")
    room.publish("wire", *other_story(1))  # never delivered: its alert stays pending
    clock.advance(30 * DAY)

    report = prune(db, room.settings, clock.now())

    assert (report.delivered_alerts, report.matches) == (0, 0)
    assert _count(db, OutboxAlert, OutboxAlert.status == "pending") == 1


def test_a_match_its_digest_has_not_sent_yet_is_kept(db, clock, tmp_path):
    digest = {"channel": "mail", "mode": "digest", "schedule": "0 7 1 * *"}
    room = _room(
        db, clock, tmp_path, [{**DRONES, "channels": [], "routes": [digest]}], matches="7d"
    )
    with db.connection() as connection:  # the route's mark: its digest was sent now
        connection.execute(update(DigestMark).values(last_fire_at=clock.now()))
    clock.advance(60)
    room.publish("wire", *other_story(1))
    clock.advance(20 * DAY)

    assert prune(db, room.settings, clock.now()).matches == 0

    with db.connection() as connection:
        connection.execute(update(DigestMark).values(last_fire_at=clock.now()))
    assert prune(db, room.settings, clock.now()).matches == 1


def test_a_running_instance_keeps_the_stories_its_index_may_still_join(db, clock, tmp_path):
    room = _room(db, clock, tmp_path, matches="7d")
    room.publish("wire", *other_story(1))
    _deliver(room)
    with db.transaction() as session:
        session.add(
            Instance(
                token="a",
                host="here",
                pid=1,
                version="0",
                started_at=clock.now(),
                seen_at=clock.now(),
            )
        )
    clock.advance(10 * DAY)  # past the window, but the instance has run since before it
    with db.connection() as connection:  # its heartbeat
        connection.execute(update(Instance).values(seen_at=clock.now()))

    report = prune(db, room.settings, clock.now())

    assert report.matches == 0
    assert report.story_horizon == clock.now() - 10 * DAY - 7 * DAY


def test_an_instance_silent_for_a_whole_window_keeps_nothing(db, clock, tmp_path):
    room = _room(db, clock, tmp_path, matches="7d")
    room.publish("wire", *other_story(1))
    _deliver(room)
    with db.transaction() as session:  # killed with kill -9: its row stays behind
        session.add(
            Instance(
                token="a", host="here", pid=1, version="0", started_at=clock.now(),
                seen_at=clock.now(),
            )
        )  # fmt: skip
    clock.advance(10 * DAY)

    report = prune(db, room.settings, clock.now())

    assert report.matches == 1
    assert report.story_horizon == clock.now() - 7 * DAY


def test_whole_articles_go_but_their_keys_stay_so_a_feed_listing_them_again_is_known(
    db, clock, tmp_path
):
    room = _room(db, clock, tmp_path, articles="30d", matches="30d")
    feed = "https://wire.example/feed"
    title, body = other_story(1)
    link = "https://wire.example/drone-1"
    item = ArticleItem(
        source_id=room.sources["wire"],
        source_name="wire",
        url=link,
        link=link,
        feed_url=feed,
        title=title,
        body=body,
    )
    first = room.ingestor.ingest(item)
    _deliver(room)
    clock.advance(31 * DAY)

    report = prune(db, room.settings, clock.now())

    assert (report.delivered_alerts, report.matches, report.articles) == (1, 1, 1)
    assert _article(db, first.article_id) is None
    assert _count(db, DedupKey, DedupKey.article_id.is_(None)) > 0
    # The feed lists the entry again: known, nothing queued, nothing stored or alerted.
    source = DueSource(id=room.sources["wire"], name="wire", url=feed)
    with db.connection() as connection:
        found = frontier.discover(
            connection,
            source,
            [FeedEntry(url=link, guid=None, title=title, summary="", published_at=None)],
            feed_url=feed,
            now=clock.now(),
            token="t",
            lease=timedelta(seconds=10),
            limit=10,
        )
    again = _restart(room).ingestor.ingest(item)
    assert found.work == []
    assert again.duplicate and again.alerts == 0
    assert _count(db, Article) == 0 and _count(db, OutboxAlert) == 0


def test_a_founder_stays_while_another_article_of_its_story_is_kept(db, clock, tmp_path):
    room = _room(db, clock, tmp_path, [], articles="30d")
    founder = room.publish("wire", *seed_article())
    clock.advance(10 * DAY)
    member = room.publish("daily", *retold(1))
    clock.advance(25 * DAY)  # the founder is 35 days old, its member 25

    report = prune(db, room.settings, clock.now())

    assert member.story_id == founder.article_id
    assert report.articles == 0
    clock.advance(6 * DAY)
    assert prune(db, room.settings, clock.now()).articles == 1  # the member
    assert prune(db, room.settings, clock.now()).articles == 1  # then its founder
    assert _count(db, Article) == 0


# -- failed frontier entries -----------------------------------------------------------


def _failed_entries(db, clock, source_id, count):
    with db.transaction() as session:
        for number in range(count):
            session.add(
                FrontierEntry(
                    source_id=source_id,
                    entry_key=f"key-{number}",
                    url=f"https://wire.example/{number}",
                    feed_url="https://wire.example/feed",
                    discovered_at=clock.now(),
                    state="failed" if number % 2 == 0 else "pending",
                    attempts=5,
                )
            )


def test_failed_entries_go_after_their_time_pending_ones_never(db, clock, tmp_path):
    room = _room(db, clock, tmp_path, failed_entries="30d")
    _failed_entries(db, clock, room.sources["wire"], 10)
    clock.advance(31 * DAY)

    assert prune(db, room.settings, clock.now()).failed_entries == 5
    assert _count(db, FrontierEntry) == 5
    assert _count(db, FrontierEntry, FrontierEntry.state == "failed") == 0


# -- batches, dry runs, two at once ------------------------------------------------------


def _busy_room(db, clock, tmp_path) -> Newsroom:
    """Thirty days of articles, matches and delivered alerts, then failed entries."""
    room = _room(
        db,
        clock,
        tmp_path,
        article_bodies="10d",
        articles="20d",
        matches="10d",
        failed_entries="10d",
    )
    for number in range(24):
        room.publish(("wire", "daily", "weekly")[number % 3], *other_story(number))
        if number % 4 == 0:
            _deliver(room)
        clock.advance(DAY + timedelta(minutes=number))
    _failed_entries(db, clock, room.sources["wire"], 7)
    clock.advance(12 * DAY)
    return room


def test_small_batches_prune_what_one_big_batch_does(db, clock, tmp_path):
    room = _busy_room(db, clock, tmp_path)
    expected = count_prunable(db, room.settings, clock.now())

    report = prune(db, room.settings, clock.now(), batch=3)

    assert report.total == expected.total > 0
    assert prune(db, room.settings, clock.now(), batch=3).total == 0  # idempotent


def test_a_dry_run_counts_exactly_what_a_run_prunes_and_changes_nothing(db, clock, tmp_path):
    room = _busy_room(db, clock, tmp_path)
    before = {model: _count(db, model) for model in (Article, Match, OutboxAlert, FrontierEntry)}

    dry = count_prunable(db, room.settings, clock.now())
    unchanged = {model: _count(db, model) for model in before}
    real = prune(db, room.settings, clock.now())

    assert unchanged == before
    assert dry.dry_run and not real.dry_run
    counted = ("delivered_alerts", "matches", "article_bodies", "articles", "failed_entries")
    assert {key: getattr(dry, key) for key in counted} == {
        key: getattr(real, key) for key in counted
    }
    assert real.articles > 0 and real.matches > 0 and real.delivered_alerts > 0


def test_a_run_told_to_stop_ends_between_batches_and_the_next_carries_on(db, clock, tmp_path):
    room = _busy_room(db, clock, tmp_path)
    expected = count_prunable(db, room.settings, clock.now())
    asked = []

    def stop() -> bool:
        asked.append(True)
        return len(asked) > 2  # two batches, then stop

    stopped = prune(db, room.settings, clock.now(), batch=2, stop=stop)
    rest = prune(db, room.settings, clock.now(), batch=2)

    assert not stopped.finished and rest.finished
    assert len(asked) == 3 and 0 < stopped.total <= 4
    assert stopped.total + rest.total == expected.total


def test_two_prunes_at_once_prune_each_row_once(db, clock, tmp_path):
    room = _busy_room(db, clock, tmp_path)
    expected = count_prunable(db, room.settings, clock.now())
    with ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(prune, db, room.settings, clock.now(), batch=2) for _ in range(2)]
        reports = [run.result() for run in runs]  # raises what a run raised

    assert count_prunable(db, room.settings, clock.now()).total == 0
    # Each row is counted by the run that pruned it; a row another run took first is
    # not counted twice (bodies: the emptying is conditional; deletes: rowcount).
    assert sum(report.total for report in reports) == expected.total


# -- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retention", "problem"),
    [
        ({"matches": "3d"}, "retention.matches: 3d is shorter than [stories] window (7d)"),
        ({"article_bodies": "1d"}, "retention.article_bodies: 1d is shorter than [stories]"),
        ({"articles": "7d"}, "retention.articles: 7d is shorter than [alerts] max_article_age"),
        ({"delivered_alerts": "soon"}, 'expected a duration such as "90d"'),
    ],
)
def test_retention_that_would_remove_what_is_still_read_is_refused_by_key(retention, problem):
    with pytest.raises(ConfigError) as raised:
        settings_from_mapping(
            {"retention": retention, "alerts": {"max_article_age": "10d"}},
            Path("settings.toml"),
            env={},
        )

    assert problem in str(raised.value)
    assert str(raised.value).startswith("settings.toml: invalid settings")


def test_zero_and_forever_keep_forever_and_the_defaults_pass_their_own_checks():
    settings = settings_from_mapping(
        {"retention": {"matches": 0, "articles": "forever", "delivered_alerts": "0"}},
        Path("settings.toml"),
        env={},
    )
    defaults = settings_from_mapping({}, Path("settings.toml"), env={}).retention

    assert settings.retention.matches is None
    assert settings.retention.articles is None
    assert settings.retention.delivered_alerts is None
    assert defaults.article_bodies == 90 * DAY and defaults.articles is None
    assert defaults.matches == 365 * DAY and defaults.delivered_alerts == 90 * DAY


def test_keeping_everything_forever_prunes_nothing(db, clock, tmp_path):
    room = _room(
        db,
        clock,
        tmp_path,
        article_bodies="forever",
        matches="forever",
        delivered_alerts="forever",
        failed_entries="forever",
    )
    room.publish("wire", *other_story(1))
    _deliver(room)
    clock.advance(3650 * DAY)

    assert prune(db, room.settings, clock.now()).total == 0


def test_the_migration_keeps_every_key_and_lets_it_outlive_its_article(db, clock, tmp_path):
    from alembic import command
    from sqlalchemy import delete

    from monitor.db.session import alembic_config

    room = _room(db, clock, tmp_path, [])
    stored = room.publish("wire", *other_story(1))
    keys = _count(db, DedupKey)
    with db.connection() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0014")

    db.migrate()
    with db.connection() as connection:
        connection.execute(delete(Article).where(Article.id == stored.article_id))

    assert keys > 0
    assert _count(db, DedupKey, DedupKey.article_id.is_(None)) == keys


# -- the service's tick ----------------------------------------------------------------


def test_the_service_prunes_on_its_tick_and_skips_while_another_instance_does(db, clock, tmp_path):
    import asyncio

    from monitor.db.locks import run_alone
    from monitor.db.session import Database
    from monitor.service import Service

    room = _room(db, clock, tmp_path, article_bodies="30d")
    old = room.publish("wire", *other_story(1))
    clock.advance(31 * DAY)
    settings = room.settings.model_copy(
        update={"database": room.settings.database.model_copy(update={"url": db.url})}
    )
    service = Service(settings, clock=clock)
    try:
        if not db.is_sqlite:
            # Another instance is pruning: this one skips its turn.
            other = Database(db.url)
            try:
                with run_alone(other, "retention") as theirs:
                    assert theirs
                    asyncio.run(service.retention_tick())
            finally:
                other.dispose()
            assert _article(db, old.article_id).body != ""
        asyncio.run(service.retention_tick())
    finally:
        service.close()
    assert _article(db, old.article_id).body == ""
