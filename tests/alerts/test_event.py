from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from alerts.event import Highlight, MatchedArticle, MatchEvent
from tests.alerts.conftest import sample_event


def test_event_json_follows_the_documented_contract() -> None:
    event = MatchEvent(
        watchlist="drones",
        article=MatchedArticle(
            url="https://news.example/a",
            title="عنوان",
            source="bbc-arabic",
            published_at=datetime(2026, 3, 1, 11, 30, tzinfo=UTC),
        ),
        highlights=(Highlight(query="طائرة", text="الطائرة", field="body"),),
        snippet="في الطائرة",
    )
    body = event.to_json()
    assert body == {
        "event": "match",
        "id": None,
        "watchlist": "drones",
        "article": {
            "url": "https://news.example/a",
            "title": "عنوان",
            "source": "bbc-arabic",
            "published_at": "2026-03-01T11:30:00+00:00",
        },
        "highlights": [{"query": "طائرة", "text": "الطائرة", "field": "body"}],
        "snippet": "في الطائرة",
    }
    assert list(body) == ["event", "id", "watchlist", "article", "highlights", "snippet"]


def test_each_channel_copy_carries_its_alert_id() -> None:
    assert sample_event().with_id("msg_X").to_json()["id"] == "msg_X"


@pytest.mark.parametrize(
    "event",
    [
        sample_event().with_id("msg_X"),
        replace(
            sample_event(),
            article=MatchedArticle(url=None, title="عاجل", source="s", published_at=None),
            highlights=(),
        ),
    ],
    ids=["full", "linkless-undated"],
)
def test_stored_json_reads_back_as_the_same_event(event: MatchEvent) -> None:
    assert MatchEvent.from_json(event.to_json()) == event


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda body: body.update(event="other"), "event"),
        (lambda body: body.pop("watchlist"), "watchlist"),
        (lambda body: body.update(article=None), "article"),
        (lambda body: body["article"].update(url=5), "article.url"),
        (lambda body: body["article"].update(published_at="yesterday"), "article.published_at"),
        (lambda body: body.update(highlights={}), "highlights"),
        (lambda body: body["highlights"][0].update(field="summary"), "highlights[0].field"),
    ],
)
def test_json_that_is_not_an_event_is_refused_naming_the_field(change, named) -> None:
    body = sample_event().to_json()
    change(body)
    with pytest.raises(ValueError, match="^" + re.escape(named) + ":"):
        MatchEvent.from_json(body)
