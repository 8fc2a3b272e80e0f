"""The ``rasid`` command over what a real run left: alerts to inspect and retry, and the
exit code of a run whose every source failed."""

from __future__ import annotations

import json

from tests.e2e.conftest import accepting
from tests.support.http import Reply


def test_alerts_a_receiver_refused_are_listed_dead_and_retried_by_id(
    news_site, receiver, rasid_factory
):
    receiver.route("/hook", Reply(400, "no such hook", content_type="text/plain"))
    rasid = rasid_factory(sources={"site": news_site.feed_url}, webhook_url=receiver.url("/hook"))
    assert rasid.run("run", "--once").returncode == 0

    dead = json.loads(rasid.run("alerts", "list", "--dead", "--json").stdout)

    assert sorted(alert["watchlist"] for alert in dead) == ["ain-al-asad", "drones"]
    assert {alert["channel"] for alert in dead} == {"hook"}
    assert {(alert["status"], alert["attempts"]) for alert in dead} == {("dead", 1)}
    assert all("HTTP 400" in alert["last_error"] for alert in dead)
    first, second = sorted(alert["id"] for alert in dead)
    retried = rasid.run("alerts", "retry", str(first))
    assert retried.returncode == 0, retried.stderr
    assert "re-queued 1 alert" in retried.stdout
    states = {
        a["id"]: a["status"] for a in json.loads(rasid.run("alerts", "list", "--json").stdout)
    }
    assert states == {first: "pending", second: "dead"}


def test_alerts_retry_of_an_alert_that_is_not_dead_says_so_and_queues_nothing(
    news_site, receiver, rasid_factory
):
    rasid = rasid_factory(sources={"site": news_site.feed_url}, webhook_url=accepting(receiver))
    assert rasid.run("run", "--once").returncode == 0
    sent = json.loads(rasid.run("alerts", "list", "--json").stdout)[0]["id"]

    result = rasid.run("alerts", "retry", str(sent), "999999")

    assert result.returncode == 1
    assert f"alert {sent} is sent, not dead" in result.stderr
    assert "no alert has id 999999" in result.stderr
    assert "Traceback" not in result.stderr


def test_alerts_list_shows_a_table_with_the_last_error(news_site, receiver, rasid_factory):
    receiver.route("/hook", Reply(400, "no such hook", content_type="text/plain"))
    rasid = rasid_factory(sources={"site": news_site.feed_url}, webhook_url=receiver.url("/hook"))
    rasid.run("run", "--once")

    shown = rasid.run("alerts", "list", "--dead")

    assert shown.returncode == 0, shown.stderr
    assert "drones" in shown.stdout and "hook" in shown.stdout and "dead" in shown.stdout
    assert "HTTP 400" in shown.stdout


def test_run_once_exits_1_when_every_source_it_polled_failed(news_site, receiver, rasid_factory):
    news_site.server.route("/gone.xml", Reply(404, "gone"))
    rasid = rasid_factory(
        sources={"gone": news_site.server.url("/gone.xml")}, webhook_url=accepting(receiver)
    )

    result = rasid.run("run", "--once")

    assert result.returncode == 1
    assert "every source polled failed (1)" in result.stdout
    assert "Traceback" not in result.stderr


def test_run_once_with_nothing_to_poll_is_a_clean_finish(receiver, rasid_factory):
    rasid = rasid_factory(sources={}, webhook_url=accepting(receiver))

    result = rasid.run("run", "--once")

    assert result.returncode == 0, result.stderr
    assert "polled 0 source(s)" in result.stdout


def test_status_after_a_run_shows_the_channels_that_run_recorded(
    news_site, receiver, rasid_factory
):
    rasid = rasid_factory(sources={"site": news_site.feed_url}, webhook_url=accepting(receiver))
    before = rasid.status()
    assert rasid.run("run", "--once").returncode == 0

    after = rasid.status()

    assert before["channels_recorded_at"] is None and before["channels_note"] is not None
    assert after["channels"] == [
        {"name": "hook", "kind": "webhook", "active": True, "reason": None}
    ]
    assert after["channels_recorded_at"] is not None and after["channels_note"] is None
