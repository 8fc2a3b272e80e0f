"""Crashes between a feed and a webhook lose nothing (RELIABILITY.md scenarios 28, 41).

The real service is killed with SIGKILL (no handler runs, nothing is flushed) at points
between the feed's GET and the alert's delivery, on SQLite and PostgreSQL; restarted,
it stores every article once and delivers every alert once. The feed's bytes never
change: what was found before the crash must come back from the database, not from a
second reading of the feed.
"""

from __future__ import annotations

import signal
import subprocess
import sys

from monitor.db.session import Database
from tests.e2e.conftest import (
    Gate,
    Rasid,
    accepting,
    clean_env,
    count_rows,
    kill_service,
    posted_json,
    recent,
    start_service,
    stop_service,
    wait_for,
)
from tests.support.http import LocalServer, Recorded, Reply
from tests.support.site import article_page, distinct_drone_stories, rss

STORIES = 6


def _site(server: LocalServer, gate: Gate, held: int = STORIES) -> list[str]:
    """A feed of distinct drone stories whose first ``held`` pages wait for the gate;
    returns the article URLs."""
    stories = distinct_drone_stories(STORIES, recent(1))
    for number, story in enumerate(stories):
        reply = Reply(body=article_page(story))
        server.route(f"/news/{story.slug}", gate.hold(reply) if number < held else reply)
    base = server.url("").rstrip("/")
    server.route(
        "/feed.xml",
        Reply(body=rss("موقع", base, stories), content_type="application/rss+xml; charset=utf-8"),
    )
    return [f"{base}/news/{story.slug}" for story in stories]


def _rasid(rasid_factory, server: LocalServer, receiver_url: str, database_url: str) -> Rasid:
    """The service's settings, its database created so the test can watch its tables."""
    database = Database(database_url)
    database.migrate()
    database.dispose()
    # Polled once an hour: after the restart only the database can bring the entries back.
    return rasid_factory(
        sources={"site": server.url("/feed.xml")},
        webhook_url=receiver_url,
        watchlists={"drones": ["طائرة مسيرة"]},
        crawl={"poll_tick": "200ms"},
        # An alert a killed process was sending is another's once its lease (this
        # deadline plus a margin) runs out: on PostgreSQL the restart waits for that.
        alerts={"timeout": "2s"},
        interval="1h",
    )


def _each_delivered_once(receiver: LocalServer, urls: list[str]) -> None:
    """Every article alerted; a repeat only ever carries the id of the one in flight."""
    deliveries = receiver.requests_to("/hook")
    by_id = {r.headers["webhook-id"]: r for r in deliveries}
    alerted = sorted(payload["article"]["url"] for payload in posted_json(list(by_id.values())))
    assert alerted == sorted(urls)
    assert len(deliveries) <= len(by_id) + 1


def test_kill_after_the_feed_get_loses_none_of_its_articles(
    server, receiver, rasid_factory, database_url
):
    gate = Gate()
    urls = _site(server, gate)
    rasid = _rasid(rasid_factory, server, accepting(receiver), database_url)

    first = start_service(rasid)
    try:
        # The poll is recorded with its entries; their pages are still downloading.
        assert wait_for(lambda: count_rows(database_url, "frontier") == STORIES, 60)
    finally:
        kill_service(first)
    assert count_rows(database_url, "articles") == 0
    gate.open()

    second = start_service(rasid)
    try:
        assert wait_for(lambda: count_rows(database_url, "articles") == STORIES, 60)
        assert wait_for(lambda: len(receiver.requests_to("/hook")) >= STORIES, 30)
    finally:
        code, err = stop_service(second)
    assert code == 0, err
    _each_delivered_once(receiver, urls)
    assert count_rows(database_url, "frontier") == 0
    assert len(server.requests_to("/feed.xml")) == 1


def test_kill_during_page_downloads_stores_the_rest_after_restart(
    server, receiver, rasid_factory, database_url
):
    gate = Gate()
    urls = _site(server, gate, held=STORIES // 2)
    rasid = _rasid(rasid_factory, server, accepting(receiver), database_url)

    first = start_service(rasid)
    try:
        assert wait_for(lambda: count_rows(database_url, "articles") == STORIES // 2, 60)
    finally:
        kill_service(first)
    assert count_rows(database_url, "frontier") == STORIES // 2
    gate.open()

    second = start_service(rasid)
    try:
        assert wait_for(lambda: count_rows(database_url, "articles") == STORIES, 60)
        assert wait_for(lambda: len({*_ids(receiver)}) >= STORIES, 60)
    finally:
        code, err = stop_service(second)
    assert code == 0, err
    _each_delivered_once(receiver, urls)
    assert count_rows(database_url, "articles") == STORIES


def _ids(receiver: LocalServer) -> list[str]:
    return [r.headers["webhook-id"] for r in receiver.requests_to("/hook")]


def test_kill_after_storing_before_the_alert_delivers_each_once(
    server, receiver, rasid_factory, database_url
):
    urls = _site(server, Gate(), held=0)
    down = [True]
    accepted: list[Recorded] = []

    def hook(request: Recorded) -> Reply:
        if down[0]:
            return Reply(503, "busy", content_type="text/plain")
        accepted.append(request)
        return Reply(200, "ok", content_type="text/plain")

    receiver.route("/hook", hook)
    rasid = _rasid(rasid_factory, server, receiver.url("/hook"), database_url)

    first = start_service(rasid)
    try:
        # Stored and matched, alerts queued: the receiver refuses them for now.
        assert wait_for(
            lambda: count_rows(database_url, "alert_outbox", "status = 'pending'") == STORIES, 60
        )
    finally:
        kill_service(first)
    down[0] = False

    second = start_service(rasid)
    try:
        assert wait_for(
            lambda: count_rows(database_url, "alert_outbox", "status = 'sent'") == STORIES, 60
        )
    finally:
        code, err = stop_service(second)
    assert code == 0, err
    delivered = sorted(payload["article"]["url"] for payload in posted_json(accepted))
    assert delivered == sorted(urls)
    assert count_rows(database_url, "articles") == STORIES


def test_sigterm_to_run_once_stops_cleanly_and_the_next_run_finishes(
    server, receiver, rasid_factory, database_url
):
    gate = Gate()
    urls = _site(server, gate)
    rasid = _rasid(rasid_factory, server, accepting(receiver), database_url)

    once = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(rasid.config), "run", "--once"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
        cwd=rasid.config.parent,
    )
    try:
        assert wait_for(lambda: count_rows(database_url, "frontier") == STORIES, 60)
        once.send_signal(signal.SIGTERM)
        out, err = once.communicate(timeout=30)
    finally:
        if once.poll() is None:
            once.kill()
    assert once.returncode == 1, err
    assert "interrupted by SIGTERM" in out
    assert "Traceback" not in err
    # Given back, not left leased to a process that is gone.
    assert count_rows(database_url, "frontier", "lease_token IS NULL") == STORIES
    gate.open()

    result = rasid.run("run", "--once")

    assert result.returncode == 0, result.stderr
    _each_delivered_once(receiver, urls)
    assert count_rows(database_url, "frontier") == 0
