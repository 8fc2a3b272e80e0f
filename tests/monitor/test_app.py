"""The service layer's errors say what kind of refusal they are, for every front door:
the CLI prints the message, the API (next) answers 404, 409 or 422 by the class."""

from __future__ import annotations

import pytest

from monitor.app import App
from monitor.config import load_settings
from monitor.errors import Conflict, InvalidRequest, NotFound


@pytest.fixture
def app(tmp_path, database_url):
    config = tmp_path / "settings.toml"
    config.write_text(
        f'[database]\nurl = "{database_url}"\n[[sources]]\nname = "bbc"\n'
        'url = "https://feeds.bbci.co.uk/arabic/rss.xml"\n'
        '[[watchlists]]\nname = "drones"\nqueries = ["طائرة مسيرة"]\n',
        encoding="utf-8",
    )
    with App(load_settings(config, env={})) as opened:
        yield opened


def test_an_unknown_source_is_not_found(app):
    with pytest.raises(NotFound, match="no source named 'nope'"):
        app.pause_source("nope")


def test_a_second_source_on_the_same_feed_is_a_conflict(app):
    with pytest.raises(Conflict, match="already polls"):
        app.add_source("bbc-again", "https://FEEDS.bbci.co.uk/arabic/rss.xml?utm_source=x")


def test_a_name_that_is_no_slug_is_an_invalid_request(app):
    with pytest.raises(InvalidRequest, match="slug"):
        app.add_source("BBC Arabic", "https://news.example/rss.xml")


def test_a_watchlist_from_settings_cannot_be_removed_here(app):
    with pytest.raises(Conflict, match="remove it there"):
        app.remove_watchlist("drones")


def test_retrying_an_unknown_alert_is_not_found_and_queues_nothing(app):
    with pytest.raises(NotFound, match="no alert has id 5"):
        app.retry_alerts([5])


def test_retrying_an_unknown_frontier_entry_is_not_found(app):
    with pytest.raises(NotFound, match="no entry has id 9"):
        app.retry_entries([9])
