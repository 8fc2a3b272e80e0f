"""Apprise channels: delivered to a local receiver through json:// and form:// with the
Arabic intact, a failure mapped to a transient error the outbox retries, and the network
policy kept: a private host refused at load and at send unless allowed."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from alerts.channels import build_channel
from alerts.channels.apprise import AppriseChannel, network_hosts
from alerts.outbox import ClaimedAlert
from alerts.samples import SEED_TITLE, sample_digest_event, sample_match_event
from alerts.templating import FSI, PDI
from monitor.clock import FakeClock
from monitor.config import ChannelSettings, Settings, settings_from_mapping
from monitor.db.session import Database
from monitor.errors import ConfigError, DeliveryError
from monitor.netguard import NetworkPolicy
from tests.alerts.conftest import LOCAL, AddAlert, free_port, make_dispatcher, make_settings
from tests.support.dispatch import dispatch_due
from tests.support.http import LocalServer, Reply

NOW = datetime(2026, 3, 1, 11, 30, tzinfo=UTC)
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _channel(url: str, policy: NetworkPolicy = LOCAL, **keys: object) -> AppriseChannel:
    entry = ChannelSettings(name="team", kind="apprise", url=url, **keys)
    channel = build_channel(entry, Settings(channels=[entry]), policy, FakeClock(NOW))
    assert isinstance(channel, AppriseChannel)
    return channel


def _alert(event=None) -> list[ClaimedAlert]:
    return [ClaimedAlert(1, "msg_1", "team", event or sample_match_event(NOW, "msg_1"), 0, "l")]


def test_json_delivers_the_title_and_body_with_the_arabic_intact(receiver: LocalServer) -> None:
    receiver.route("/hook", Reply(200, "ok"))
    channel = _channel(f"json://127.0.0.1:{receiver.port}/hook")

    answer = channel.send(_alert())

    [request] = receiver.requests_to("/hook")
    body = json.loads(request.body)
    assert answer == "delivered by apprise (json)"
    assert body["title"] == f"{SEED_TITLE} — {FSI}drones{PDI}"
    assert "بطائرتين مسيرتين" in body["message"]
    assert "https://news.example/news/ain-al-asad-drones" in body["message"]


def test_form_delivers_the_title_and_body_with_the_arabic_intact(receiver: LocalServer) -> None:
    receiver.route("/form", Reply(200, "ok"))
    channel = _channel(f"form://127.0.0.1:{receiver.port}/form")

    channel.send(_alert(sample_digest_event(NOW)))

    [request] = receiver.requests_to("/form")
    fields = parse_qs(request.body.decode("ascii"))
    assert fields["title"] == [f"موجز {FSI}drones{PDI} — القصص: 3، المطابقات: 9"]
    assert "1. عقب الانسحاب الأمريكي" in fields["message"][0]


def test_a_receiver_answering_500_is_a_transient_error_with_what_apprise_logged(
    receiver: LocalServer,
) -> None:
    receiver.route("/hook", Reply(500, "down"))
    channel = _channel(f"json://127.0.0.1:{receiver.port}/hook")

    with pytest.raises(DeliveryError) as raised:
        channel.send(_alert())

    assert not raised.value.permanent
    assert str(raised.value).startswith("apprise (json): ")
    assert "error=500" in str(raised.value)
    assert len(receiver.requests_to("/hook")) == 1  # Apprise's own retries are off


def test_a_refused_connection_is_a_transient_error() -> None:
    channel = _channel(f"json://127.0.0.1:{free_port()}/hook")

    with pytest.raises(DeliveryError) as raised:
        channel.send(_alert())

    assert not raised.value.permanent
    assert "Connection error" in str(raised.value)


def test_a_failing_receiver_is_retried_by_the_outbox_then_delivered(
    db: Database, clock: FakeClock, receiver: LocalServer, add_alert: AddAlert
) -> None:
    answers = iter([Reply(500), Reply(200)])
    receiver.route("/hook", lambda _request: next(answers))
    url = f"json://127.0.0.1:{receiver.port}/hook"
    settings = make_settings(ChannelSettings(name="team", kind="apprise", url=url, rate=0))
    add_alert(channels=("team",))
    dispatcher = make_dispatcher(db, clock, settings)

    first = dispatch_due(dispatcher)
    second = dispatch_due(dispatcher, ignore_backoff=True)

    assert (first.sent, second.sent) == (0, 1)
    assert len(receiver.requests_to("/hook")) == 2


def test_a_private_address_is_refused_at_load_with_its_key() -> None:
    raw = {"channels": [{"name": "team", "kind": "apprise", "url": "json://10.1.2.3/hook"}]}

    with pytest.raises(ConfigError) as raised:
        settings_from_mapping(raw, Path("settings.toml"), {})

    assert 'channels[0] ("team").url: refused: 10.1.2.3 is a private' in str(raised.value)


def test_a_private_address_is_allowed_at_load_with_allow_private_networks() -> None:
    raw = {
        "crawl": {"allow_private_networks": True},
        "channels": [{"name": "team", "kind": "apprise", "url": "json://10.1.2.3/hook"}],
    }

    settings = settings_from_mapping(raw, Path("settings.toml"), {})

    assert settings.channels[0].url == "json://10.1.2.3/hook"


def test_a_host_name_resolving_to_a_private_address_is_refused_at_send(
    receiver: LocalServer,
) -> None:
    receiver.route("/hook", Reply(200))
    channel = _channel(f"json://localhost:{receiver.port}/hook", policy=NetworkPolicy())

    with pytest.raises(DeliveryError) as raised:
        channel.send(_alert())

    assert raised.value.permanent
    assert "refused host 'localhost'" in str(raised.value)
    assert receiver.requests == []


def test_an_unknown_scheme_is_refused_when_the_channel_is_built() -> None:
    with pytest.raises(ConfigError, match=r'\("team"\)\.url: Apprise knows no scheme nope://'):
        _channel("nope://somewhere/x")


def test_a_scheme_that_notifies_this_machine_is_refused() -> None:
    with pytest.raises(ConfigError, match="syslog:// notifies this machine"):
        _channel("syslog://")


def test_a_fixed_public_service_is_reached_at_its_own_host_not_the_urls() -> None:
    import apprise

    telegram = apprise.Apprise.instantiate("tgram://123456789:abcdefgh_ijklmnop/1234/")
    ntfy_cloud = apprise.Apprise.instantiate("ntfy://my-topic")
    self_hosted = apprise.Apprise.instantiate("ntfys://ntfy.example.org:8443/topic")

    assert network_hosts(telegram) == []
    assert network_hosts(ntfy_cloud) == []
    assert network_hosts(self_hosted) == [("ntfy.example.org", 8443)]


def test_loading_settings_and_a_console_channel_does_not_import_apprise() -> None:
    code = (
        "import sys\n"
        "from monitor.config import Settings, ChannelSettings\n"
        "from alerts.channels import build_channels\n"
        "from monitor.clock import SystemClock\n"
        "from monitor.netguard import NetworkPolicy\n"
        "build_channels(Settings(), NetworkPolicy(), SystemClock())\n"
        "print('apprise' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, check=True
    )

    assert result.stdout.strip() == "False"


def test_an_admin_adds_an_apprise_channel_checked_like_a_configured_one(db: Database) -> None:
    from monitor.channels import add_channel, stored_channels
    from monitor.errors import InvalidRequest

    settings = Settings()
    with db.transaction() as session:
        with pytest.raises(InvalidRequest, match=r"refused URL: 169\.254\.169\.254 is a cloud"):
            add_channel(
                session,
                settings,
                name="meta",
                kind="apprise",
                url="json://169.254.169.254/",
                secret=None,
                now=NOW,
            )
        with pytest.raises(InvalidRequest, match="Apprise knows no scheme nope://"):
            add_channel(
                session,
                settings,
                name="nope",
                kind="apprise",
                url="nope://x/y",
                secret=None,
                now=NOW,
            )
        added = add_channel(
            session,
            settings,
            name="team",
            kind="apprise",
            url="tgram://123456789:abcdefgh_ijklmnop/1234/",
            secret=None,
            now=NOW,
        )
    with db.transaction() as session:
        [stored] = stored_channels(session)

    assert (added.kind, added.origin) == ("apprise", "web")
    assert (stored.kind, stored.url) == ("apprise", "tgram://123456789:abcdefgh_ijklmnop/1234/")
