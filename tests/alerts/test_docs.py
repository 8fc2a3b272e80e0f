"""The alert docs stay true. docs/webhooks.md shows receivers the body they get and how
to verify a delivery: the body must be what rasid sends, and that code must work.
docs/alerts.md shows every channel's message for the samples (alerts/samples.py): each
example must be what the renderers give today, its settings valid, its template run."""

from __future__ import annotations

import json
import re
import tomllib
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alerts.channels import build_channels
from alerts.event import event_from_json
from alerts.render import slack_message, slack_notification
from alerts.samples import sample_messages
from alerts.templating import FSI, PDI, checked_template
from monitor.clock import FakeClock
from monitor.config import DEFAULT_RATES, ChannelSettings, settings_from_mapping
from monitor.db.session import Database
from monitor.errors import ConfigError
from tests.alerts.conftest import LOCAL, SECRET, AddAlert, make_dispatcher, make_settings
from tests.support.dispatch import dispatch_due
from tests.support.http import LocalServer, Reply
from tests.test_settings_docs import settings_keys

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def _documented_verify() -> Callable[..., bool]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    [source] = [block for block in blocks if "def verify(" in block]
    namespace: dict[str, Any] = {}
    exec(compile(source, str(DOC), "exec"), namespace)
    return namespace["verify"]


def test_documented_bodies_are_what_each_event_sends() -> None:
    blocks = re.findall(r"```json\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    documented = [json.loads(block) for block in blocks]
    assert [body["event"] for body in documented] == ["match", "digest", "follow_up"]
    for body in documented:
        sent = event_from_json(body).to_json()
        # Compared as text, so the order of the keys counts too.
        assert json.dumps(sent, ensure_ascii=False) == json.dumps(body, ensure_ascii=False)


def test_documented_verification_accepts_a_real_delivery_and_rejects_a_forgery(
    db: Database, receiver: LocalServer, add_alert: AddAlert
) -> None:
    verify = _documented_verify()
    receiver.route("/hook", Reply(200))
    settings = make_settings(
        ChannelSettings(name="hook", kind="webhook", url=receiver.url("/hook"), secret=SECRET)
    )
    add_alert()
    dispatch_due(make_dispatcher(db, FakeClock(datetime.now(UTC)), settings))

    [request] = receiver.requests_to("/hook")
    assert verify(SECRET, request.headers, request.body)
    assert not verify(SECRET, request.headers, request.body.replace(b"drones", b"dromes"))


# -- docs/alerts.md ---------------------------------------------------------------------

ALERTS_DOC = DOC.parent / "alerts.md"
# The examples are rendered as a channel in Baghdad renders them at 07:00 there.
EXAMPLE_NOW = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
EXAMPLE_ZONE = "Asia/Baghdad"
# Direction controls are invisible on the page: the examples show them as JSON escapes
# where they are the point (Slack), and leave the template isolates out elsewhere.
_CONTROLS = "\u200e\u200f\u2066\u2067\u2068\u2069"


def _escaped_json(value: object, indent: str = "") -> str:
    """JSON as docs/alerts.md shows it: direction controls as \\u escapes, a value on
    one line when it fits in 96 characters, else one member a line."""
    text = json.dumps(value, ensure_ascii=False)
    for char in _CONTROLS:
        text = text.replace(char, f"\\u{ord(char):04x}")
    if len(indent) + len(text) <= 96 or not isinstance(value, dict | list):
        return text
    inner = indent + "  "
    if isinstance(value, dict):
        members = [
            f"{inner}{json.dumps(key)}: {_escaped_json(item, inner)}" for key, item in value.items()
        ]
        return "{\n" + ",\n".join(members) + f"\n{indent}}}"
    items = [f"{inner}{_escaped_json(item, inner)}" for item in value]
    return "[\n" + ",\n".join(items) + f"\n{indent}]"


def _visible(text: str) -> str:
    return text.replace(FSI, "").replace(PDI, "")


def documented_examples() -> dict[str, str]:
    """Every example message docs/alerts.md shows, by its name, rendered today."""
    samples = sample_messages(EXAMPLE_NOW)
    console = checked_template("console", time_zone=EXAMPLE_ZONE, now=EXAMPLE_NOW)
    apprise = checked_template("apprise", time_zone=EXAMPLE_ZONE, now=EXAMPLE_NOW)
    mail = checked_template("email", time_zone=EXAMPLE_ZONE, now=EXAMPLE_NOW)
    examples = {
        f"console-{kind}": console.render_part("text", message) for kind, message in samples.items()
    }
    notifications = {kind: slack_notification(message) for kind, message in samples.items()}
    examples["slack-notifications"] = _escaped_json(notifications)
    for kind in ("article", "digest"):
        examples[f"slack-{kind}"] = _escaped_json(slack_message(samples[kind]))
    for kind in ("article", "follow_up"):
        parts = apprise.render(samples[kind])
        examples[f"apprise-{kind}"] = _visible(f"title: {parts['title']}\n\n{parts['body']}")
    parts = mail.render(samples["digest"])
    examples["email-digest"] = _visible(f"Subject: {parts['subject']}\n\n{parts['text']}")
    return examples


def _marked_blocks(text: str) -> dict[str, str]:
    """The fenced block after each ``<!-- example: NAME -->``, by name."""
    found = re.findall(r"<!-- example: ([\w-]+) -->\n```[\w-]*\n(.*?)\n```", text, re.DOTALL)
    return dict(found)


def test_every_example_message_in_alerts_md_is_what_the_renderers_give_today() -> None:
    documented = _marked_blocks(ALERTS_DOC.read_text(encoding="utf-8"))
    examples = documented_examples()

    assert sorted(documented) == sorted([*examples, "template-override", "override-subjects"])
    for name, rendered in examples.items():
        assert documented[name] == rendered, name


def test_the_documented_template_override_renders_the_documented_subjects(
    tmp_path: Path,
) -> None:
    documented = _marked_blocks(ALERTS_DOC.read_text(encoding="utf-8"))
    (tmp_path / "email.j2").write_text(documented["template-override"], encoding="utf-8")

    template = checked_template(
        "email", tmp_path / "email.j2", time_zone=EXAMPLE_ZONE, now=EXAMPLE_NOW
    )

    subjects = [
        _visible(template.render_part("subject", message))
        for message in sample_messages(EXAMPLE_NOW).values()
    ]
    assert documented["override-subjects"] == "\n".join(subjects)


def test_the_documented_template_error_is_the_one_rasid_gives(tmp_path: Path) -> None:
    text = ALERTS_DOC.read_text(encoding="utf-8")
    [template] = re.findall(r"```jinja\n(\{% extends \"rasid/console.j2\" %\}.*?)```", text, re.S)
    [error] = re.findall(r'\("console"\)\.template: (.*)', text)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "bad.j2").write_text(template, encoding="utf-8")
    raw = {"channels": [{"name": "console", "kind": "console", "template": "templates/bad.j2"}]}
    settings = settings_from_mapping(raw, tmp_path / "settings.toml", {})

    with pytest.raises(ConfigError) as raised:
        build_channels(settings, LOCAL, FakeClock(EXAMPLE_NOW))

    assert str(raised.value).endswith(f'("console").template: {error}')


def test_every_channel_kind_has_its_section_in_alerts_md() -> None:
    text = ALERTS_DOC.read_text(encoding="utf-8")
    kinds = typing.get_args(ChannelSettings.model_fields["kind"].annotation)

    assert kinds and all(f"### `{kind}`" in text for kind in kinds)


def test_the_documented_default_rates_are_the_codes() -> None:
    text = ALERTS_DOC.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)` \| (unlimited|[\d.]+ a second) \|", text, re.M))

    expected = {
        kind: "unlimited" if rate is None else f"{rate:g} a second"
        for kind, rate in DEFAULT_RATES.items()
    }
    assert rows == expected


def test_every_toml_example_in_alerts_md_is_valid_settings() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", ALERTS_DOC.read_text(encoding="utf-8"), re.S)
    channels = [{"name": name, "kind": "console"} for name in ("slack", "email", "console")]

    assert blocks
    for block in blocks:
        raw = tomllib.loads(block)
        # A routes example names channels defined elsewhere on the page.
        if "channels" not in raw:
            raw["channels"] = channels
        settings_from_mapping(raw, Path("settings.toml"), {})


def test_every_dotted_setting_named_in_alerts_md_exists() -> None:
    text = ALERTS_DOC.read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:alerts|crawl|stories|web)\.\w+)`", text))
    keys = set(settings_keys())

    assert named and named <= keys, named - keys
