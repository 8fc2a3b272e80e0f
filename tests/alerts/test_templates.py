"""Message templates: every default renders every message kind, a channel's own file
replaces its kind's default, and a template that fails is refused when its channel is
built, naming the file and the line."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts.channels import build_channel
from alerts.compose import ArticleMessage
from alerts.event import MatchedArticle
from alerts.outbox import ClaimedAlert
from alerts.samples import MESSAGE_KINDS, sample_match_event, sample_messages
from alerts.templating import FSI, PARTS, PDI, checked_template, render_part
from monitor.clock import FakeClock
from monitor.config import ChannelSettings, Settings
from monitor.errors import ConfigError
from tests.alerts.conftest import LOCAL
from tests.support.http import LocalServer, Reply

NOW = datetime(2026, 3, 1, 11, 30, tzinfo=UTC)
SAMPLES = sample_messages(NOW)


def _settings(tmp_path: Path, entry: ChannelSettings) -> Settings:
    return Settings(channels=[entry], config_path=tmp_path / "settings.toml", base_dir=tmp_path)


def _build(tmp_path: Path, entry: ChannelSettings, stream: io.StringIO | None = None):
    settings = _settings(tmp_path, entry)
    return build_channel(entry, settings, LOCAL, FakeClock(NOW), stream)


def _alert(event=None) -> ClaimedAlert:
    event = event or sample_match_event(NOW, "msg_1")
    return ClaimedAlert(1, "msg_1", "c", event, 0, "lease")


@pytest.mark.parametrize("kind", sorted(PARTS))
@pytest.mark.parametrize("message_kind", MESSAGE_KINDS)
def test_every_default_template_renders_every_message_kind(kind: str, message_kind: str) -> None:
    template = checked_template(kind, now=NOW)

    parts = template.render(SAMPLES[message_kind])

    assert list(parts) == list(PARTS[kind])
    assert all(text.strip() for text in parts.values())


def test_the_default_article_headline_puts_the_arabic_title_first_and_isolates_the_name() -> None:
    line = render_part(checked_template("apprise"), "title", SAMPLES["article"])

    assert line == f"عقب الانسحاب الأمريكي.. هدف جديد لهجمات الميليشيات العراقية — {FSI}drones{PDI}"


def test_the_default_batch_headline_counts_by_watchlist() -> None:
    line = render_part(checked_template("apprise"), "title", SAMPLES["batch"])

    assert line == f"مطابقات جديدة: 3 — {FSI}drones{PDI} (3)، {FSI}ain-al-asad{PDI} (1)"


def test_the_default_digest_lists_each_story_with_its_outlets_most_reported_first() -> None:
    body = render_part(checked_template("apprise"), "body", SAMPLES["digest"])

    first, second = body.index("1. عقب الانسحاب"), body.index("2. إسقاط طائرة مسيرة")
    assert first < second
    assert f"المصادر (4): {FSI}news.example{PDI}، {FSI}الجزيرة{PDI}" in body


def test_the_default_follow_up_names_the_new_outlets() -> None:
    line = render_part(checked_template("slack"), "notification", SAMPLES["follow_up"])

    assert line.startswith("تحديث: عقب الانسحاب الأمريكي")
    assert line.endswith(f"أوردته أيضاً {FSI}الجزيرة{PDI}، {FSI}بي بي سي عربي{PDI}")


def test_times_are_shown_in_the_channels_time_zone() -> None:
    body = render_part(
        checked_template("apprise", time_zone="Asia/Baghdad"), "body", SAMPLES["article"]
    )

    assert "2026-03-01 14:30 +03" in body


def test_feed_text_cannot_add_markup_to_the_html_part() -> None:
    hostile = MatchedArticle(
        url="javascript:alert(1)", title='<img src=x onerror="x">', source="a&b"
    )
    message = ArticleMessage(
        article=hostile, watchlists=("drones",), highlights=(), snippet="<script>", ids=("x",)
    )

    html = render_part(checked_template("email"), "html", message)

    assert "<img" not in html and "<script>" not in html
    assert "&lt;img src=x onerror=&#34;x&#34;&gt;" in html
    assert "javascript:" not in html
    assert "<bdi>a&amp;b</bdi>" in html


def test_control_characters_of_feed_text_are_removed_from_every_part() -> None:
    title = "عاجل\x1b[31m: طائرة\x07 مسيرة"
    message = ArticleMessage(
        article=MatchedArticle(url=None, title=title, source="s"),
        watchlists=("drones",),
        highlights=(),
        snippet="",
        ids=("x",),
    )

    parts = checked_template("email").render(message)

    assert all("\x1b" not in text and "\x07" not in text for text in parts.values())
    assert "عاجل[31m: طائرة مسيرة" in parts["subject"]


def test_a_channels_template_file_replaces_its_kinds_default(tmp_path: Path) -> None:
    (tmp_path / "mine.j2").write_text(
        "{% block text %}{{ kind }}: {{ watchlists|join(',') }}{% endblock %}", encoding="utf-8"
    )
    stream = io.StringIO()
    channel = _build(
        tmp_path, ChannelSettings(name="c", kind="console", template="mine.j2"), stream
    )

    channel.send([_alert()])

    assert stream.getvalue() == "article: drones\n\n"


def test_a_template_may_extend_a_default_and_redefine_one_block(tmp_path: Path) -> None:
    (tmp_path / "short.j2").write_text(
        '{% extends "rasid/email.j2" %}{% block subject %}رصد: {{ kind }}{% endblock %}',
        encoding="utf-8",
    )

    template = checked_template("email", tmp_path / "short.j2", shown="short.j2")
    parts = template.render(SAMPLES["digest"])

    assert parts["subject"] == "رصد: digest"
    assert parts["html"].startswith("<!DOCTYPE html>")
    assert "المصادر (4)" in parts["text"]


def test_a_template_with_a_syntax_error_is_refused_at_build_with_its_line(
    tmp_path: Path,
) -> None:
    (tmp_path / "broken.j2").write_text(
        "{% block title %}{{ message }}{% endblock %}\n{% block body %}\n{% if kind %}\n"
        "{% endblock %}\n",
        encoding="utf-8",
    )
    entry = ChannelSettings(name="c", kind="console", template="broken.j2")

    with pytest.raises(ConfigError) as raised:
        _build(tmp_path, entry)

    message = str(raised.value)
    assert 'channels[0] ("c").template: broken.j2, line 4:' in message
    assert "endblock" in message


def test_a_template_with_an_undefined_variable_is_refused_at_build_with_its_line(
    tmp_path: Path,
) -> None:
    (tmp_path / "typo.j2").write_text(
        "{% block text %}\n{{ message.watchlists }}\n{{ mesage }}\n{% endblock %}\n",
        encoding="utf-8",
    )
    entry = ChannelSettings(name="c", kind="console", template="typo.j2")

    with pytest.raises(ConfigError) as raised:
        _build(tmp_path, entry)

    assert "typo.j2, line 3: 'mesage' is undefined" in str(raised.value)


def test_a_template_failing_on_one_message_kind_only_is_refused_naming_it(
    tmp_path: Path,
) -> None:
    # A BatchMessage has no single article: fine for the sample article, not the batch.
    (tmp_path / "articles.j2").write_text(
        "{% block text %}\n{{ message.article.title }}\n{% endblock %}\n", encoding="utf-8"
    )
    entry = ChannelSettings(name="c", kind="console", template="articles.j2")

    with pytest.raises(ConfigError) as raised:
        _build(tmp_path, entry)

    message = str(raised.value)
    assert "articles.j2, line 2: 'alerts.compose.BatchMessage object' has no attribute" in message
    assert "(rendering a sample batch message)" in message


def test_a_template_without_its_kinds_blocks_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plain.j2").write_text("{% block text %}x{% endblock %}", encoding="utf-8")
    entry = ChannelSettings(name="c", kind="apprise", url="json://127.0.0.1/", template="plain.j2")

    with pytest.raises(ConfigError, match=r"plain.j2: no \{% block title %\}"):
        _build(tmp_path, entry)


def test_a_missing_template_file_is_refused(tmp_path: Path) -> None:
    entry = ChannelSettings(name="c", kind="console", template="nowhere.j2")

    with pytest.raises(ConfigError, match=r'\("c"\)\.template: nowhere.j2: no such file'):
        _build(tmp_path, entry)


def test_a_webhook_channel_refuses_a_template(tmp_path: Path) -> None:
    entry = ChannelSettings(
        name="c", kind="webhook", url="http://127.0.0.1/hook", template="any.j2"
    )

    with pytest.raises(ConfigError, match="a webhook sends the event's JSON"):
        _build(tmp_path, entry)


def test_a_slack_channels_own_template_words_its_notification_line(
    tmp_path: Path, receiver: LocalServer
) -> None:
    (tmp_path / "slack.j2").write_text(
        "{% block notification %}{{ kind }} <{{ watchlists|join(',') }}>{% endblock %}",
        encoding="utf-8",
    )
    receiver.route("/hook", Reply(body=b"ok", content_type="text/plain"))
    entry = ChannelSettings(name="c", kind="slack", url=receiver.url("/hook"), template="slack.j2")
    answer = _build(tmp_path, entry).send([_alert()])
    posted = json.loads(receiver.requests[0].body)

    assert answer == "HTTP 200: ok"
    # The template's line, made inert for Slack like any text of the notification.
    assert posted["text"] == "article &lt;drones&gt;"
    assert posted["blocks"]  # the blocks are still the code's
