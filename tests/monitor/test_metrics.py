"""The service's Prometheus metrics: counters moved by a real poll, gauges read from the
database at scrape time (SQLite and PostgreSQL).

The poll runs the real service (``Service.run_once``: Scrapy, ingest, dispatch) in a
process of its own, as tests/e2e does, since Twisted's reactor starts once per process;
the news site and the alert receiver are local servers in this one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from monitor import sources as source_state
from monitor.config import settings_from_mapping
from monitor.db.session import Database
from monitor.metrics import database_registry, render_metrics
from tests.support.http import LocalServer, Reply
from tests.support.site import article_page, rss, seed_story

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_PATH = "/hook/T000/sekr1tpath"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

RUN_ONCE_AND_SCRAPE = """
import sys
from crawler.runner import run_in_reactor
from monitor.config import load_settings
from monitor.metrics import render_metrics
from monitor.service import Service

service = Service(load_settings(sys.argv[1]))
service.lock.acquire()
service.prepare()
run_in_reactor(service.run_once)
body, content_type = render_metrics(service.metrics.registry)
service.close()
sys.stdout.write(content_type + "\\n" + body.decode())
"""


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _site(server: LocalServer) -> str:
    story = seed_story(datetime.now(UTC) - timedelta(hours=1))
    base = server.url("").rstrip("/")
    server.route(f"/news/{story.slug}", Reply(body=article_page(story)))
    server.route(
        "/feed.xml",
        Reply(body=rss("الموقع", base, [story]), content_type="application/rss+xml"),
    )
    return server.url("/feed.xml")


def _settings_toml(database_url: str, feed_url: str, webhook_url: str) -> str:
    return (
        f"[database]\nurl = {json.dumps(database_url)}\n"
        '[crawl]\nallow_private_networks = true\ntimeout = "5s"\nautothrottle = false\n'
        '[alerts]\nmax_article_age = "48h"\n'
        f'[[sources]]\nname = "site"\nurl = "{feed_url}"\n'
        f'[[channels]]\nname = "hook"\nkind = "webhook"\nurl = "{webhook_url}"\n'
        f'secret = "{SECRET}"\n'
        '[[watchlists]]\nname = "drones"\nqueries = ["طائرة مسيرة"]\n'
    )


def test_a_poll_through_the_service_moves_every_counter_and_none_names_a_url(
    database_url, server, receiver, tmp_path
):
    feed_url = _site(server)
    receiver.route(WEBHOOK_PATH, Reply(200, "ok", content_type="text/plain"))
    webhook_url = receiver.url(WEBHOOK_PATH)
    config = tmp_path / "settings.toml"
    config.write_text(_settings_toml(database_url, feed_url, webhook_url), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RASID_")}

    result = subprocess.run(
        [sys.executable, "-c", RUN_ONCE_AND_SCRAPE, str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
        env=env,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    content_type, _, text = result.stdout.partition("\n")
    assert content_type.startswith("text/plain; version=")
    found = samples(text)
    assert found[("rasid_polls_total", (("result", "ok"),))] == 1
    assert found[("rasid_polls_total", (("result", "error"),))] == 0
    assert found[("rasid_articles_stored_total", ())] == 1
    assert found[("rasid_matches_total", ())] == 1
    assert found[("rasid_alert_attempts_total", (("result", "sent"),))] == 1
    assert found[("rasid_alert_delivery_latency_seconds_count", ())] == 1
    assert found[("rasid_poll_duration_seconds_count", ())] == 1
    assert found[("rasid_database_up", ())] == 1
    assert found[("rasid_alerts", (("status", "sent"),))] == 1
    assert found[("rasid_sources", (("state", "active"),))] == 1
    assert len(receiver.requests_to(WEBHOOK_PATH)) == 1
    for private in (feed_url, webhook_url, "sekr1tpath", SECRET, "127.0.0.1", "site", "hook"):
        assert private not in text


def test_the_database_gauges_count_sources_by_state_and_empty_queues(db, tmp_path, clock):
    settings = settings_from_mapping(
        {
            "sources": [
                {"name": "one", "url": "https://one.example/rss"},
                {"name": "two", "url": "https://two.example/rss"},
                {"name": "three", "url": "https://three.example/rss"},
            ]
        },
        tmp_path / "settings.toml",
        env={},
    )
    with db.transaction() as session:
        source_state.sync_sources(session, settings, clock.now())
        source_state.set_paused(session, "two", True, clock.now())

    body, _ = render_metrics(database_registry(lambda: db))

    found = samples(body.decode())
    assert found[("rasid_database_up", ())] == 1
    assert found[("rasid_sources", (("state", "active"),))] == 2
    assert found[("rasid_sources", (("state", "paused"),))] == 1
    assert found[("rasid_sources", (("state", "disabled"),))] == 0
    for status in ("pending", "sent", "dead"):
        assert found[("rasid_alerts", (("status", status),))] == 0
    assert found[("rasid_frontier_entries", (("state", "pending"),))] == 0


def test_an_unreachable_database_scrapes_as_down_instead_of_failing():
    db = Database("postgresql+psycopg://rasid:pw@127.0.0.1:1/nowhere")
    try:
        body, _ = render_metrics(database_registry(lambda: db))
    finally:
        db.dispose()

    found = samples(body.decode())
    assert found == {("rasid_database_up", ()): 0}
