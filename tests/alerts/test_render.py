from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from alerts.event import Highlight
from alerts.render import console_text, slack_message
from tests.alerts.conftest import sample_event


def _mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    texts = [message["text"]]
    for block in message["blocks"]:
        if block["type"] == "section":
            texts.append(block["text"]["text"])
        elif block["type"] == "context":
            texts.extend(element["text"] for element in block["elements"])
    return texts


def test_slack_escapes_mentions_and_disguised_links_in_feed_text() -> None:
    event = sample_event(title="<!channel> عاجل <https://evil.example|BBC> & more")
    event = replace(
        event,
        article=replace(event.article, source="<!here>"),
        snippet="انظر <https://evil.example|هنا> <@U123>",
    )

    message = slack_message(event)

    joined = "\n".join(_mrkdwn_texts(message))
    assert "<!channel>" not in joined and "<!here>" not in joined and "<@U123>" not in joined
    assert "<https://evil" not in joined
    assert "&lt;!channel&gt;" in joined
    assert "&lt;https://evil.example|BBC&gt;" in joined
    assert "&amp; more" in joined


def test_slack_links_the_title_to_the_article() -> None:
    message = slack_message(sample_event(title="عنوان الخبر"))
    assert "*<https://news.example/ar/2026/03/01/drone|عنوان الخبر>*" in _mrkdwn_texts(message)


def test_slack_never_links_a_non_http_url() -> None:
    event = sample_event()
    event = replace(event, article=replace(event.article, url="javascript:alert(1)"))
    assert "javascript:" not in json.dumps(slack_message(event)["blocks"][1])


def test_slack_url_cannot_break_out_of_its_link() -> None:
    event = sample_event()
    event = replace(event, article=replace(event.article, url="https://news.example/a|<!channel>"))
    title_line = slack_message(event)["blocks"][1]["text"]["text"]
    assert title_line.startswith("*<https://news.example/a%7C%3C!channel%3E|")


def test_slack_bolds_matched_words_in_the_snippet() -> None:
    event = replace(
        sample_event(),
        snippet="قالت مصادر إن طائرة مسيرة استهدفت القاعدة، والطائرة الثانية سقطت.",
        highlights=(
            Highlight(query="طائرة مسيرة", text="طائرة مسيرة", field="body"),
            Highlight(query="طائرة", text="الطائرة", field="body"),
        ),
    )
    snippet = slack_message(event)["blocks"][3]["text"]["text"]
    # Slack bolds whole words only, so a hit inside "والطائرة" bolds the word.
    assert snippet == "قالت مصادر إن *طائرة مسيرة* استهدفت القاعدة، *والطائرة* الثانية سقطت."


def test_slack_message_respects_limits_on_a_huge_snippet() -> None:
    event = replace(
        sample_event(title="ع" * 5000),
        watchlist="قائمة " * 100,
        snippet=("طائرة مسيرة & <b> " * 600)[:10_000],
    )

    message = slack_message(event)

    blocks = message["blocks"]
    assert len(blocks) <= 50
    header = blocks[0]
    assert header["type"] == "header" and len(header["text"]["text"]) <= 150
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert all(len(text) <= 3000 for text in sections)
    assert sections[-1].endswith("…")
    assert sections[-1].count("*") % 2 == 0  # no bold left open by the cut
    assert "&amp" in sections[-1] and not sections[-1].rstrip("*…").endswith(("&", "&amp"))
    assert len(message["text"]) <= 3000
    json.dumps(message)


def test_slack_shows_time_in_the_readers_zone() -> None:
    context = slack_message(sample_event())["blocks"][2]["elements"]
    assert any(
        e["text"].startswith("<!date^1772364600^") and e["text"].endswith("|2026-03-01 11:30 UTC>")
        for e in context
    )


def test_console_text_is_one_readable_block_without_control_characters() -> None:
    event = sample_event(title="عنوان\x1b[31m أحمر\nسطر").with_id("msg_X")
    text = console_text(event)
    assert "\x1b" not in text
    assert text.splitlines()[0] == "[drones] عنوان[31m أحمر سطر"
    assert "https://news.example/ar/2026/03/01/drone" in text
    assert "*طائرة مسيرة*" in text
    assert "msg_X" in text
