"""The probes (/metrics, /healthz, /readyz), served by their router alone in a minimal
application over a real database, with and without a service in the process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from monitor.app import App
from monitor.config import Settings, settings_from_mapping
from monitor.service import Service
from monitor.web.context import WebContext
from monitor.web.observability import router

WEBHOOK_URL = "https://hooks.example.net/T000/B000/sekr1tpath"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
FEED_URL = "https://news.example/private-feed.xml?key=feedsekr1t"
UNREACHABLE = "postgresql+psycopg://rasid:dbsekr1t@127.0.0.1:1/nowhere"


def _settings(database_url: str, tmp_path: Path) -> Settings:
    return settings_from_mapping(
        {
            "database": {"url": database_url},
            "sources": [{"name": "news", "url": FEED_URL}],
            "channels": [{"name": "ops", "kind": "webhook", "url": WEBHOOK_URL, "secret": SECRET}],
            "watchlists": [{"name": "drones", "queries": ["طائرة مسيرة"]}],
        },
        tmp_path / "settings.toml",
        env={},
    )


@contextmanager
def _client(settings: Settings, clock, service: Service | None = None) -> Iterator[TestClient]:
    app = App(settings, clock=clock)
    asgi = FastAPI()
    asgi.include_router(router)
    asgi.state.rasid = WebContext(app, settings, clock, service)
    try:
        with TestClient(asgi) as client:
            yield client
    finally:
        app.close()


@pytest.fixture
def web(database_url, tmp_path, clock) -> Iterator[TestClient]:
    """``rasid web``: no service in the process."""
    with _client(_settings(database_url, tmp_path), clock) as client:
        yield client


@pytest.fixture
def service(database_url, tmp_path, clock) -> Iterator[Service]:
    """A prepared service whose scheduler was never started (as before ``run_forever``)."""
    running = Service(_settings(database_url, tmp_path), clock=clock)
    running.prepare()
    yield running
    running.close()


@pytest.fixture
def served(service, clock) -> Iterator[TestClient]:
    """``rasid run``: the web in the service's process."""
    with _client(service.settings, clock, service) as client:
        yield client


def _names(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}


def test_healthz_answers_ok_while_the_process_is_alive(web):
    answer = web.get("/healthz")

    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})


def test_readyz_is_ready_when_the_database_answers(web):
    answer = web.get("/readyz")

    assert answer.status_code == 200
    assert answer.json() == {"status": "ready", "checks": {"database": "ok"}}


def test_readyz_names_an_unreachable_database_without_saying_where_it_is(tmp_path, clock):
    with _client(_settings(UNREACHABLE, tmp_path), clock) as client:
        answer = client.get("/readyz")

    assert answer.status_code == 503
    assert answer.json() == {"status": "not ready", "checks": {"database": "unreachable"}}
    assert "127.0.0.1" not in answer.text
    assert "dbsekr1t" not in answer.text


def test_readyz_names_a_service_scheduler_that_is_not_running(served):
    answer = served.get("/readyz")

    assert answer.status_code == 503
    assert answer.json()["checks"] == {"database": "ok", "scheduler": "not running"}


def test_metrics_without_a_service_shows_the_database_gauges(web):
    answer = web.get("/metrics")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    assert {"rasid_database_up", "rasid_alerts", "rasid_sources", "rasid_frontier_entries"} <= (
        _names(answer.text)
    )
    assert "rasid_polls" not in _names(answer.text)


def test_metrics_with_a_service_shows_its_counters_and_no_url_or_secret(served):
    answer = served.get("/metrics")

    names = _names(answer.text)
    assert {
        "rasid_polls",
        "rasid_articles_stored",
        "rasid_matches",
        "rasid_alert_attempts",
        "rasid_alert_delivery_latency_seconds",
        "rasid_poll_duration_seconds",
        "rasid_poll_tick_seconds",
        "rasid_alerts",
        "rasid_sources",
    } <= names
    for private in (WEBHOOK_URL, "hooks.example.net", "sekr1t", SECRET, FEED_URL, "news"):
        assert private not in answer.text


def test_the_probes_are_not_in_the_api_document(web):
    paths = web.app.openapi()["paths"]

    assert not {"/metrics", "/healthz", "/readyz"} & set(paths)
