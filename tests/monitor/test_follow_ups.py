"""Story follow-ups: a story alerted once, then reported by other outlets, gets one
follow-up per route listing them, after the route's delay, and never a second one."""

from __future__ import annotations

import io
import random
from datetime import timedelta

from alerts.channels import build_channels
from alerts.dispatch import Dispatcher
from alerts.event import FollowUpEvent, event_from_json
from alerts.outbox import claim_due
from monitor.netguard import NetworkPolicy
from tests.support.dispatch import dispatch_due
from tests.support.newsroom import (
    newsroom_settings,
    open_newsroom,
    other_story,
    retold,
    seed_article,
)

DELAY = timedelta(minutes=30)


def _room(db, clock, tmp_path, routes, **keys):
    watchlist = {"name": "drones", "queries": ["طائرة مسيرة"], "routes": routes, **keys}
    return open_newsroom(db, clock, newsroom_settings(tmp_path, [watchlist]))


def _dispatcher(room, stream):
    channels = build_channels(room.settings, NetworkPolicy(), room.clock, stream=stream)
    return Dispatcher(room.db, channels, room.settings.alerts, room.clock, rng=random.Random(3))


def _follow_up(row) -> FollowUpEvent:
    event = event_from_json(row.payload)
    assert isinstance(event, FollowUpEvent)
    return event


def test_other_outlets_of_an_alerted_story_get_one_follow_up_after_the_delay(db, clock, tmp_path):
    room = _room(db, clock, tmp_path, [{"channel": "desk", "follow_up": "30m"}])
    first = room.publish("wire", *seed_article())
    clock.advance(60)
    reported_at = clock.now()
    second = room.publish("daily", *retold(1))
    clock.advance(60)
    room.publish("weekly", *retold(2))

    assert second.story_id == first.article_id and second.alerts == 0
    [row] = room.outbox("follow_up")
    follow_up = _follow_up(row)
    assert row.channel == "desk" and row.status == "pending"
    assert row.next_attempt_at == reported_at + DELAY
    assert row.dedupe_key == f"follow_up:{first.article_id}:{row.watchlist_id}:desk"
    assert follow_up.article.source == "wire"
    assert follow_up.article.title == seed_article()[0]
    assert follow_up.outlets == ("daily", "weekly")
    assert follow_up.id == row.alert_id

    stream = io.StringIO()
    dispatcher = _dispatcher(room, stream)
    dispatch_due(dispatcher)  # the match alert; the follow-up waits for its delay
    assert [r.status for r in room.outbox("follow_up")] == ["pending"]
    clock.set(reported_at + DELAY)
    assert dispatch_due(dispatcher).sent == 1
    assert [r.status for r in room.outbox("follow_up")] == ["sent"]
    assert "weekly" in stream.getvalue()


def test_an_outlet_after_the_follow_up_was_sent_gets_nothing(db, clock, tmp_path):
    room = _room(db, clock, tmp_path, [{"channel": "desk", "follow_up": "30m"}])
    room.publish("wire", *seed_article())
    room.publish("daily", *retold(1))
    clock.advance(DELAY)
    dispatch_due(_dispatcher(room, io.StringIO()))

    clock.advance(60)
    later = room.publish("evening", *retold(3))

    assert later.alerts == 0
    [row] = room.outbox("follow_up")
    assert row.status == "sent" and _follow_up(row).outlets == ("daily",)


def test_a_route_without_follow_up_gets_nothing_for_other_outlets(db, clock, tmp_path):
    room = _room(db, clock, tmp_path, [{"channel": "desk"}])
    room.publish("wire", *seed_article())
    room.publish("daily", *retold(1))

    assert [row.kind for row in room.outbox()] == ["match"]


def test_the_alerted_outlet_again_and_an_outlet_twice_are_listed_once(db, clock, tmp_path):
    room = _room(db, clock, tmp_path, [{"channel": "desk", "follow_up": "30m"}])
    room.publish("wire", *seed_article())
    room.publish("wire", *retold(1))  # the alerted outlet: no follow-up for it
    assert room.outbox("follow_up") == []

    room.publish("daily", *retold(2))
    room.publish("daily", *retold(3))
    room.publish("wire", *retold(4))

    [row] = room.outbox("follow_up")
    assert [report.source for report in _follow_up(row).reports] == ["daily"]


def test_each_follow_up_route_has_its_own_and_digest_routes_none(db, clock, tmp_path):
    room = _room(
        db,
        clock,
        tmp_path,
        [
            {"channel": "desk", "follow_up": "30m"},
            {"channel": "mail", "mode": "digest", "schedule": "0 7 * * *"},
        ],
        urgent=True,
    )
    room.publish("wire", *seed_article())
    room.publish("daily", *retold(1))

    rows = room.outbox("follow_up")
    assert [(row.channel, row.urgent) for row in rows] == [("desk", True)]


def test_a_follow_up_being_sent_is_not_changed(db, clock, tmp_path):
    room = _room(db, clock, tmp_path, [{"channel": "desk", "follow_up": "30m"}])
    room.publish("wire", *seed_article())
    room.publish("daily", *retold(1))
    clock.advance(DELAY)
    claimed = claim_due(db, now=clock.now(), limit=10, lease=timedelta(minutes=1))
    assert any(isinstance(alert.event, FollowUpEvent) for alert in claimed)

    room.publish("weekly", *retold(2))

    [row] = room.outbox("follow_up")
    assert _follow_up(row).outlets == ("daily",)


def test_another_story_is_alerted_not_followed_up(db, clock, tmp_path):
    room = _room(db, clock, tmp_path, [{"channel": "desk", "follow_up": "30m"}])
    room.publish("wire", *seed_article())
    other = room.publish("daily", *other_story(1))

    assert other.alerts == 1 and room.outbox("follow_up") == []


def test_a_waiting_follow_up_does_not_hold_up_the_channels_later_alerts(db, clock, tmp_path):
    room = _room(db, clock, tmp_path, [{"channel": "desk", "follow_up": "30m"}])
    room.publish("wire", *seed_article())
    room.publish("daily", *retold(1))
    dispatcher = _dispatcher(room, io.StringIO())
    dispatch_due(dispatcher)

    clock.advance(60)
    room.publish("weekly", *other_story(5))

    assert dispatch_due(dispatcher).sent == 1


def test_a_delivery_round_that_ignores_backoff_still_waits_for_a_follow_ups_delay(
    db, clock, tmp_path
):
    # `rasid run --once` delivers with ignore_backoff: retries go at once, but a
    # follow-up is scheduled, not backing off, and keeps its delay.
    room = _room(db, clock, tmp_path, [{"channel": "desk", "follow_up": "30m"}])
    room.publish("wire", *seed_article())
    room.publish("daily", *retold(1))
    dispatcher = _dispatcher(room, io.StringIO())

    assert dispatch_due(dispatcher, ignore_backoff=True).sent == 1  # the alert only
    clock.advance(31 * 60)
    assert dispatch_due(dispatcher, ignore_backoff=True).sent == 1  # now the follow-up
    [row] = room.outbox("follow_up")
    assert row.status == "sent"
