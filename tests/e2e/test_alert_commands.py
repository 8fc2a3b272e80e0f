"""The operating commands, run as a user runs them: ``rasid alerts test``, ``retry
--all-dead``, ``digest NAME [--now [--send]]``, and ``run --once`` queuing a due digest."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from alerts.samples import SEED_TITLE
from monitor.db.models import DigestMark, Match
from monitor.db.session import Database
from tests.e2e.conftest import Rasid, accepting, posted_json, settings_text
from tests.support.http import LocalServer, Reply

DIGEST_ROUTE = (
    '\n[[watchlists.routes]]\nchannel = "hook"\nmode = "digest"\nschedule = "0 7 * * *"\n'
)


def _digest_rasid(tmp_path, database_url, news_site, receiver: LocalServer) -> Rasid:
    """drones sends a daily digest to the webhook, nothing at once."""
    config = tmp_path / "settings.toml"
    config.write_text(
        settings_text(
            database_url=database_url,
            sources={"site": news_site.feed_url},
            webhook_url=accepting(receiver),
            watchlists={"drones": ["طائرة مسيرة"]},
        )
        + DIGEST_ROUTE,
        encoding="utf-8",
    )
    return Rasid(config)


def _move_back(database_url: str, matches: timedelta, marks: timedelta) -> None:
    """Shift the matches and digest marks into the past, as if made that long ago."""
    db = Database(database_url)
    try:
        with db.transaction() as session:
            for match in session.scalars(select(Match)):
                match.created_at -= matches
            for mark in session.scalars(select(DigestMark)):
                mark.last_fire_at -= marks
    finally:
        db.dispose()


# -- alerts test ---------------------------------------------------------------------------


def test_alerts_test_sends_the_seed_match_and_prints_the_answer(receiver, rasid_factory):
    receiver.route("/hook", Reply(200, "thanks from the desk", content_type="text/plain"))
    rasid = rasid_factory(sources={}, webhook_url=receiver.url("/hook"))

    result = rasid.run("alerts", "test", "hook")

    assert result.returncode == 0, result.stderr
    assert "thanks from the desk" in result.stdout
    [event] = posted_json(receiver.requests_to("/hook"))
    assert event["event"] == "match" and event["article"]["title"] == SEED_TITLE


def test_alerts_test_exits_1_with_the_receivers_error(receiver, rasid_factory):
    receiver.route("/hook", Reply(500, "on fire", content_type="text/plain"))
    rasid = rasid_factory(sources={}, webhook_url=receiver.url("/hook"))

    result = rasid.run("alerts", "test", "hook")

    assert result.returncode == 1
    assert "HTTP 500" in result.stderr and "not delivered" in result.stderr
    assert "Traceback" not in result.stderr


def test_alerts_test_of_an_unknown_channel_is_refused(receiver, rasid_factory):
    rasid = rasid_factory(sources={}, webhook_url=accepting(receiver))

    result = rasid.run("alerts", "test", "nowhere")

    assert result.returncode == 1 and "no channel named 'nowhere'" in result.stderr


# -- alerts retry --------------------------------------------------------------------------


def test_alerts_retry_with_neither_ids_nor_all_dead_says_what_to_pass(receiver, rasid_factory):
    rasid = rasid_factory(sources={}, webhook_url=accepting(receiver))

    result = rasid.run("alerts", "retry")

    assert result.returncode == 2
    assert "--all-dead" in result.stderr and "ids" in result.stderr


def test_alerts_retry_all_dead_queues_every_dead_alert(news_site, receiver, rasid_factory):
    receiver.route("/hook", Reply(400, "no such hook", content_type="text/plain"))
    rasid = rasid_factory(sources={"site": news_site.feed_url}, webhook_url=receiver.url("/hook"))
    assert rasid.run("run", "--once").returncode == 0

    result = rasid.run("alerts", "retry", "--all-dead")

    assert result.returncode == 0, result.stderr
    assert "re-queued 2 alerts" in result.stdout
    rows = json.loads(rasid.run("alerts", "list", "--json").stdout)
    assert {(row["status"], row["kind"]) for row in rows} == {("pending", "match")}


# -- alerts digest -------------------------------------------------------------------------


def test_digest_now_send_delivers_the_watchlists_digest(
    tmp_path, database_url, news_site, receiver
):
    rasid = _digest_rasid(tmp_path, database_url, news_site, receiver)
    assert rasid.run("run", "--once").returncode == 0
    assert posted_json(receiver.requests_to("/hook")) == []  # a digest route: nothing at once

    preview = rasid.run("alerts", "digest", "drones")
    assert preview.returncode == 0, preview.stderr
    assert "next at" in preview.stdout and "1 match" in preview.stdout

    result = rasid.run("alerts", "digest", "drones", "--now", "--send")

    assert result.returncode == 0, result.stderr
    assert "drones to hook: digest msg_" in result.stdout and " sent " in result.stdout
    [digest] = posted_json(receiver.requests_to("/hook"))
    assert digest["event"] == "digest" and digest["watchlist"] == "drones"
    assert digest["matches"] == 1
    assert [story["outlets"] for story in digest["stories"]] == [["site"]]
    rows = json.loads(rasid.run("alerts", "list", "--json").stdout)
    assert [(row["kind"], row["status"], row["watchlist"]) for row in rows] == [
        ("digest", "sent", "drones")
    ]
    shown = rasid.run("alerts", "list")
    assert "digest" in shown.stdout


def test_digest_now_without_send_queues_it_for_the_service(
    tmp_path, database_url, news_site, receiver
):
    rasid = _digest_rasid(tmp_path, database_url, news_site, receiver)
    assert rasid.run("run", "--once").returncode == 0

    result = rasid.run("alerts", "digest", "drones", "--now", "--json")

    assert result.returncode == 0, result.stderr
    [queued] = json.loads(result.stdout)["digests"]
    assert queued["digest"]["channel"] == "hook" and queued["digest"]["matches"] == 1
    assert queued["status"] is None
    assert receiver.requests_to("/hook") == []
    assert rasid.run("run", "--once").returncode == 0  # the next run delivers it
    assert [d["event"] for d in posted_json(receiver.requests_to("/hook"))] == ["digest"]


def test_digest_of_a_watchlist_without_a_digest_route_is_refused(receiver, rasid_factory):
    rasid = rasid_factory(sources={}, webhook_url=accepting(receiver))

    result = rasid.run("alerts", "digest", "drones", "--now")

    assert result.returncode == 1
    assert "no digest route" in result.stderr and "Traceback" not in result.stderr


def test_run_once_queues_and_sends_a_digest_whose_time_came(
    tmp_path, database_url, news_site, receiver
):
    rasid = _digest_rasid(tmp_path, database_url, news_site, receiver)
    assert rasid.run("run", "--once").returncode == 0  # the match; the route's mark is made
    # As if that run had been two days ago: a 07:00 digest is due, covering its match.
    _move_back(database_url, matches=timedelta(days=1), marks=timedelta(days=2))

    assert rasid.run("run", "--once").returncode == 0

    [digest] = posted_json(receiver.requests_to("/hook"))
    assert digest["event"] == "digest" and digest["matches"] == 1
