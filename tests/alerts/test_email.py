"""Email channels: through Apprise's mailto:// to a local SMTP server (aiosmtpd), one
multipart/alternative message whose subject, text part and HTML part are the template's,
with the Arabic intact in all three."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from alerts.channels import build_channel
from alerts.outbox import ClaimedAlert
from alerts.samples import SEED_TITLE, sample_follow_up_event, sample_match_event
from alerts.templating import FSI, PDI
from monitor.clock import FakeClock
from monitor.config import ChannelSettings, Settings, settings_from_mapping
from monitor.errors import ConfigError, DeliveryError
from tests.alerts.conftest import LOCAL, free_port
from tests.support.smtp import Inbox, smtp_server

NOW = datetime(2026, 3, 1, 11, 30, tzinfo=UTC)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as running:
        yield running


def _url(port: int) -> str:
    return f"mailto://127.0.0.1:{port}?from=rasid@example.org&to=analyst@example.org"


def _send(url: str, event: Any, tmp_path: Path | None = None, template: str | None = None) -> str:
    entry = ChannelSettings(name="mail", kind="email", url=url, template=template)
    settings = Settings(channels=[entry], base_dir=tmp_path or Path())
    channel = build_channel(entry, settings, LOCAL, FakeClock(NOW))
    return channel.send([ClaimedAlert(1, "msg_1", "mail", event, 0, "lease")])


def _parts(message: EmailMessage) -> dict[str, str]:
    return {
        part.get_content_type(): part.get_content()
        for part in message.walk()
        if not part.is_multipart()
    }


def test_an_alert_is_one_multipart_alternative_email_with_the_arabic_intact(smtp) -> None:
    inbox, port = smtp

    answer = _send(_url(port), sample_match_event(NOW, "msg_1"))

    [message] = inbox.messages()
    parts = _parts(message)
    assert answer == "delivered by apprise (mailto)"
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == f"{SEED_TITLE} — {FSI}drones{PDI}"
    assert message["To"] == "analyst@example.org"
    assert set(parts) == {"text/plain", "text/html"}
    assert "بطائرتين مسيرتين" in parts["text/plain"]
    assert "القائمة: " + FSI + "drones" + PDI in parts["text/plain"]
    assert '<html lang="ar" dir="rtl">' in parts["text/html"]
    assert "<b>بطائرتين مسيرتين</b>" in parts["text/html"]


def test_the_text_part_is_the_templates_not_a_conversion_of_the_html(smtp, tmp_path) -> None:
    inbox, port = smtp
    (tmp_path / "mail.j2").write_text(
        "{% block subject %}تحديث {{ kind }}{% endblock %}"
        "{% block text %}نص: {{ watchlists|join('، ') }}{% endblock %}"
        "{% block html %}<p>{{ kind }} — {{ watchlists|join('، ') }}</p>{% endblock %}",
        encoding="utf-8",
    )

    _send(_url(port), sample_follow_up_event(NOW), tmp_path, "mail.j2")

    [message] = inbox.messages()
    parts = _parts(message)
    assert message["Subject"] == "تحديث follow_up"
    assert parts["text/plain"].strip() == "نص: drones"
    assert parts["text/html"].strip() == "<p>follow_up — drones</p>"


def test_an_smtp_server_that_is_not_there_is_a_transient_error() -> None:
    with pytest.raises(DeliveryError) as raised:
        _send(_url(free_port()), sample_match_event(NOW))

    assert not raised.value.permanent
    assert str(raised.value).startswith("apprise (mailto): ")


def test_an_email_channel_needs_a_mailto_url() -> None:
    raw = {"channels": [{"name": "mail", "kind": "email", "url": "json://mail.example.org/"}]}

    with pytest.raises(ConfigError, match=r"mailto:// or mailtos://"):
        settings_from_mapping(raw, Path("settings.toml"), {})


def test_a_private_smtp_server_is_refused_at_load_unless_allowed() -> None:
    url = "mailtos://user:pass@example.org?smtp=192.168.1.10&to=a@example.org"
    raw = {"channels": [{"name": "mail", "kind": "email", "url": url}]}

    with pytest.raises(
        ConfigError, match=r'\("mail"\)\.url: refused: 192\.168\.1\.10 is a private'
    ):
        settings_from_mapping(raw, Path("settings.toml"), {})
    allowed = settings_from_mapping(
        {**raw, "crawl": {"allowed_networks": ["192.168.1.0/24"]}}, Path("settings.toml"), {}
    )
    assert allowed.channels[0].url == url
