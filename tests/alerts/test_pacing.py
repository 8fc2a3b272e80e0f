"""Pacing through the dispatcher: token buckets, packed and batched messages, Retry-After,
against real receivers on 127.0.0.1 under a fake clock (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import select

from alerts import outbox
from alerts.dispatch import DispatchSummary
from alerts.render import FSI, PDI
from monitor.clock import FakeClock
from monitor.config import ChannelSettings
from monitor.db.models import OutboxAlert
from monitor.db.session import Database
from tests.alerts.conftest import (
    AddAlert,
    AddEvent,
    FakeSlack,
    make_dispatcher,
    make_settings,
    sample_digest,
)
from tests.support.dispatch import FakeSleep, dispatch_due
from tests.support.http import LocalServer, Recorded, Reply


def _slack(url: str, name: str = "slack", **keys: Any) -> ChannelSettings:
    return ChannelSettings(name=name, kind="slack", url=url, **keys)


def _rows(db: Database) -> list[OutboxAlert]:
    with db.transaction() as session:
        return list(session.scalars(select(OutboxAlert).order_by(OutboxAlert.id)))


def _links(message: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "link":
                found.append(node["url"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message["blocks"])
    return found


def _header(message: dict[str, Any]) -> str:
    header: str = message["blocks"][0]["text"]["text"]
    return header


# Scenario 25: 60 matches in 10 s to one Slack webhook go out batched, at no more than
# about one message a second, with no storm of 429s.
def test_sixty_matches_in_ten_seconds_arrive_as_few_messages_at_one_a_second(
    db: Database, clock: FakeClock, receiver: LocalServer, add_alert: AddAlert
) -> None:
    slack = FakeSlack(clock, rate=1.0, burst=3)
    receiver.route("/slack", slack)
    start = clock.now()
    arrivals = deque(start + timedelta(seconds=10 * number / 60) for number in range(60))

    def arrive(now: datetime) -> None:
        while arrivals and arrivals[0] <= now:
            arrivals.popleft()
            add_alert(channels=("slack",))

    sleep = FakeSleep(clock, during=arrive)
    settings = make_settings(_slack(receiver.url("/slack")))
    dispatcher = make_dispatcher(db, clock, settings, sleep=sleep)
    summary = DispatchSummary()
    # Each match wakes the dispatcher, as ingest does; a round's waits let time pass.
    while arrivals or outbox.counts(db)["pending"]:
        arrive(clock.now())
        summary.add(dispatch_due(dispatcher))
        if arrivals:
            clock.set(max(clock.now(), arrivals[0]))
        else:
            clock.advance(timedelta(seconds=5))  # the dispatch tick

    assert slack.too_many <= 1
    assert summary.sent == 60 and summary.failed == 0
    assert len(slack.messages) <= 15
    delivered = [url for _, message in slack.messages for url in _links(message)]
    assert sorted(delivered) == sorted(f"https://news.example/ar/{n}" for n in range(1, 61))
    times = [moment for moment, _ in slack.messages]
    # Never more than a burst of three plus one message a second, in any stretch of time.
    for first, earlier in enumerate(times):
        for last in range(first, len(times)):
            seconds = (times[last] - earlier).total_seconds()
            assert last - first + 1 <= 3 + seconds
    assert times[-1] - start <= timedelta(seconds=15)
    assert any(_header(message).endswith("مطابقات جديدة · drones") for _, message in slack.messages)
    assert [row.status for row in _rows(db)] == ["sent"] * 60


def test_an_article_two_watchlists_matched_is_one_slack_message_naming_both(
    db: Database, clock: FakeClock, receiver: LocalServer, add_alert: AddAlert
) -> None:
    slack = FakeSlack(clock)
    receiver.route("/slack", slack)
    add_alert(channels=("slack",), title="طائرة مسيرة فوق أربيل")
    add_alert(channels=("slack",), title="طائرة مسيرة فوق أربيل", watchlist="طائرات", article=1)

    settings = make_settings(_slack(receiver.url("/slack")))
    summary = dispatch_due(make_dispatcher(db, clock, settings))

    assert summary == DispatchSummary(sent=2) and summary.messages == 1
    [(_, message)] = slack.messages
    assert _header(message) == "رصد · drones، طائرات"
    assert _links(message) == ["https://news.example/ar/1"]
    assert f"{FSI}drones، طائرات{PDI}" in message["text"]


def test_more_messages_than_tokens_send_the_first_alone_and_the_rest_as_one_batch(
    db: Database, clock: FakeClock, receiver: LocalServer, add_alert: AddAlert
) -> None:
    slack = FakeSlack(clock)
    receiver.route("/slack", slack)
    for _ in range(10):
        add_alert(channels=("slack",))
    sleep = FakeSleep(clock)
    settings = make_settings(_slack(receiver.url("/slack"), burst=3))

    summary = dispatch_due(make_dispatcher(db, clock, settings, sleep=sleep))

    assert summary == DispatchSummary(sent=10) and summary.messages == 3
    assert sleep.waits == []
    headers = [_header(message) for _, message in slack.messages]
    assert headers == ["رصد · drones", "رصد · drones", "8 مطابقات جديدة · drones"]
    assert len(_links(slack.messages[2][1])) == 8


def test_a_channel_without_a_token_waits_for_the_next_one_instead_of_the_next_tick(
    db: Database, clock: FakeClock, receiver: LocalServer, add_alert: AddAlert
) -> None:
    slack = FakeSlack(clock, burst=1)
    receiver.route("/slack", slack)
    sleep = FakeSleep(clock)
    settings = make_settings(_slack(receiver.url("/slack"), burst=1))
    dispatcher = make_dispatcher(db, clock, settings, sleep=sleep)
    add_alert(channels=("slack",))
    assert dispatch_due(dispatcher) == DispatchSummary(sent=1)

    add_alert(channels=("slack",))
    assert dispatch_due(dispatcher) == DispatchSummary(sent=1)

    assert len(sleep.waits) == 1 and 0.99 <= sleep.waits[0] <= 1.01
    assert slack.too_many == 0
    assert slack.messages[1][0] - slack.messages[0][0] >= timedelta(seconds=1)


def test_digests_and_follow_ups_are_never_packed_with_matches(
    db: Database,
    clock: FakeClock,
    receiver: LocalServer,
    add_alert: AddAlert,
    add_event: AddEvent,
) -> None:
    slack = FakeSlack(clock, burst=1)
    receiver.route("/slack", slack)
    for _ in range(3):
        add_alert(channels=("slack",))
    add_event(sample_digest())
    for _ in range(2):
        add_alert(channels=("slack",))
    sleep = FakeSleep(clock)
    settings = make_settings(_slack(receiver.url("/slack"), burst=1))

    summary = dispatch_due(make_dispatcher(db, clock, settings, sleep=sleep))

    assert summary == DispatchSummary(sent=6) and summary.messages == 3
    headers = [_header(message) for _, message in slack.messages]
    assert headers == ["3 مطابقات جديدة · drones", "موجز · drones", "مطابقتان جديدتان · drones"]
    assert slack.too_many == 0 and len(sleep.waits) == 2


def test_a_429_empties_its_channels_bucket_and_not_the_others(
    db: Database, clock: FakeClock, receiver: LocalServer, add_alert: AddAlert
) -> None:
    receiver.route("/busy", Reply(429, "rate_limited", {"Retry-After": "30"}, "text/plain"))
    calm = FakeSlack(clock)
    receiver.route("/calm", calm)
    sleep = FakeSleep(clock)
    settings = make_settings(
        _slack(receiver.url("/busy"), name="busy"), _slack(receiver.url("/calm"), name="calm")
    )
    dispatcher = make_dispatcher(db, clock, settings, sleep=sleep)
    for _ in range(3):
        add_alert(channels=("busy", "calm"))

    summary = dispatch_due(dispatcher)

    assert summary == DispatchSummary(sent=3, failed=1, skipped=2)
    assert len(calm.messages) == 3 and len(receiver.requests_to("/busy")) == 1
    clock.advance(timedelta(seconds=2))
    add_alert(channels=("busy", "calm"))
    # Even when backoff is ignored (run --once), the busy channel's bucket waits for
    # its Retry-After; the calm one sends at once.
    summary = dispatch_due(dispatcher, ignore_backoff=True)
    assert summary == DispatchSummary(sent=1, paced=4)
    assert len(calm.messages) == 4 and len(receiver.requests_to("/busy")) == 1
    assert sleep.waits == []
    clock.advance(timedelta(seconds=28))
    receiver.route("/busy", Reply(200, "ok", content_type="text/plain"))
    summary = dispatch_due(dispatcher)
    # One token after the Retry-After: the four waiting alerts go as one batch.
    assert summary.sent == 4 and summary.messages == 1


def test_a_packed_message_that_fails_retries_all_its_alerts_at_one_time(
    db: Database, clock: FakeClock, receiver: LocalServer, add_alert: AddAlert
) -> None:
    answers = [Reply(500, "rollup_error"), Reply(200, "ok")]
    receiver.route("/slack", lambda _request: answers.pop(0) if len(answers) > 1 else answers[0])
    settings = make_settings(_slack(receiver.url("/slack"), burst=1))
    dispatcher = make_dispatcher(db, clock, settings)
    for _ in range(5):
        add_alert(channels=("slack",))

    assert dispatch_due(dispatcher) == DispatchSummary(failed=5)
    rows = _rows(db)
    assert len({row.next_attempt_at for row in rows}) == 1
    assert {(row.status, row.attempts) for row in rows} == {("pending", 1)}
    clock.advance(outbox.BACKOFF_CEILINGS[0])
    summary = dispatch_due(dispatcher)
    assert summary == DispatchSummary(sent=5) and summary.messages == 1
    assert len(receiver.requests_to("/slack")) == 2


def test_a_packed_message_refused_for_good_makes_all_its_alerts_dead(
    db: Database, clock: FakeClock, receiver: LocalServer, add_alert: AddAlert
) -> None:
    receiver.route("/slack", Reply(404, "no_service", content_type="text/plain"))
    settings = make_settings(_slack(receiver.url("/slack"), burst=1))
    for _ in range(4):
        add_alert(channels=("slack",))

    assert dispatch_due(make_dispatcher(db, clock, settings)) == DispatchSummary(dead=4)
    assert {(row.status, row.attempts) for row in _rows(db)} == {("dead", 1)}
    assert len(receiver.requests_to("/slack")) == 1


def test_a_webhook_sends_one_alert_per_token_and_leaves_the_rest_for_later(
    db: Database, clock: FakeClock, receiver: LocalServer, add_alert: AddAlert
) -> None:
    moments: list[datetime] = []

    def record(_request: Recorded) -> Reply:
        moments.append(clock.now())
        return Reply(200)

    receiver.route("/hook", record)
    sleep = FakeSleep(clock)
    url = receiver.url("/hook")
    hook = ChannelSettings(name="hook", kind="webhook", url=url, rate=0.5, burst=1)
    dispatcher = make_dispatcher(db, clock, make_settings(hook), sleep=sleep)
    ids = [add_alert()[0].alert_id for _ in range(5)]

    # A token every 2 s; a round waits at most the dispatch interval (5 s) in all.
    assert dispatch_due(dispatcher) == DispatchSummary(sent=3, paced=2)
    assert sleep.waits == [2.000001, 2.000001]
    assert dispatch_due(dispatcher) == DispatchSummary(sent=2)
    sent = [request.headers["webhook-id"] for request in receiver.requests_to("/hook")]
    assert sent == ids  # one event per webhook-id, in order
    gaps = [later - earlier for earlier, later in pairwise(moments)]
    assert all(gap >= timedelta(seconds=2) for gap in gaps)
