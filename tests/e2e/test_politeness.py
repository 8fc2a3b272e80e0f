"""Politeness end to end: robots.txt (and its per-source override), Retry-After on 429
and 503, and a source paused after repeated failures until it is resumed."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from tests.e2e.conftest import accepting, posted_json
from tests.support.http import Reply


def test_robots_txt_is_obeyed_and_can_be_overridden(news_site, receiver, rasid_factory):
    news_site.server.route(
        "/robots.txt", Reply(body="User-agent: *\nDisallow: /feeds/\n", content_type="text/plain")
    )
    rasid = rasid_factory(sources={"site": news_site.feed_url}, webhook_url=accepting(receiver))

    assert rasid.run("run", "--once").returncode == 0

    status = rasid.source_status("site")
    assert status["last_status"] == "error"
    assert "robots.txt" in status["last_error"] and "robots = false" in status["last_error"]
    assert not news_site.server.requests_to("/feeds/main.xml")

    text = rasid.config.read_text(encoding="utf-8")
    rasid.config.write_text(
        text.replace('interval = "1m"\n', 'interval = "1m"\nrobots = false\n'), encoding="utf-8"
    )
    assert rasid.run("run", "--once").returncode == 0
    assert sorted(a["watchlist"] for a in posted_json(receiver.requests_to("/hook"))) == [
        "ain-al-asad",
        "drones",
    ]


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(news_site, receiver, rasid_factory, status):
    news_site.server.route("/busy.xml", Reply(status, "slow down", headers={"Retry-After": "7200"}))
    rasid = rasid_factory(
        sources={"busy": news_site.server.url("/busy.xml")}, webhook_url=accepting(receiver)
    )

    rasid.run("run", "--once")

    source = rasid.source_status("busy")
    assert "honoured" in source["last_error"]
    next_poll = datetime.fromisoformat(source["next_poll_at"])
    assert (next_poll - datetime.now(UTC)).total_seconds() > 7000


def test_a_source_failing_too_often_is_paused_until_resumed(news_site, receiver, rasid_factory):
    news_site.server.route("/gone.xml", Reply(404, "gone"))
    rasid = rasid_factory(
        sources={"gone": news_site.server.url("/gone.xml")},
        webhook_url=accepting(receiver),
        crawl={"pause_after_failures": 2},
    )

    rasid.run("run", "--once")
    rasid.run("run", "--once")
    rasid.run("run", "--once")  # paused: not polled again

    source = rasid.source_status("gone")
    assert source["paused_at"] is not None
    assert "paused after 2 consecutive failures" in source["paused_reason"]
    assert len(news_site.server.requests_to("/gone.xml")) == 2
    shown = re.sub(r"[\s│┃]+", " ", rasid.run("status").stdout)  # unwrap the table cells
    assert "PAUSED" in shown and "rasid sources resume gone" in shown

    assert rasid.run("sources", "resume", "gone").returncode == 0
    assert rasid.source_status("gone")["paused_at"] is None
    rasid.run("run", "--once")
    assert len(news_site.server.requests_to("/gone.xml")) == 3
