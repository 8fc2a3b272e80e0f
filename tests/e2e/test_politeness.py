"""Politeness end to end: robots.txt (its per-source override, a missing or unreachable
robots.txt, re-reading it in a running service), the User-Agent, Retry-After on 429 and
503, and a source paused after repeated failures until it is resumed."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from importlib.metadata import version

import pytest

from tests.e2e.conftest import accepting, posted_json, start_service, stop_service, wait_for
from tests.support.http import Reply

DENY_FEEDS = Reply(body="User-agent: *\nDisallow: /feeds/\n", content_type="text/plain")


def test_robots_txt_is_obeyed_and_can_be_overridden(news_site, receiver, rasid_factory):
    news_site.server.route("/robots.txt", DENY_FEEDS)
    rasid = rasid_factory(sources={"site": news_site.feed_url}, webhook_url=accepting(receiver))

    assert rasid.run("run", "--once").returncode == 1  # its only source was refused

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


def test_sources_of_one_site_wait_for_one_read_of_its_robots_txt(
    news_site, receiver, rasid_factory
):
    news_site.server.route("/robots.txt", DENY_FEEDS)
    feeds = {f"site-{n}": f"{news_site.feed_url}?copy={n}" for n in range(6)}
    rasid = rasid_factory(sources=feeds, webhook_url=accepting(receiver))

    rasid.run("run", "--once")

    assert len(news_site.server.requests_to("/robots.txt")) == 1
    for name in feeds:
        assert "disallowed by the site's robots.txt" in rasid.source_status(name)["last_error"]


def test_without_robots_txt_everything_is_allowed(news_site, receiver, rasid_factory):
    rasid = rasid_factory(sources={"site": news_site.feed_url}, webhook_url=accepting(receiver))

    rasid.run("run", "--once")

    assert len(news_site.server.requests_to("/robots.txt")) == 1  # a 404, read once
    assert rasid.source_status("site")["last_status"] == "ok"
    assert len(receiver.requests_to("/hook")) == 2


def test_an_unreachable_robots_txt_keeps_rasid_off_the_site(news_site, receiver, rasid_factory):
    news_site.server.route("/robots.txt", Reply(503, "down for maintenance"))
    rasid = rasid_factory(sources={"site": news_site.feed_url}, webhook_url=accepting(receiver))

    rasid.run("run", "--once")

    status = rasid.source_status("site")
    assert status["last_status"] == "error"
    assert "robots.txt could not be read (HTTP 503)" in status["last_error"]
    assert "robots = false" in status["last_error"]
    assert not news_site.server.requests_to("/feeds/main.xml")


def test_robots_txt_is_obeyed_for_article_pages_too(news_site, receiver, rasid_factory):
    news_site.server.route(
        "/robots.txt",
        Reply(body="User-agent: rasid\nDisallow: /news/\n", content_type="text/plain"),
    )
    rasid = rasid_factory(sources={"site": news_site.feed_url}, webhook_url=accepting(receiver))

    rasid.run("run", "--once")

    assert [r.path for r in news_site.server.requests if r.path.startswith("/news/")] == []
    status = rasid.status()
    assert status["articles"] == 2  # kept with the feed's own text
    assert rasid.source_status("site")["last_status"] == "ok"


def test_requests_name_rasid_and_the_operators_contact(news_site, receiver, rasid_factory):
    rasid = rasid_factory(
        sources={"site": news_site.feed_url},
        webhook_url=accepting(receiver),
        crawl={"contact": "https://ops.example/rasid"},
    )

    rasid.run("run", "--once")

    agents = {r.path: r.headers.get("user-agent") for r in news_site.server.requests}
    assert {"/robots.txt", "/feeds/main.xml"} <= agents.keys()
    assert set(agents.values()) == {f"rasid/{version('rasid')} (+https://ops.example/rasid)"}


def test_a_running_service_reads_robots_txt_again_when_it_expires(
    news_site, receiver, rasid_factory
):
    news_site.server.route("/robots.txt", DENY_FEEDS)
    rasid = rasid_factory(
        sources={"site": news_site.feed_url},
        webhook_url=accepting(receiver),
        crawl={"poll_tick": "200ms", "robots_cache": "1s"},
        interval="1s",
    )
    process = start_service(rasid)
    try:
        assert wait_for(lambda: news_site.server.requests_to("/robots.txt"), 30)
        news_site.server.route("/robots.txt", Reply(body="User-agent: *\nDisallow:\n"))
        assert wait_for(lambda: len(receiver.requests_to("/hook")) >= 2, 60)
    finally:
        code, err = stop_service(process)
    assert code == 0, err
    assert len(news_site.server.requests_to("/robots.txt")) >= 2


def _in_two_hours() -> str:
    return format_datetime(datetime.now(UTC) + timedelta(hours=2), usegmt=True)


@pytest.mark.parametrize(
    ("status", "value"),
    [(429, lambda: "7200"), (429, _in_two_hours), (503, lambda: "7200")],
    ids=["429-seconds", "429-date", "503-seconds"],
)
def test_retry_after_is_honoured(news_site, receiver, rasid_factory, status, value):
    news_site.server.route(
        "/busy.xml", Reply(status, "slow down", headers={"Retry-After": value()})
    )
    rasid = rasid_factory(
        sources={"busy": news_site.server.url("/busy.xml")}, webhook_url=accepting(receiver)
    )

    rasid.run("run", "--once")

    source = rasid.source_status("busy")
    assert "Retry-After" in source["last_error"] and "honoured" in source["last_error"]
    next_poll = datetime.fromisoformat(source["next_poll_at"])
    assert 7000 < (next_poll - datetime.now(UTC)).total_seconds() <= 7200
    shown = re.sub(r"[\s│┃]+", " ", rasid.run("status").stdout)
    assert "honoured: next poll not before" in shown


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
    assert "paused 0 - paused after 2 consecutive failures" in shown
    assert "resume with: rasid sources resume gone" in shown

    assert rasid.run("sources", "resume", "gone").returncode == 0
    assert rasid.source_status("gone")["paused_at"] is None
    rasid.run("run", "--once")
    assert len(news_site.server.requests_to("/gone.xml")) == 3
