"""Routes: settings.toml's routes reach the database, and ingest alerts instant routes
only, with the watchlist's urgency."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from monitor.db.models import DigestMark, Watchlist
from monitor.errors import ConfigError
from monitor.watchlists import Route, add_watchlist, get_watchlist, sync_watchlists
from tests.support.newsroom import newsroom_settings, open_newsroom, other_story

DIGEST = {"channel": "mail", "mode": "digest", "schedule": "0 7 * * *", "time_zone": "Asia/Baghdad"}


def _drones(**keys):
    return {"name": "drones", "queries": ["طائرة مسيرة"], **keys}


def test_every_route_of_settings_is_stored_with_its_mode(db, clock, tmp_path):
    settings = newsroom_settings(
        tmp_path,
        [_drones(urgent=True, routes=[{"channel": "desk", "follow_up": "90s"}, DIGEST])],
    )
    open_newsroom(db, clock, settings)

    with db.transaction() as session:
        info = get_watchlist(session, "drones")
    assert info.urgent is True
    assert info.channels == ("desk", "mail")
    assert info.routes == (
        Route("desk", follow_up=timedelta(seconds=90)),
        Route("mail", "digest", "0 7 * * *", "Asia/Baghdad"),
    )


def test_plain_channels_are_instant_routes(db, clock, tmp_path):
    settings = newsroom_settings(tmp_path, [_drones(channels=["desk"])])
    open_newsroom(db, clock, settings)

    with db.transaction() as session:
        assert get_watchlist(session, "drones").routes == (Route("desk"),)


def test_a_digest_route_gets_its_mark_and_loses_it_when_it_changes_on_reload(db, clock, tmp_path):
    settings = newsroom_settings(tmp_path, [_drones(routes=[DIGEST])])
    open_newsroom(db, clock, settings)
    with db.transaction() as session:
        # A digest route's mark is made with it: its first digest starts from here.
        assert [(m.channel, m.last_fire_at) for m in session.scalars(select(DigestMark))] == [
            ("mail", clock.now())
        ]
        before = session.scalar(select(Watchlist.updated_at))

    clock.advance(60)
    changed = newsroom_settings(tmp_path, [_drones(routes=[{"channel": "mail"}], urgent=True)])
    with db.transaction() as session:
        sync_watchlists(session, changed, clock.now())
    with db.transaction() as session:
        info = get_watchlist(session, "drones")
        assert info.routes == (Route("mail"),)
        assert info.urgent is True
        assert session.scalar(select(Watchlist.updated_at)) > before
        assert session.scalars(select(DigestMark)).all() == []


def test_a_route_to_an_unknown_channel_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="nowhere"):
        newsroom_settings(tmp_path, [_drones(routes=[{"channel": "nowhere"}])])


def test_a_cli_watchlist_keeps_its_channels_as_instant_routes(db, clock, tmp_path):
    settings = newsroom_settings(tmp_path, [])
    with db.transaction() as session:
        for query, channel in (("مسيرة", "desk"), ("درون", "mail")):
            info = add_watchlist(
                session,
                name="cli",
                queries=[query],
                channels=[channel],
                settings=settings,
                now=clock.now(),
            )
    assert info.routes == (Route("desk"), Route("mail"))
    assert info.urgent is False


def test_ingest_alerts_instant_routes_only(db, clock, tmp_path):
    settings = newsroom_settings(tmp_path, [_drones(routes=[{"channel": "desk"}, DIGEST])])
    room = open_newsroom(db, clock, settings)

    result = room.publish("wire", *other_story(1))

    assert result.matches == 1 and result.alerts == 1
    assert [(row.channel, row.kind) for row in room.outbox()] == [("desk", "match")]


def test_a_digest_only_watchlist_gets_no_alert_at_ingest_but_keeps_its_match(db, clock, tmp_path):
    settings = newsroom_settings(tmp_path, [_drones(routes=[DIGEST])])
    room = open_newsroom(db, clock, settings)

    result = room.publish("wire", *other_story(1))

    assert result.matches == 1 and result.alerts == 0
    assert room.outbox() == []


def test_a_watchlist_without_routes_alerts_every_active_channel(db, clock, tmp_path):
    settings = newsroom_settings(tmp_path, [_drones()])
    room = open_newsroom(db, clock, settings)

    room.publish("wire", *other_story(1))

    assert sorted(row.channel for row in room.outbox()) == ["desk", "mail"]


def test_an_urgent_watchlist_queues_urgent_rows(db, clock, tmp_path):
    settings = newsroom_settings(
        tmp_path,
        [_drones(urgent=True), {"name": "calm", "queries": ["الشرطة"], "channels": ["desk"]}],
    )
    room = open_newsroom(db, clock, settings)

    room.publish("wire", *other_story(1))

    with db.transaction() as session:
        names = {key: name for key, name in session.execute(select(Watchlist.id, Watchlist.name))}
    urgency = {(names[row.watchlist_id], row.channel): row.urgent for row in room.outbox()}
    assert urgency == {("drones", "desk"): True, ("drones", "mail"): True, ("calm", "desk"): False}
