"""Channels added on the web page: checked like settings.toml's, never shown back, and
delivered to by the running service without a restart."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from crawler.items import ArticleItem
from monitor.app import App
from monitor.config import load_settings
from monitor.errors import Conflict, InvalidRequest
from monitor.service import Service
from tests.support.dispatch import dispatch_due
from tests.support.http import Reply

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def config(tmp_path, database_url):
    path = tmp_path / "settings.toml"
    path.write_text(
        f'[database]\nurl = "{database_url}"\n[crawl]\nallow_private_networks = true\n'
        '[[channels]]\nname = "console"\nkind = "console"\n'
        '[[watchlists]]\nname = "drones"\nqueries = ["طائرة مسيرة"]\n',
        encoding="utf-8",
    )
    return path


def test_a_stored_channel_is_checked_like_a_configured_one(config):
    with App(load_settings(config, env={})) as app:
        with pytest.raises(InvalidRequest, match="refused URL"):
            app.add_channel("meta", "webhook", "http://169.254.169.254/latest/")
        with pytest.raises(InvalidRequest, match="secret"):
            app.add_channel("bad", "webhook", "https://hooks.example.net/x", "not-a-key")
        with pytest.raises(Conflict, match=r"settings\.toml"):
            app.add_channel("console", "webhook", "https://hooks.example.net/x")
        added = app.add_channel("ops", "webhook", "https://hooks.example.net/x/sekr1t", SECRET)
        assert added.signed and added.origin == "web"
        listed = app.list_channels()
        assert [(c.name, c.origin) for c in listed] == [("console", "settings"), ("ops", "web")]
        assert "sekr1t" not in repr(listed) and SECRET not in repr(listed)
        # A watchlist may route to it at once.
        app.save_watchlist("ops-only", ["عين الأسد"], ["ops"], create=True)
        app.remove_channel("ops")
        with pytest.raises(Conflict, match="remove it there"):
            app.remove_channel("console")


def test_the_service_delivers_to_a_channel_added_while_it_runs(config, clock, receiver):
    receiver.route("/hook", Reply(200, "ok", content_type="text/plain"))
    service = Service(load_settings(config, env={}), clock=clock)
    try:
        service.prepare()
        assert not service.follow_stored_channels()  # nothing changed yet
        with App(load_settings(config, env={}), clock=clock) as app:
            app.add_channel("ops", "webhook", receiver.url("/hook"), SECRET)
        assert service.follow_stored_channels()
        with service.db.connection() as connection:
            recorded = connection.execute(text("SELECT name FROM service_channels")).scalars()
            assert sorted(recorded) == ["console", "ops"]
        result = service.ingestor.ingest(
            ArticleItem(
                source_id=None,
                source_name="wire",
                url="https://news.example/1",
                title="إسقاط طائرة مسيرة",
                body="أسقطت الدفاعات طائرة مسيرة قرب المطار.",
            )
        )
        assert result.article_id is not None
        summary = dispatch_due(service.dispatcher)
        assert summary.sent == 2  # the console and the new webhook
        [delivered] = receiver.requests_to("/hook")
        assert "webhook-signature" in {name.lower() for name in delivered.headers}
    finally:
        service.close()
