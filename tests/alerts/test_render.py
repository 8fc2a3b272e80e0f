from __future__ import annotations

import io
import json
import unicodedata
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from alerts.channels import build_channel
from alerts.compose import compose
from alerts.event import (
    DigestEvent,
    DigestStory,
    FollowUpEvent,
    Highlight,
    MatchedArticle,
)
from alerts.outbox import ClaimedAlert
from alerts.render import FSI, PDI, RLI, RLM, slack_message, slack_notification
from monitor.clock import FakeClock
from monitor.config import ChannelSettings, Settings
from tests.alerts.conftest import LOCAL, sample_event, slack_problems

ISOLATES = (RLI, FSI, "\u2066")


def _leaves(node: object) -> list[dict[str, Any]]:
    """Every text-bearing element of a message's blocks: rich text elements (text, link,
    date, ...) and the plain_text of headers and context."""
    if isinstance(node, list):
        return [leaf for value in node for leaf in _leaves(value)]
    if not isinstance(node, dict):
        return []
    if node.get("type") in ("text", "link", "date", "plain_text", "mrkdwn", "broadcast"):
        return [node]
    if node.get("type") in ("user", "channel", "usergroup", "emoji"):
        return [node]
    return [leaf for value in node.values() for leaf in _leaves(value)]


def _shown(message: dict[str, Any]) -> str:
    return "".join(leaf.get("text", "") for leaf in _leaves(message["blocks"]))


def _article(number: int, title: str | None = None, source: str = "bbc-arabic") -> Any:
    return MatchedArticle(
        url=f"https://news.example/ar/{number}",
        title=title or f"خبر رقم {number}",
        source=source,
        published_at=datetime(2026, 3, 1, 11, 30, tzinfo=UTC),
    )


def _paragraph_is_rtl(text: str) -> bool:
    """UAX #9 rule P2: the first strong character, skipping isolates, is right-to-left."""
    depth = 0
    for char in text:
        if char in ISOLATES:
            depth += 1
        elif char == PDI and depth:
            depth -= 1
        elif depth == 0 and unicodedata.bidirectional(char) in ("R", "AL", "L"):
            return unicodedata.bidirectional(char) != "L"
    return False


# Scenario 19: a title with <!channel> / <https://evil|BBC> is inert in Slack: no
# mention, no disguised link.
def test_slack_shows_mentions_and_disguised_links_in_feed_text_as_text() -> None:
    event = sample_event(title="<!channel> عاجل <https://evil.example|BBC> & more")
    event = replace(
        event,
        article=replace(event.article, source="<!here>"),
        snippet="انظر <https://evil.example|هنا> <@U123>",
    )

    message = slack_message(event)

    leaves = _leaves(message["blocks"])
    assert {leaf["type"] for leaf in leaves} <= {"text", "link", "date", "plain_text"}
    assert [leaf["url"] for leaf in leaves if leaf["type"] == "link"] == [
        "https://news.example/ar/2026/03/01/drone"
    ]
    shown = _shown(message)
    assert "<!channel> عاجل <https://evil.example|BBC> & more" in shown  # literally
    assert "<@U123>" in shown and "<!here>" in shown
    # The notification line is mrkdwn: there the same text is escaped.
    text = message["text"]
    assert "<" not in text and ">" not in text
    assert "&lt;!channel&gt;" in text and "&lt;https://evil.example|BBC&gt;" in text
    assert "&amp; more" in text


def test_slack_formatting_characters_in_feed_text_are_shown_literally() -> None:
    title = "*عاجل* _عنوان_ ~مشطوب~ `رمز` ```كتلة```"
    event = replace(sample_event(title=title), snippet="قال *المصدر* إن _طائرة مسيرة_ ~سقطت~")

    message = slack_message(event)

    leaves = _leaves(message["blocks"])
    assert "mrkdwn" not in {leaf["type"] for leaf in leaves}
    assert message["mrkdwn"] is False
    [link] = [leaf for leaf in leaves if leaf["type"] == "link"]
    assert link["text"] == title and link["style"] == {"bold": True}
    assert "قال *المصدر* إن _" in _shown(message)
    # Only the hit is bold, by an explicit style; the stars around المصدر stay stars.
    bold = [leaf["text"] for leaf in leaves if leaf.get("style") == {"bold": True}]
    assert bold == [title, "طائرة مسيرة"]
    assert all(leaf.get("emoji") is False for leaf in leaves if leaf["type"] == "plain_text")


def test_slack_links_the_title_to_the_article() -> None:
    message = slack_message(sample_event(title="عنوان الخبر"))
    [link] = [leaf for leaf in _leaves(message["blocks"]) if leaf["type"] == "link"]
    assert link == {
        "type": "link",
        "url": "https://news.example/ar/2026/03/01/drone",
        "text": "عنوان الخبر",
        "style": {"bold": True},
    }


def test_slack_never_links_a_non_http_url() -> None:
    event = sample_event()
    event = replace(event, article=replace(event.article, url="javascript:alert(1)"))
    message = slack_message(event)
    assert "javascript:" not in json.dumps(message["blocks"])
    assert not [leaf for leaf in _leaves(message["blocks"]) if leaf["type"] == "link"]


def test_slack_url_is_percent_encoded_in_its_link() -> None:
    event = sample_event()
    event = replace(event, article=replace(event.article, url="https://news.example/a|<!channel>"))
    [link] = [leaf for leaf in _leaves(slack_message(event)["blocks"]) if leaf["type"] == "link"]
    assert link["url"] == "https://news.example/a%7C%3C!channel%3E"


def test_slack_bolds_matched_words_in_the_snippet() -> None:
    event = replace(
        sample_event(),
        snippet="قالت مصادر إن طائرة مسيرة استهدفت القاعدة، والطائرة الثانية سقطت.",
        highlights=(
            Highlight(query="طائرة مسيرة", text="طائرة مسيرة", field="body"),
            Highlight(query="طائرة", text="الطائرة", field="body"),
        ),
    )
    [snippet] = slack_message(event)["blocks"][3]["elements"]
    # Hits widen to whole words, so a hit inside "والطائرة" bolds the word.
    assert [(e["text"], "style" in e) for e in snippet["elements"]] == [
        ("قالت مصادر إن ", False),
        ("طائرة مسيرة", True),
        (" استهدفت القاعدة، ", False),
        ("والطائرة", True),
        (" الثانية سقطت.", False),
    ]


def test_slack_message_respects_limits_on_a_huge_snippet() -> None:
    event = replace(
        sample_event(title="ع" * 5000),
        watchlist="قائمة " * 100,
        snippet=("طائرة مسيرة & <b> " * 600)[:10_000],
    )

    message = slack_message(event)

    assert slack_problems(message) == []
    header = message["blocks"][0]
    assert header["type"] == "header" and len(header["text"]["text"]) <= 150
    snippet = message["blocks"][3]["elements"][0]["elements"]
    assert snippet[-1]["text"] == "…"
    assert sum(len(element["text"]) for element in snippet) <= 3000
    assert len(message["text"]) <= 3000
    json.dumps(message)


def test_slack_shows_time_in_the_readers_zone() -> None:
    leaves = _leaves(slack_message(sample_event())["blocks"])
    [date] = [leaf for leaf in leaves if leaf["type"] == "date"]
    assert date["timestamp"] == 1772364600
    assert date["fallback"] == "2026-03-01 11:30 UTC"


def test_notification_starts_with_the_arabic_title_and_isolates_each_part() -> None:
    message = compose([sample_event(title="طائرة مسيرة تستهدف قاعدة عين الأسد")])

    line = slack_notification(message)

    assert line == (
        f"{RLM}{RLI}طائرة مسيرة تستهدف قاعدة عين الأسد{PDI}"
        f" · {FSI}drones{PDI} · {FSI}bbc-arabic{PDI}"
    )
    assert _paragraph_is_rtl(line)
    assert slack_message(message)["text"] == line


def test_notification_of_a_latin_title_isolates_it_in_its_own_direction() -> None:
    event = sample_event(title="Drone strike near Erbil (Reuters)")
    line = slack_notification(compose([event]))
    assert line.startswith(f"{RLM}{FSI}Drone strike near Erbil (Reuters){PDI}")
    assert _paragraph_is_rtl(line)


def test_notification_drops_direction_controls_a_feed_put_in_its_title() -> None:
    event = sample_event(title=f"عنوان{PDI}\u202e مقلوب\u200e")
    line = slack_notification(compose([event]))
    assert line.startswith(f"{RLM}{RLI}عنوان مقلوب{PDI} · ")
    assert sum(line.count(mark) for mark in ISOLATES) == line.count(PDI)


def test_a_long_notification_is_cut_with_its_isolates_closed() -> None:
    event = sample_event(title="<&>" * 2000)
    text = slack_message(event)["text"]
    assert len(text) <= 3000
    assert sum(text.count(mark) for mark in ISOLATES) == text.count(PDI)
    assert not text.rstrip(PDI + "…").endswith(("&", "&a", "&am", "&amp", "&l", "&lt"))


def test_an_article_two_watchlists_matched_is_one_message_naming_both() -> None:
    first = sample_event()
    second = replace(first, watchlist="طائرات")

    message = slack_message(compose([first, second]))

    assert message["blocks"][0]["text"]["text"] == "رصد · drones، طائرات"
    assert "القوائم: drones، طائرات" in _shown(message)
    assert message["text"].count("طائرة مسيرة تستهدف") == 1
    assert f"{FSI}drones، طائرات{PDI}" in message["text"]


def test_a_batch_is_counted_by_watchlist_with_each_title_linked() -> None:
    events = [
        replace(
            sample_event(title=f"مسيرة رقم {number}"),
            watchlist="طائرة مسيرة",
            article=_article(number, f"مسيرة رقم {number}"),
        )
        for number in range(12)
    ]

    message = slack_message(compose(events))

    assert message["blocks"][0]["text"]["text"] == "12 مطابقةً جديدةً · طائرة مسيرة"
    links = [leaf for leaf in _leaves(message["blocks"]) if leaf["type"] == "link"]
    assert [link["text"] for link in links] == [f"مسيرة رقم {number}" for number in range(12)]
    assert links[3]["url"] == "https://news.example/ar/3"
    assert " — bbc-arabic" in _shown(message)
    assert message["text"].startswith(f"{RLM}{RLI}12 مطابقةً جديدةً{PDI} · {FSI}طائرة مسيرة")
    assert slack_problems(message) == []


def test_a_batch_too_long_for_one_message_says_how_many_more() -> None:
    events = [
        replace(sample_event(), article=_article(number, "خبر طويل " * 60)) for number in range(300)
    ]

    message = slack_message(compose(events))

    assert slack_problems(message) == []
    listed = [leaf for leaf in _leaves(message["blocks"]) if leaf["type"] == "link"]
    last = message["blocks"][-1]
    assert last["type"] == "context"
    assert last["elements"][0]["text"] == f"… و{300 - len(listed)} مطابقةً جديدةً أخرى"


# Scenario 26: a 200-article digest with 10k-character texts stays within Slack's
# limits (50 blocks, 3,000 characters per block), cut with an ellipsis.
def test_a_200_article_digest_with_huge_texts_fits_slack() -> None:
    stories = tuple(
        DigestStory(
            article=_article(number, "ع" * 10_000, source="م" * 10_000),
            outlets=tuple(f"outlet-{i}-" + "x" * 10_000 for i in range(number % 15 + 1)),
            matches=number % 15 + 1,
        )
        for number in range(200)
    )
    digest = DigestEvent(
        watchlist="drones",
        since=datetime(2026, 3, 1, 4, 0, tzinfo=UTC),
        until=datetime(2026, 3, 2, 4, 0, tzinfo=UTC),
        stories=stories,
        matches=sum(story.matches for story in stories),
    )

    message = slack_message(digest)

    assert slack_problems(message) == []
    assert len(message["blocks"]) <= 50
    links = [leaf for leaf in _leaves(message["blocks"]) if leaf["type"] == "link"]
    assert links and all(link["text"].endswith("…") for link in links)
    assert message["blocks"][-1]["elements"][0]["text"].startswith("… و")


def test_a_digest_lists_stories_most_reported_first_with_their_outlets() -> None:
    digest = DigestEvent(
        watchlist="drones",
        since=datetime(2026, 3, 1, 4, 0, tzinfo=UTC),
        until=datetime(2026, 3, 2, 4, 0, tzinfo=UTC),
        stories=(
            DigestStory(_article(1, "خبر قليل"), ("bbc-arabic",), 1),
            DigestStory(_article(2, "خبر كثير"), ("الجزيرة", "بي بي سي", "العربية"), 3),
        ),
        matches=4,
    )

    message = slack_message(digest)

    assert message["blocks"][0]["text"]["text"] == "موجز · drones"
    shown = _shown(message)
    assert shown.index("خبر كثير") < shown.index("خبر قليل")
    assert "خبر كثير — الجزيرة، بي بي سي، العربية" in shown
    assert "4 مطابقات في خبرين" in shown
    dates = [leaf for leaf in _leaves(message["blocks"]) if leaf["type"] == "date"]
    assert [d["fallback"] for d in dates] == ["2026-03-01 04:00 UTC", "2026-03-02 04:00 UTC"]
    assert message["text"].startswith(f"{RLM}{RLI}موجز: خبران{PDI} · {FSI}drones{PDI}")


def test_an_empty_digest_says_nothing_new() -> None:
    digest = DigestEvent(
        watchlist="drones",
        since=datetime(2026, 3, 1, 4, 0, tzinfo=UTC),
        until=datetime(2026, 3, 2, 4, 0, tzinfo=UTC),
        stories=(),
        matches=0,
    )
    message = slack_message(digest)
    assert "لا جديد في هذه الفترة" in _shown(message)
    assert slack_problems(message) == []


def test_a_follow_up_names_the_new_outlets_and_links_the_original() -> None:
    follow_up = FollowUpEvent(
        watchlist="drones",
        article=_article(1, "طائرة مسيرة تستهدف قاعدة"),
        reports=(
            _article(2, "الخبر نفسه", source="الجزيرة"),
            _article(3, "الخبر نفسه مرة أخرى", source="بي بي سي"),
        ),
    )

    message = slack_message(follow_up)

    shown = _shown(message)
    assert "نقلته أيضاً: الجزيرة، بي بي سي" in shown
    links = [leaf for leaf in _leaves(message["blocks"]) if leaf["type"] == "link"]
    assert links[0] == {
        "type": "link",
        "url": "https://news.example/ar/1",
        "text": "طائرة مسيرة تستهدف قاعدة",
        "style": {"bold": True},
    }
    assert message["text"] == (
        f"{RLM}{RLI}طائرة مسيرة تستهدف قاعدة{PDI} · "
        f"{RLI}نقلته أيضاً: {FSI}الجزيرة{PDI}، {FSI}بي بي سي{PDI}{PDI} · {FSI}drones{PDI}"
    )
    assert slack_problems(message) == []


def test_console_text_is_one_readable_block_without_control_characters() -> None:
    event = sample_event(title="عنوان\x1b[31m أحمر\nسطر").with_id("msg_X")
    stream = io.StringIO()
    console = ChannelSettings(name="console", kind="console")
    channel = build_channel(console, Settings(), LOCAL, FakeClock(), stream)
    channel.send([ClaimedAlert(1, "msg_X", "console", event, 0, "lease")])
    text = stream.getvalue()
    assert "\x1b" not in text
    assert text.splitlines()[0] == "[drones] عنوان[31m أحمر سطر"
    assert "https://news.example/ar/2026/03/01/drone" in text
    assert "*طائرة مسيرة*" in text
    assert "msg_X" in text
