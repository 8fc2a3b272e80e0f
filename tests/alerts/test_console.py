"""The console channel: every message kind through its template, several alerts in one
block, feed text without control characters, and a failed write kept for a retry."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from alerts.channels import build_channel
from alerts.event import AlertEvent
from alerts.outbox import ClaimedAlert
from alerts.samples import (
    sample_digest_event,
    sample_follow_up_event,
    sample_match_event,
)
from monitor.clock import FakeClock
from monitor.config import ChannelSettings, Settings
from monitor.errors import DeliveryError
from tests.alerts.conftest import LOCAL

NOW = datetime(2026, 3, 1, 11, 30, tzinfo=UTC)


def _console(stream: io.TextIOBase):
    entry = ChannelSettings(name="console", kind="console")
    return build_channel(entry, Settings(channels=[entry]), LOCAL, FakeClock(NOW), stream)


def _alerts(*events: AlertEvent) -> list[ClaimedAlert]:
    return [
        ClaimedAlert(number, f"msg_{number}", "console", event, 0, "lease")
        for number, event in enumerate(events, 1)
    ]


def test_the_console_packs_alerts() -> None:
    assert _console(io.StringIO()).packs


def test_an_article_is_one_block_with_its_matched_words_marked() -> None:
    stream = io.StringIO()

    answer = _console(stream).send(_alerts(sample_match_event(NOW, "msg_1")))

    text = stream.getvalue()
    assert answer == "written"
    assert text.startswith("[drones] عقب الانسحاب الأمريكي.. هدف جديد لهجمات الميليشيات العراقية\n")
    assert "*بالطائرات المسيرة*" in text
    assert "  matched: طائرة مسيرة\n  alert msg_1\n\n" in text


def test_an_article_two_watchlists_matched_is_one_block_naming_both() -> None:
    stream = io.StringIO()
    seed = sample_match_event(NOW, "msg_1")

    _console(stream).send(_alerts(seed, replace(seed, watchlist="ain-al-asad", id="msg_2")))

    assert stream.getvalue().count("عقب الانسحاب") == 1
    assert stream.getvalue().startswith("[drones, ain-al-asad] ")


def test_a_burst_is_one_block_counted_by_watchlist() -> None:
    stream = io.StringIO()
    seed = sample_match_event(NOW, "msg_1")
    other = replace(seed, article=replace(seed.article, url="https://news.example/2"))

    _console(stream).send(_alerts(seed, replace(other, id="msg_2")))

    text = stream.getvalue()
    assert text.startswith("[drones 2] 2 new matches\n")
    assert "  alerts msg_1, msg_2\n" in text


def test_a_digest_lists_its_stories_with_their_outlets() -> None:
    stream = io.StringIO()

    _console(stream).send(_alerts(sample_digest_event(NOW)))

    text = stream.getvalue()
    assert "[drones] digest" in text and "9 matches, 3 stories" in text
    assert "     news.example، الجزيرة، بي بي سي عربي، another.example\n" in text


def test_a_follow_up_names_the_new_outlets() -> None:
    stream = io.StringIO()

    _console(stream).send(_alerts(sample_follow_up_event(NOW)))

    assert stream.getvalue().startswith("[drones] also reported by الجزيرة، بي بي سي عربي: ")


def test_control_characters_of_feed_text_are_not_written() -> None:
    stream = io.StringIO()
    seed = sample_match_event(NOW, "msg_1")
    hostile = replace(seed, article=replace(seed.article, title="عاجل\x1b]0;owned\x07 خبر"))

    _console(stream).send(_alerts(hostile))

    assert "\x1b" not in stream.getvalue() and "\x07" not in stream.getvalue()
    assert "عاجل]0;owned خبر" in stream.getvalue()


def test_a_write_that_fails_is_a_transient_error() -> None:
    stream = io.StringIO()
    stream.close()

    with pytest.raises(DeliveryError) as raised:
        _console(stream).send(_alerts(sample_match_event(NOW)))

    assert not raised.value.permanent
