"""Slack and webhook channels against receivers that answer 200, 429 with Retry-After,
500, 404, hang, or close the connection; digests and follow-ups through both."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from alerts.event import FollowUpEvent, MatchedArticle
from monitor.clock import FakeClock
from monitor.config import ChannelSettings
from monitor.db.models import OutboxAlert
from monitor.db.session import Database
from tests.alerts.conftest import (
    SECRET,
    AddAlert,
    AddEvent,
    FakeSlack,
    drip_server,
    make_dispatcher,
    make_settings,
    sample_digest,
    slack_problems,
)
from tests.support.dispatch import dispatch_due
from tests.support.http import LocalServer, Reply

KINDS = ["webhook", "slack"]


def _channel(kind: str, url: str, timeout: float | None = None) -> ChannelSettings:
    deadline = None if timeout is None else timedelta(seconds=timeout)
    secret = SECRET if kind == "webhook" else None
    return ChannelSettings(name="out", kind=kind, url=url, secret=secret, timeout=deadline)


def _row(db: Database) -> OutboxAlert:
    with db.transaction() as session:
        [row] = session.scalars(select(OutboxAlert))
        return row


@contextmanager
def _receiver(receiver: LocalServer, answer: str) -> Iterator[str]:
    """A receiver URL that answers as ``answer`` says."""
    if answer in ("hang", "close"):
        head = b"" if answer == "close" else b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
        body = b"ok" if head else b""
        with drip_server(head, body, drip_head=True, interval=5 if head else 0) as url:
            yield url
        return
    replies = {
        "200": Reply(200, "ok", content_type="text/plain"),
        "429": Reply(429, "rate_limited", {"Retry-After": "7"}, "text/plain"),
        "500": Reply(500, "rollup_error", content_type="text/plain"),
        "404": Reply(404, "no_service", content_type="text/plain"),
    }
    receiver.route("/out", replies[answer])
    yield receiver.url("/out")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("answer", "status", "attempts", "error"),
    [
        ("200", "sent", 1, None),
        ("429", "pending", 1, "HTTP 429"),
        ("500", "pending", 1, "HTTP 500"),
        ("404", "dead", 1, "HTTP 404"),
        ("hang", "pending", 1, "127.0.0.1"),  # no answer, or connection, in time
        ("close", "pending", 1, "closed the connection without answering"),
    ],
)
def test_each_receiver_answer_settles_the_alert_as_it_means(
    db: Database,
    clock: FakeClock,
    receiver: LocalServer,
    add_alert: AddAlert,
    kind: str,
    answer: str,
    status: str,
    attempts: int,
    error: str | None,
) -> None:
    add_alert(channels=("out",))
    with _receiver(receiver, answer) as url:
        settings = make_settings(_channel(kind, url, timeout=1.0 if answer == "hang" else 10))
        dispatch_due(make_dispatcher(db, clock, settings))

    row = _row(db)
    assert (row.status, row.attempts) == (status, attempts), row.last_error
    if error is None:
        assert row.last_error is None
    else:
        assert error in (row.last_error or "")
    if answer == "hang":
        assert "deadline" in (row.last_error or "") or "timed out" in (row.last_error or "")
    if answer == "429":
        assert row.next_attempt_at >= clock.now() + timedelta(seconds=7)


# Scenario 26 end to end: a 200-story digest reaches a receiver that refuses what Slack
# refuses, and is accepted in one message.
def test_slack_accepts_a_200_story_digest_with_huge_titles(
    db: Database, clock: FakeClock, receiver: LocalServer, add_event: AddEvent
) -> None:
    slack = FakeSlack(clock)
    receiver.route("/slack", slack)
    digest = sample_digest(200)
    stories = tuple(
        type(story)(
            article=MatchedArticle(story.article.url, "ع" * 10_000, "م" * 10_000),
            outlets=story.outlets,
            matches=story.matches,
        )
        for story in digest.stories
    )
    add_event(type(digest)(digest.watchlist, digest.since, digest.until, stories, 400))
    settings = make_settings(
        ChannelSettings(name="slack", kind="slack", url=receiver.url("/slack"))
    )

    assert dispatch_due(make_dispatcher(db, clock, settings)).sent == 1

    [(_, message)] = slack.messages
    assert slack_problems(message) == []
    assert message["blocks"][-1]["elements"][0]["text"].startswith("… و")


def test_a_webhook_sends_a_digest_and_a_follow_up_as_their_own_signed_events(
    db: Database, receiver: LocalServer, add_event: AddEvent
) -> None:
    clock = FakeClock(datetime.now(UTC))  # the library checks the signature's age
    receiver.route("/hook", Reply(204))
    follow_up = FollowUpEvent(
        watchlist="drones",
        article=MatchedArticle("https://news.example/ar/1", "طائرة مسيرة", "bbc-arabic"),
        reports=(MatchedArticle("https://news.example/ar/2", "الخبر نفسه", "الجزيرة"),),
    )
    sent = [
        add_event(sample_digest(), channel="hook"),
        add_event(follow_up, channel="hook"),
    ]
    hook = ChannelSettings(name="hook", kind="webhook", url=receiver.url("/hook"), secret=SECRET)

    assert dispatch_due(make_dispatcher(db, clock, make_settings(hook))).sent == 2

    requests = receiver.requests_to("/hook")
    bodies = [Webhook(SECRET).verify(r.body, r.headers) for r in requests]
    assert [body["event"] for body in bodies] == ["digest", "follow_up"]
    assert [body["id"] for body in bodies] == [row.alert_id for row in sent]
    assert bodies[0]["stories"][0]["outlets"] == ["bbc-arabic", "الجزيرة"]
    assert bodies[1]["reports"][0]["source"] == "الجزيرة"
    assert json.loads(requests[1].body) == follow_up.with_id(sent[1].alert_id).to_json()
