"""`rasid run` as a service: polls on its cadence, alerts as stories appear, stops cleanly."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import (
    Rasid,
    accepting,
    posted_json,
    recent,
    settings_text,
    start_service,
    stop_service,
    wait_for,
)
from tests.support.http import LocalServer, Recorded, Reply
from tests.support.site import Story


def test_service_alerts_on_new_stories_and_stops_cleanly_on_sigterm(
    news_site, receiver: LocalServer, rasid_factory
):
    rasid = rasid_factory(
        sources={"site": news_site.feed_url},
        webhook_url=accepting(receiver),
        crawl={"poll_tick": "200ms"},
        interval="1s",
    )
    process = start_service(rasid)
    try:
        assert wait_for(lambda: len(receiver.requests_to("/hook")) >= 2, 60)
        news_site.publish(
            Story(
                "new-drone",
                "إسقاط طائرة مسيرة قرب أربيل",
                ["أسقطت الدفاعات طائرة مسيرة قرب مطار أربيل فجر اليوم."] * 3,
                recent(0),
            )
        )
        assert wait_for(lambda: len(receiver.requests_to("/hook")) >= 3, 30)
    finally:
        code, err = stop_service(process)
    assert code == 0, err
    assert "Traceback" not in err
    watchlists = sorted(a["watchlist"] for a in posted_json(receiver.requests_to("/hook")))
    assert watchlists == ["ain-al-asad", "drones", "drones"]


@pytest.mark.parametrize("reached_by", ["the same path", "a symlink"])
def test_a_second_instance_on_one_sqlite_file_is_refused(news_site, receiver, tmp_path, reached_by):
    one = tmp_path / "data" / "one.db"
    one.parent.mkdir()
    # The second instance names the file itself, or a symlink to it (scenario 43).
    other = one if reached_by == "the same path" else tmp_path / "link.db"
    first, second = (
        _rasid_on(path, name, news_site, receiver, tmp_path)
        for name, path in (("first", one), ("second", other))
    )
    process = start_service(first)
    try:
        assert wait_for(lambda: len(receiver.requests_to("/hook")) >= 2, 60)
        if other != one:
            other.symlink_to(one)
        refused = second.run("run", "--once")
    finally:
        code, err = stop_service(process)
    assert refused.returncode == 1
    assert "another rasid run is already using" in refused.stderr
    assert code == 0, err


def _rasid_on(path, name, news_site, receiver, tmp_path) -> Rasid:
    config = tmp_path / f"{name}.toml"
    config.write_text(
        settings_text(
            database_url=f"sqlite:///{path}",
            sources={"site": news_site.feed_url},
            webhook_url=accepting(receiver),
        ),
        encoding="utf-8",
    )
    return Rasid(config)


def test_a_slow_receiver_does_not_make_the_scheduler_warn_every_tick(
    news_site, receiver, rasid_factory
):
    slow = [False]

    def hook(_request: Recorded) -> Reply:
        if not slow[0]:
            return Reply(503, "busy", content_type="text/plain")
        time.sleep(2)
        return Reply(200, "ok", content_type="text/plain")

    receiver.route("/hook", hook)
    rasid = rasid_factory(
        sources={"site": news_site.feed_url},
        webhook_url=receiver.url("/hook"),
        crawl={"poll_tick": "200ms"},
        alerts={"dispatch_interval": "200ms"},
    )
    assert rasid.run("run", "--once").returncode == 0  # two alerts left pending
    slow[0] = True
    process = start_service(rasid)
    try:
        # Sent by a dispatch tick, two seconds each: a dozen ticks fall meanwhile.
        assert wait_for(lambda: len(receiver.requests_to("/hook")) >= 3, 60)
        time.sleep(2.5)
    finally:
        code, err = stop_service(process)
    assert code == 0, err
    assert "maximum number of running instances" not in err
    assert "skipped" not in err
    assert rasid.status()["alerts"]["sent"] == 2
