from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from crawler.feed_parser import FeedParseError, parse_feed

FEED_URL = "https://json.example/feed.json"
TITLE = "خبر عاجل من دمشق: اشتباكات في ريف العاصمة"
SUMMARY = "أكدت جهات سورية معارضة أن فصائل مسلحة سيطرت على مستودعات للأسلحة"


def test_json_feed_items_become_entries():
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "أخبار",
        "items": [
            {
                "id": 987,
                "url": "/news/987",
                "title": TITLE,
                "content_html": f"<p>{SUMMARY}</p><script>x()</script>",
                "date_published": "2024-05-01T12:30:00+02:00",
                "authors": [{"name": "سارة"}],
            },
            {"id": "b", "external_url": "javascript:alert(1)", "content_text": "نص"},
            "not an object",
        ],
    }

    feed = parse_feed(json.dumps(document).encode(), url=FEED_URL)

    first, second = feed.entries
    assert (feed.title, feed.version, len(feed.entries)) == ("أخبار", "json11", 2)
    assert (first.url, first.guid, first.title) == ("https://json.example/news/987", "987", TITLE)
    assert (first.summary, first.author) == (SUMMARY, "سارة")
    assert first.published_at == datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    assert (second.url, second.summary) == (None, "نص")
    assert len(feed.warnings) == 2


def test_json_feed_version_1_author_and_missing_date():
    document = {
        "version": "https://jsonfeed.org/version/1",
        "items": [{"id": "1", "url": "https://j.example/1", "author": {"name": "علي"}}],
    }

    entry = parse_feed(json.dumps(document).encode(), url=FEED_URL).entries[0]

    assert (entry.author, entry.published_at, entry.title) == ("علي", None, "")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "malformed JSON feed"),
        (b'{"items": []}', "not a feed: a JSON document without a JSON Feed version"),
        (b"[" * 100_000, "malformed JSON feed"),
    ],
)
def test_bad_json_is_a_feed_parse_error(body, message):
    if body.startswith(b"["):
        body = b"{" + body
    with pytest.raises(FeedParseError, match=message):
        parse_feed(body, url=FEED_URL)


def test_bidi_controls_are_removed_from_json_feed_items():
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "\u202bأخبار\u202c",
        "items": [{"id": 1, "title": f"\u202e{TITLE}\u202c", "content_text": f"\u2068{SUMMARY}"}],
    }

    feed = parse_feed(json.dumps(document).encode(), url=FEED_URL)

    assert feed.title == "أخبار"
    assert (feed.entries[0].title, feed.entries[0].summary) == (TITLE, SUMMARY)
