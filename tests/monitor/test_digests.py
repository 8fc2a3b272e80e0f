"""Digests: one per fire time of the route's schedule in its time zone (daylight saving
included), none of the past, one after an outage, never two for one fire time, each
covering every match since the last, by story, most reported first."""

from __future__ import annotations

import asyncio
import io
import random
import threading
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from sqlalchemy import insert, select

from alerts.channels import build_channels
from alerts.dispatch import Dispatcher
from alerts.event import DigestEvent, event_from_json
from monitor.clock import FakeClock
from monitor.config import RouteSettings
from monitor.db.models import Article, DigestMark, Match, OutboxAlert, Source, Watchlist
from monitor.db.session import Database
from monitor.digests import build_digest, digest_now, latest_fire, next_fire, queue_due_digests
from monitor.errors import Conflict, NotFound
from monitor.netguard import NetworkPolicy
from tests.support.dispatch import dispatch_due
from tests.support.newsroom import newsroom_settings, open_newsroom, other_story

_numbers = count(1)


def _room(db, clock, tmp_path, schedule="0 7 * * *", time_zone="UTC", **route):
    digest = {
        "channel": "mail",
        "mode": "digest",
        "schedule": schedule,
        "time_zone": time_zone,
        **route,
    }
    watchlist = {"name": "drones", "queries": ["طائرة مسيرة"], "routes": [digest]}
    return open_newsroom(db, clock, newsroom_settings(tmp_path, [watchlist]))


def _digests(db) -> list[tuple[OutboxAlert, DigestEvent]]:
    with db.transaction() as session:
        rows = list(
            session.scalars(
                select(OutboxAlert).where(OutboxAlert.kind == "digest").order_by(OutboxAlert.id)
            )
        )
    found = []
    for row in rows:
        event = event_from_json(row.payload)
        assert isinstance(event, DigestEvent)
        found.append((row, event))
    return found


def _mark(db) -> datetime:
    with db.transaction() as session:
        mark = session.scalar(select(DigestMark.last_fire_at))
    assert mark is not None
    return mark


def _add_match(db, at: datetime, source="wire", story: int | None = None, published=None) -> int:
    """An article of ``source`` matched by "drones" at ``at`` (in ``story`` if given)."""
    number = next(_numbers)
    with db.connection() as connection:
        watchlist_id = connection.scalar(select(Watchlist.id).where(Watchlist.name == "drones"))
        source_id = connection.scalar(select(Source.id).where(Source.name == source))
        article_id = connection.execute(
            insert(Article.__table__).returning(Article.__table__.c.id),
            {
                "source_id": source_id,
                "url": f"https://{source}.example/m{number}",
                "title": f"طائرة مسيرة {number}",
                "content_hash": f"{number:064d}",
                "fetched_at": at,
                "published_at": published,
                "story_id": story,
            },
        ).scalar_one()
        connection.execute(
            insert(Match.__table__),
            {
                "article_id": article_id,
                "watchlist_id": watchlist_id,
                "highlights": [],
                "alerted": False,
                "created_at": at,
            },
        )
    return article_id


def _run(db, clock: FakeClock, until: datetime, step: timedelta) -> None:
    """The service's digest tick, every ``step`` until ``until``."""
    while clock.now() < until:
        clock.advance(step)
        queue_due_digests(db, clock)


# -- fire times -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "zone", "start", "expected"),
    [
        # Berlin skips 02:00-03:00 on 2027-03-28: 02:30 that night is 03:30 summer time.
        (
            "30 2 * * *",
            "Europe/Berlin",
            datetime(2027, 3, 26, 12, tzinfo=UTC),
            ["2027-03-27T01:30", "2027-03-28T01:30", "2027-03-29T00:30", "2027-03-30T00:30"],
        ),
        # New York goes back from 02:00 to 01:00 on 2026-11-01.
        (
            "0 7 * * *",
            "America/New_York",
            datetime(2026, 10, 30, 12, tzinfo=UTC),
            ["2026-10-31T11:00", "2026-11-01T12:00", "2026-11-02T12:00", "2026-11-03T12:00"],
        ),
        # 01:30 happens twice that night: it fires once, at the first.
        (
            "30 1 * * *",
            "America/New_York",
            datetime(2026, 10, 30, 12, tzinfo=UTC),
            ["2026-10-31T05:30", "2026-11-01T05:30", "2026-11-02T06:30", "2026-11-03T06:30"],
        ),
    ],
)
def test_a_daily_schedule_fires_once_a_local_day_across_a_clock_change(
    schedule, zone, start, expected
):
    fires, moment = [], start
    for _ in expected:
        moment = next_fire(schedule, zone, moment)
        fires.append(moment.strftime("%Y-%m-%dT%H:%M"))
    assert fires == expected


def test_the_next_fire_time_is_strictly_after_the_mark():
    mark = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    assert next_fire("0 7 * * *", "UTC", mark) == mark + timedelta(days=1)


def test_the_latest_fire_time_of_a_long_outage_is_the_last_one():
    mark = datetime(2026, 1, 1, tzinfo=UTC)
    now = datetime(2026, 3, 4, 5, 17, tzinfo=UTC)
    assert latest_fire("*/5 * * * *", "UTC", mark, now) == datetime(2026, 3, 4, 5, 15, tzinfo=UTC)
    assert latest_fire("0 7 * * 1", "UTC", mark, now) == datetime(2026, 3, 2, 7, tzinfo=UTC)
    assert latest_fire("0 7 * * *", "UTC", now, now + timedelta(hours=1)) is None


@pytest.mark.parametrize(
    ("weekdays", "expected"),
    [
        ("1", ["Mon"]),
        ("0", ["Sun"]),
        ("7", ["Sun"]),
        ("1-5", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
        ("sat,sun", ["Sun", "Sat"]),
        ("*/2", ["Sun", "Tue", "Thu", "Sat"]),
        ("5-7", ["Sun", "Fri", "Sat"]),
    ],
)
def test_weekdays_are_numbered_from_sunday_as_in_crontab(weekdays, expected):
    moment, days = datetime(2026, 3, 1, tzinfo=UTC), set()  # a Sunday
    for _ in range(14):
        moment = next_fire(f"0 7 * * {weekdays}", "UTC", moment)
        days.add(moment.strftime("%a"))
    assert sorted(days, key=["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"].index) == expected
    # settings.toml accepts what the digests read: the same parser checks it at load.
    assert RouteSettings(channel="c", mode="digest", schedule=f"0 7 * * {weekdays}")


# -- queuing under a fake clock -----------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "zone", "start", "end", "expected"),
    [
        (
            "30 2 * * *",
            "Europe/Berlin",
            datetime(2027, 3, 26, 12, tzinfo=UTC),
            datetime(2027, 3, 29, 12, tzinfo=UTC),
            ["2027-03-27T01:30", "2027-03-28T01:30", "2027-03-29T00:30"],
        ),
        (
            "0 7 * * *",
            "America/New_York",
            datetime(2026, 10, 30, 14, tzinfo=UTC),
            datetime(2026, 11, 2, 14, tzinfo=UTC),
            ["2026-10-31T11:00", "2026-11-01T12:00", "2026-11-02T12:00"],
        ),
    ],
)
def test_one_digest_per_local_day_at_its_instant_across_a_clock_change(
    db, tmp_path, schedule, zone, start, end, expected
):
    clock = FakeClock(start)
    _room(db, clock, tmp_path, schedule, zone, send_empty=True)
    step = timedelta(minutes=10)

    _run(db, clock, end, step)

    digests = _digests(db)
    assert [event.until.strftime("%Y-%m-%dT%H:%M") for _, event in digests] == expected
    for row, event in digests:
        assert timedelta(0) <= row.created_at - event.until < step
        assert row.urgent is True and row.channel == "mail"
    # Each covers the time since the one before: nothing twice, nothing missed.
    assert [event.since for _, event in digests[1:]] == [event.until for _, event in digests[:-1]]


def test_no_digest_of_the_time_before_the_route_was_first_seen(db, clock, tmp_path):
    _room(db, clock, tmp_path, "0 13 * * *", send_empty=True)
    _add_match(db, clock.now() - timedelta(hours=1))

    queue_due_digests(db, clock)
    assert _mark(db) == clock.now()
    clock.set(datetime(2026, 3, 1, 13, tzinfo=UTC))
    queue_due_digests(db, clock)

    [(_, event)] = _digests(db)
    assert event.matches == 0 and event.since == datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_a_restart_mid_window_sends_one_digest_covering_the_whole_window(
    db, database_url, clock, tmp_path
):
    _room(db, clock, tmp_path, "0 18 * * *")
    queue_due_digests(db, clock)  # 12:00: the mark is made
    clock.advance(timedelta(hours=2))
    _add_match(db, clock.now(), "wire")
    _run(db, clock, datetime(2026, 3, 1, 15, tzinfo=UTC), timedelta(minutes=30))
    db.dispose()  # the service stops at 15:00 ...

    clock.set(datetime(2026, 3, 1, 16, tzinfo=UTC))  # ... and starts again
    restarted = Database(database_url)
    try:
        open_newsroom(restarted, clock, newsroom_settings(tmp_path, _room_watchlists()))
        _add_match(restarted, clock.now(), "daily")
        _run(restarted, clock, datetime(2026, 3, 2, 6, tzinfo=UTC), timedelta(minutes=30))
        digests = _digests(restarted)
    finally:
        restarted.dispose()

    [(_, event)] = digests
    assert event.since == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert event.until == datetime(2026, 3, 1, 18, tzinfo=UTC)
    assert event.matches == 2
    assert sorted(outlet for story in event.stories for outlet in story.outlets) == [
        "daily",
        "wire",
    ]


def _room_watchlists():
    digest = {"channel": "mail", "mode": "digest", "schedule": "0 18 * * *"}
    return [{"name": "drones", "queries": ["طائرة مسيرة"], "routes": [digest]}]


def test_a_service_down_for_three_days_sends_one_digest_for_them_all(db, clock, tmp_path):
    _room(db, clock, tmp_path, "0 7 * * *")
    queue_due_digests(db, clock)
    for day in range(3):
        _add_match(db, clock.now() + timedelta(days=day, hours=1))

    clock.advance(timedelta(days=3, hours=1))  # 2026-03-04 13:00
    assert queue_due_digests(db, clock) == 1
    assert queue_due_digests(db, clock) == 0

    [(_, event)] = _digests(db)
    assert event.until == datetime(2026, 3, 4, 7, tzinfo=UTC)
    assert event.matches == 3


def test_an_empty_digest_is_not_queued_but_its_mark_moves(db, clock, tmp_path):
    _room(db, clock, tmp_path, "0 13 * * *")
    queue_due_digests(db, clock)
    clock.advance(timedelta(hours=1))

    assert queue_due_digests(db, clock) == 0
    assert _digests(db) == []
    assert _mark(db) == datetime(2026, 3, 1, 13, tzinfo=UTC)


def test_an_empty_digest_is_queued_with_send_empty(db, clock, tmp_path):
    _room(db, clock, tmp_path, "0 13 * * *", send_empty=True)
    queue_due_digests(db, clock)
    clock.advance(timedelta(hours=1))

    assert queue_due_digests(db, clock) == 1
    [(_, event)] = _digests(db)
    assert event.stories == () and event.matches == 0


def test_a_digest_groups_by_story_most_reported_first(db, clock, tmp_path):
    _room(db, clock, tmp_path, "0 13 * * *")
    queue_due_digests(db, clock)
    at = clock.now() + timedelta(minutes=5)
    lone = _add_match(db, at, "radio")
    _add_match(db, at, "radio", story=lone)  # one outlet, twice
    big = _add_match(db, at + timedelta(minutes=1), "wire")
    for outlet in ("daily", "weekly", "daily"):
        _add_match(db, at + timedelta(minutes=2), outlet, story=big)
    single = _add_match(db, at + timedelta(minutes=3), "evening")
    clock.advance(timedelta(hours=1))

    queue_due_digests(db, clock)

    [(_, event)] = _digests(db)
    assert event.matches == 7
    assert [(s.article.url, s.outlets, s.matches) for s in event.stories] == [
        (f"https://wire.example/m{_number(db, big)}", ("wire", "daily", "weekly"), 4),
        (f"https://radio.example/m{_number(db, lone)}", ("radio",), 2),
        (f"https://evening.example/m{_number(db, single)}", ("evening",), 1),
    ]


def _number(db, article_id: int) -> str:
    with db.transaction() as session:
        url = session.scalar(select(Article.url).where(Article.id == article_id))
    return url.rsplit("/m", 1)[1]


def test_a_digest_leaves_out_articles_too_old_to_alert(db, clock, tmp_path):
    _room(db, clock, tmp_path, "0 13 * * *")
    queue_due_digests(db, clock)
    at = clock.now() + timedelta(minutes=5)
    _add_match(db, at, "wire", published=at - timedelta(days=5))
    _add_match(db, at, "daily", published=at - timedelta(hours=1))
    clock.advance(timedelta(hours=1))

    queue_due_digests(db, clock, max_article_age=timedelta(hours=48))

    [(_, event)] = _digests(db)
    assert [story.outlets for story in event.stories] == [("daily",)]


def test_matches_from_ingest_reach_the_digest(db, clock, tmp_path):
    room = _room(db, clock, tmp_path, "0 13 * * *")
    queue_due_digests(db, clock)
    clock.advance(60)
    room.publish("wire", *other_story(1))
    room.publish("daily", *other_story(2))
    clock.advance(timedelta(hours=1))

    queue_due_digests(db, clock)

    [(_, event)] = _digests(db)
    assert event.matches == 2 and len(event.stories) == 2


def test_two_instances_racing_queue_one_digest(db, database_url, clock, tmp_path):
    _room(db, clock, tmp_path, "0 13 * * *", send_empty=True)
    queue_due_digests(db, clock)
    clock.advance(timedelta(hours=1))
    instances = [Database(database_url) for _ in range(4)]
    start = threading.Barrier(len(instances))
    queued: list[int] = []

    def tick(instance: Database) -> None:
        start.wait()
        queued.append(queue_due_digests(instance, clock))

    threads = [threading.Thread(target=tick, args=(instance,)) for instance in instances]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        for instance in instances:
            instance.dispose()

    assert sorted(queued) == [0, 0, 0, 1]
    assert len(_digests(db)) == 1


def test_a_digest_is_delivered_like_any_alert(db, clock, tmp_path):
    room = _room(db, clock, tmp_path, "0 13 * * *")
    queue_due_digests(db, clock)
    clock.advance(60)
    room.publish("wire", *other_story(1))
    clock.advance(timedelta(hours=1))
    queue_due_digests(db, clock)
    stream = io.StringIO()
    channels = build_channels(room.settings, NetworkPolicy(), clock, stream=stream)
    dispatcher = Dispatcher(db, channels, room.settings.alerts, clock, rng=random.Random(1))

    summary = dispatch_due(dispatcher)

    assert summary.sent == 1
    assert [row.status for row, _ in _digests(db)] == ["sent"]


# -- now ------------------------------------------------------------------------------------


def test_digest_now_queues_what_the_next_digest_would_cover(db, clock, tmp_path):
    _room(db, clock, tmp_path, "0 7 * * *")
    queue_due_digests(db, clock)
    _add_match(db, clock.now() + timedelta(minutes=1))
    clock.advance(timedelta(hours=2))

    [queued] = digest_now(db, clock, "drones")

    assert queued.channel == "mail" and queued.matches == 1 and queued.alert_id is not None
    assert queued.since == datetime(2026, 3, 1, 12, tzinfo=UTC) and queued.until == clock.now()
    assert _mark(db) == clock.now()
    # The scheduled digest next morning starts where this one ended.
    _add_match(db, clock.now() + timedelta(minutes=1))
    clock.set(datetime(2026, 3, 2, 7, tzinfo=UTC))
    queue_due_digests(db, clock)
    assert [event.since for _, event in _digests(db)] == [
        datetime(2026, 3, 1, 12, tzinfo=UTC),
        datetime(2026, 3, 1, 14, tzinfo=UTC),
    ]


def test_the_first_digest_covers_the_matches_since_the_route_was_configured(db, clock, tmp_path):
    _room(db, clock, tmp_path, "0 7 * * *")  # 12:00; no digest tick ran yet
    _add_match(db, clock.now() + timedelta(minutes=1))
    clock.advance(timedelta(hours=1))

    [queued] = digest_now(db, clock, "drones")

    assert queued.matches == 1 and queued.since == datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_an_empty_digest_now_is_reported_not_queued(db, clock, tmp_path):
    _room(db, clock, tmp_path, "0 7 * * *")
    queue_due_digests(db, clock)
    clock.advance(timedelta(hours=1))

    [queued] = digest_now(db, clock, "drones")

    assert queued.alert_id is None and queued.matches == 0
    assert _digests(db) == []


def test_digest_now_of_an_unknown_watchlist_or_one_without_digests_is_refused(db, clock, tmp_path):
    settings = newsroom_settings(
        tmp_path, [{"name": "instant", "queries": ["مسيرة"], "channels": ["desk"]}]
    )
    open_newsroom(db, clock, settings)

    with pytest.raises(NotFound, match="no watchlist named 'nothing'"):
        digest_now(db, clock, "nothing")
    with pytest.raises(Conflict, match="no digest route"):
        digest_now(db, clock, "instant")


# -- size -----------------------------------------------------------------------------------


def test_a_digest_of_two_thousand_matches_counts_them_all(db, clock, tmp_path):
    _room(db, clock, tmp_path, "0 13 * * *")
    outlets = ("wire", "daily", "weekly", "evening")
    with db.connection() as connection:
        watchlist_id = connection.scalar(select(Watchlist.id))
        sources = {name: key for key, name in connection.execute(select(Source.id, Source.name))}
        articles = Article.__table__

        def add(outlet: str, number: int, story: int | None) -> list[int]:
            return list(
                connection.execute(
                    insert(articles).returning(articles.c.id),
                    [
                        {
                            "source_id": sources[outlet],
                            "url": f"https://{outlet}.example/bulk/{n}",
                            "title": f"طائرة مسيرة {n}",
                            "content_hash": f"{outlet[0]}{n:063d}",
                            "fetched_at": clock.now(),
                            "story_id": story,
                        }
                        for n in range(number)
                    ],
                ).scalars()
            )

        # 500 stories, each reported by the four outlets.
        founders = add("wire", 500, None)
        ids = list(founders)
        for outlet in outlets[1:]:
            for founder in founders:
                ids += add(outlet, 1, founder)
        connection.execute(
            insert(Match.__table__),
            [
                {
                    "article_id": article_id,
                    "watchlist_id": watchlist_id,
                    "highlights": [],
                    "created_at": clock.now() + timedelta(seconds=1),
                }
                for article_id in ids
            ],
        )
        event = build_digest(
            connection, watchlist_id, "drones", clock.now(), clock.now() + timedelta(hours=1)
        )

    assert event.matches == 2000 and len(event.stories) == 500
    assert {story.outlets for story in event.stories} == {outlets}


# -- the service ----------------------------------------------------------------------------


def _service(database_url, clock, tmp_path, stream):
    from monitor.service import Service

    settings = newsroom_settings(tmp_path, _room_watchlists(), database={"url": database_url})
    service = Service(settings, clock=clock, alert_stream=stream)
    service.prepare()
    return service


def test_the_service_tick_queues_due_digests_and_wakes_the_dispatcher(
    database_url, clock, tmp_path
):
    stream = io.StringIO()
    service = _service(database_url, clock, tmp_path, stream)
    try:

        async def ticks() -> list[int]:
            first = await service.digest_tick()  # the mark is made
            _add_match(service.db, clock.now() + timedelta(minutes=1))
            clock.set(datetime(2026, 3, 1, 18, 5, tzinfo=UTC))
            second = await service.digest_tick()
            await asyncio.gather(*service._background)  # the round it woke
            return [first, second]

        assert asyncio.run(ticks()) == [0, 1]
        [(row, event)] = _digests(service.db)
    finally:
        service.close()
    assert event.matches == 1 and row.status == "sent"
