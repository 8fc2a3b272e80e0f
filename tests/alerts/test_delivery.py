"""End to end through the dispatcher: real outbox rows (SQLite and PostgreSQL), real
receivers on 127.0.0.1, a fake clock."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from alerts import outbox
from alerts.channels import Pace
from alerts.dispatch import LEASE_MARGIN, Dispatcher, DispatchSummary
from alerts.outbox import BACKOFF_CEILINGS, ClaimedAlert
from monitor.clock import FakeClock
from monitor.config import AlertSettings, ChannelSettings
from monitor.db.models import OutboxAlert
from monitor.db.session import Database
from monitor.netguard import NetworkPolicy
from tests.alerts.conftest import (
    SECRET,
    AddAlert,
    free_port,
    make_dispatcher,
    make_settings,
    receiver_on,
)
from tests.support.dispatch import dispatch_due
from tests.support.http import LocalServer, Recorded, Reply


def _rows(db: Database) -> list[OutboxAlert]:
    with db.transaction() as session:
        return list(session.scalars(select(OutboxAlert).order_by(OutboxAlert.id)))


def _webhook(
    url: str, secret: str | None = SECRET, name: str = "hook", timeout: float | None = None
) -> ChannelSettings:
    deadline = None if timeout is None else timedelta(seconds=timeout)
    return ChannelSettings(name=name, kind="webhook", url=url, secret=secret, timeout=deadline)


def _slack(url: str) -> ChannelSettings:
    return ChannelSettings(name="slack", kind="slack", url=url)


def _answers(*replies: Reply) -> Any:
    queue = list(replies)
    return lambda _request: queue.pop(0) if len(queue) > 1 else queue[0]


# Scenario 20: receiver 500, 500, 200: one delivery, 3 attempts, same webhook-id,
# a valid signature each time, different timestamps.
def test_500_500_200_is_one_delivery_in_three_signed_attempts(
    db: Database, clock: FakeClock, receiver: LocalServer, add_alert: AddAlert
) -> None:
    """Scenario 20."""
    receiver.route("/hook", _answers(Reply(500, "oops"), Reply(500, "oops"), Reply(200, "ok")))
    dispatcher = make_dispatcher(db, clock, make_settings(_webhook(receiver.url("/hook"))))
    [row] = add_alert()

    assert dispatch_due(dispatcher) == DispatchSummary(failed=1)
    assert dispatch_due(dispatcher) == DispatchSummary()  # backing off: not due yet
    clock.advance(BACKOFF_CEILINGS[0])
    assert dispatch_due(dispatcher) == DispatchSummary(failed=1)
    clock.advance(BACKOFF_CEILINGS[1])
    assert dispatch_due(dispatcher) == DispatchSummary(sent=1)
    assert dispatch_due(dispatcher) == DispatchSummary()

    requests = receiver.requests_to("/hook")
    assert len(requests) == 3
    assert {r.headers["webhook-id"] for r in requests} == {row.alert_id}
    timestamps = [r.headers["webhook-timestamp"] for r in requests]
    assert len(set(timestamps)) == 3
    signer = Webhook(SECRET)
    for request, stamp in zip(requests, timestamps, strict=True):
        moment = datetime.fromtimestamp(int(stamp), tz=UTC)
        expected = signer.sign(row.alert_id, moment, request.body.decode())
        assert request.headers["webhook-signature"] == expected
    [stored] = _rows(db)
    assert (stored.status, stored.attempts, stored.last_error) == ("sent", 3, None)


# Scenario 21: 429 with Retry-After: 7: the next attempt is 7 s later or more.
def test_429_retry_after_delays_the_next_attempt(
    db: Database, clock: FakeClock, receiver: LocalServer, add_alert: AddAlert
) -> None:
    """Scenario 21."""
    receiver.route(
        "/hook", _answers(Reply(429, "slow down", headers={"Retry-After": "7"}), Reply(200))
    )
    dispatcher = make_dispatcher(db, clock, make_settings(_webhook(receiver.url("/hook"))))
    add_alert()
    start = clock.now()

    assert dispatch_due(dispatcher).failed == 1
    [row] = _rows(db)
    assert row.next_attempt_at >= start + timedelta(seconds=7)
    clock.advance(timedelta(seconds=6.9))
    assert dispatch_due(dispatcher) == DispatchSummary()
    clock.advance(timedelta(seconds=0.1))
    assert dispatch_due(dispatcher).sent == 1
    assert len(receiver.requests_to("/hook")) == 2


@pytest.mark.parametrize(
    ("status", "reason"),
    [(404, "no_service"), (410, "channel_is_archived"), (400, "invalid_payload"),
     (403, "action_prohibited"), (404, "channel_not_found")],
)  # fmt: skip
# Scenario 22: Slack 404 no_service, 410 channel_is_archived, 400 invalid_payload: dead
# after one attempt with the error shown; `rasid alerts retry` re-queues.
def test_slack_permanent_errors_go_to_dead_letters_and_can_be_requeued(
    db: Database,
    clock: FakeClock,
    receiver: LocalServer,
    add_alert: AddAlert,
    status: int,
    reason: str,
) -> None:
    """Scenario 22."""
    receiver.route("/slack", Reply(status, reason, content_type="text/plain"))
    dispatcher = make_dispatcher(db, clock, make_settings(_slack(receiver.url("/slack"))))
    add_alert(channels=("slack",))

    assert dispatch_due(dispatcher) == DispatchSummary(dead=1)
    [row] = _rows(db)
    assert (row.status, row.attempts) == ("dead", 1)
    assert reason in (row.last_error or "") and str(status) in (row.last_error or "")
    assert "/slack" not in (row.last_error or "")  # the webhook path is a credential

    assert outbox.requeue_dead(db, clock.now()) == 1
    receiver.route("/slack", Reply(200, "ok", content_type="text/plain"))
    assert dispatch_due(dispatcher) == DispatchSummary(sent=1)
    assert len(receiver.requests_to("/slack")) == 2


def test_slack_429_is_retried_after_its_retry_after(
    db: Database, clock: FakeClock, receiver: LocalServer, add_alert: AddAlert
) -> None:
    receiver.route("/slack", _answers(Reply(429, "", headers={"Retry-After": "30"}), Reply(200)))
    dispatcher = make_dispatcher(db, clock, make_settings(_slack(receiver.url("/slack"))))
    add_alert(channels=("slack",))

    assert dispatch_due(dispatcher).failed == 1
    clock.advance(timedelta(seconds=29))
    assert dispatch_due(dispatcher) == DispatchSummary()
    clock.advance(timedelta(seconds=1))
    assert dispatch_due(dispatcher).sent == 1
    message = receiver.requests_to("/slack")[-1].body.decode()
    assert '"blocks"' in message and "طائرة مسيرة" in message


# Scenario 23: receiver down for 6 h, then up: every alert once, in order.
def test_dead_receiver_keeps_alerts_then_gets_each_once_in_order(
    db: Database, clock: FakeClock, add_alert: AddAlert
) -> None:
    """Scenario 23: down for hours, alerts keep arriving; then everything, once, in order."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    dispatcher = make_dispatcher(db, clock, make_settings(_webhook(url)))
    enqueued = [add_alert()[0].alert_id for _ in range(3)]

    first = dispatch_due(dispatcher)
    assert first == DispatchSummary(failed=1, skipped=2)
    for _ in range(6):
        clock.advance(timedelta(hours=1))
        enqueued.append(add_alert()[0].alert_id)
        summary = dispatch_due(dispatcher)
        assert summary.sent == 0 and summary.failed <= 1
    assert outbox.counts(db) == {"pending": 9, "sent": 0, "dead": 0}
    assert "refused" in (_rows(db)[0].last_error or "")

    with receiver_on(port) as received:
        clock.advance(BACKOFF_CEILINGS[-1])
        assert dispatch_due(dispatcher) == DispatchSummary(sent=9)
        assert dispatch_due(dispatcher) == DispatchSummary()
    assert [request["headers"]["webhook-id"] for request in received] == enqueued


def test_later_alert_waits_behind_one_in_backoff(
    db: Database, clock: FakeClock, receiver: LocalServer, add_alert: AddAlert
) -> None:
    receiver.route("/hook", _answers(Reply(503, "busy"), Reply(200)))
    dispatcher = make_dispatcher(db, clock, make_settings(_webhook(receiver.url("/hook"))))
    first = add_alert()[0].alert_id
    assert dispatch_due(dispatcher).failed == 1

    second = add_alert()[0].alert_id  # due now; the receiver would take it
    assert dispatch_due(dispatcher) == DispatchSummary()
    clock.advance(BACKOFF_CEILINGS[0])
    assert dispatch_due(dispatcher) == DispatchSummary(sent=2)
    ids = [r.headers["webhook-id"] for r in receiver.requests_to("/hook")]
    assert ids == [first, first, second]


def test_failure_on_one_channel_does_not_hold_up_another(
    db: Database, clock: FakeClock, receiver: LocalServer, add_alert: AddAlert
) -> None:
    receiver.route("/down", Reply(502, "bad gateway"))
    receiver.route("/up", Reply(200, "ok"))
    settings = make_settings(
        _webhook(receiver.url("/down"), name="down"), _webhook(receiver.url("/up"), name="up")
    )
    for _ in range(3):
        add_alert(channels=("down", "up"))

    summary = dispatch_due(make_dispatcher(db, clock, settings, batch_size=2))

    assert summary == DispatchSummary(sent=3, failed=1, skipped=1)
    assert len(receiver.requests_to("/down")) == 1
    assert len(receiver.requests_to("/up")) == 3


def test_unconfigured_channel_keeps_its_alerts_pending(
    db: Database, clock: FakeClock, receiver: LocalServer, add_alert: AddAlert
) -> None:
    receiver.route("/hook", Reply(200))
    add_alert(channels=("later",))
    without = make_dispatcher(db, clock, make_settings(_webhook(receiver.url("/hook"))))

    assert dispatch_due(without) == DispatchSummary(skipped=1)
    [row] = _rows(db)
    assert (row.status, row.attempts) == ("pending", 0)
    assert "'later' is not configured" in (row.last_error or "")

    settings = make_settings(_webhook(receiver.url("/hook"), name="later"))
    assert dispatch_due(make_dispatcher(db, clock, settings)) == DispatchSummary(sent=1)


def test_guarded_loopback_webhook_is_refused_at_send(
    db: Database, clock: FakeClock, receiver: LocalServer, add_alert: AddAlert
) -> None:
    receiver.route("/hook", Reply(200))
    settings = make_settings(_webhook(receiver.url("/hook")))
    dispatcher = make_dispatcher(db, clock, settings, NetworkPolicy(allow_private_networks=False))
    add_alert()

    assert dispatch_due(dispatcher) == DispatchSummary(dead=1)
    assert receiver.requests == []
    assert "private, loopback or reserved" in (_rows(db)[0].last_error or "")


# Scenario 27: a receiver hangs past the lease: no second sender, one delivery.
def test_a_second_dispatcher_does_not_send_an_alert_in_flight(
    db: Database, clock: FakeClock, receiver: LocalServer, add_alert: AddAlert
) -> None:
    """Scenario 27: while the first send hangs, a second dispatcher finds nothing to send."""
    settings = make_settings(_webhook(receiver.url("/hook")))
    second = make_dispatcher(db, clock, settings)
    during: list[DispatchSummary] = []

    def slow_receiver(_request: Recorded) -> Reply:
        if not during:
            clock.advance(settings.alerts.timeout)  # the whole HTTP deadline goes by
            during.append(dispatch_due(second))
        return Reply(200)

    receiver.route("/hook", slow_receiver)
    add_alert()
    first = make_dispatcher(db, clock, settings)

    assert first.lease_for("hook") > settings.alerts.timeout
    assert dispatch_due(first) == DispatchSummary(sent=1)
    assert during == [DispatchSummary()]
    assert len(receiver.requests_to("/hook")) == 1


def test_console_channel_prints_the_alert(
    db: Database, clock: FakeClock, add_alert: AddAlert
) -> None:
    stream = io.StringIO()
    settings = make_settings(ChannelSettings(name="console", kind="console"))
    add_alert(channels=("console",), title="عاجل: طائرة مسيرة")

    assert dispatch_due(make_dispatcher(db, clock, settings, stream=stream)).sent == 1
    assert "[drones] عاجل: طائرة مسيرة" in stream.getvalue()


def test_async_round_sends_channels_concurrently_without_blocking_the_loop(
    db: Database, clock: FakeClock, receiver: LocalServer, add_alert: AddAlert
) -> None:
    both_waiting = threading.Barrier(2, timeout=3)

    def meet(_request: Recorded) -> Reply:
        # Each channel's first request waits for the other channel's: this only
        # succeeds if the two channels are being delivered at the same time.
        if len(receiver.requests) <= 2:
            both_waiting.wait()
        return Reply(200)

    receiver.route("/a", meet)
    receiver.route("/b", meet)
    settings = make_settings(
        _webhook(receiver.url("/a"), name="a"), _webhook(receiver.url("/b"), name="b")
    )
    ids = [add_alert(channels=("a", "b")) for _ in range(3)]
    dispatcher = make_dispatcher(db, clock, settings)

    async def round_with_ticker() -> tuple[DispatchSummary, int]:
        ticks = 0
        task = asyncio.create_task(dispatcher.dispatch_due())
        while not task.done():
            ticks += 1
            await asyncio.sleep(0.001)
        return task.result(), ticks

    summary, ticks = asyncio.run(round_with_ticker())

    assert summary == DispatchSummary(sent=6)
    assert ticks > 3  # the loop kept running while the receivers held the requests
    for path, index in (("/a", 0), ("/b", 1)):
        sent = [r.headers["webhook-id"] for r in receiver.requests_to(path)]
        assert sent == [rows[index].alert_id for rows in ids]


class _Broken:
    """A channel with a bug in it (the only hand-made channel in these tests)."""

    name = "broken"
    deadline = timedelta(seconds=15)
    packs = False
    pace = Pace()

    def send(self, alerts: Sequence[ClaimedAlert]) -> str:
        raise RuntimeError("renderer bug")


def test_a_channel_bug_is_kept_on_the_alert_until_attempts_run_out(
    db: Database, clock: FakeClock, add_alert: AddAlert
) -> None:
    add_alert(channels=("broken",))
    settings = AlertSettings(max_attempts=2)
    dispatcher = Dispatcher(db, {"broken": _Broken()}, settings, clock, rng=Random(1))

    assert dispatch_due(dispatcher) == DispatchSummary(failed=1)
    clock.advance(BACKOFF_CEILINGS[0])
    assert dispatch_due(dispatcher) == DispatchSummary(dead=1)
    [row] = _rows(db)
    assert (row.status, row.attempts) == ("dead", 2)
    assert "internal error" in (row.last_error or "") and "renderer bug" in (row.last_error or "")


def test_ignoring_backoff_tries_each_failing_alert_once_per_round(
    db: Database, clock: FakeClock, receiver: LocalServer, add_alert: AddAlert
) -> None:
    receiver.route("/hook", Reply(503, "busy"))
    dispatcher = make_dispatcher(db, clock, make_settings(_webhook(receiver.url("/hook"))))
    add_alert()
    add_alert()

    assert dispatch_due(dispatcher, ignore_backoff=True) == DispatchSummary(failed=1, skipped=1)
    assert dispatch_due(dispatcher, ignore_backoff=True) == DispatchSummary(failed=1, skipped=1)
    assert len(receiver.requests_to("/hook")) == 2
    assert [row.attempts for row in _rows(db)] == [2, 0]


def test_each_channel_is_leased_for_its_own_deadline(
    db: Database, clock: FakeClock, receiver: LocalServer
) -> None:
    settings = make_settings(
        _webhook(receiver.url("/slow"), name="slow", timeout=60),
        _webhook(receiver.url("/plain"), name="plain"),
        timeout=2,
    )
    dispatcher = make_dispatcher(db, clock, settings)

    assert dispatcher.lease_for("slow") == timedelta(seconds=60) + LEASE_MARGIN
    assert dispatcher.lease_for("plain") == timedelta(seconds=2) + LEASE_MARGIN


# Scenario 27: the same for a channel with a deadline of its own.
def test_a_slow_channel_never_gets_a_second_sender_within_its_own_deadline(
    db: Database, clock: FakeClock, receiver: LocalServer, add_alert: AddAlert
) -> None:
    """Scenario 27 for a channel whose deadline is longer than [alerts] timeout."""
    settings = make_settings(_webhook(receiver.url("/hook"), timeout=90), timeout=2)
    second = make_dispatcher(db, clock, settings)
    during: list[DispatchSummary] = []

    def slow_receiver(_request: Recorded) -> Reply:
        if not during:
            clock.advance(timedelta(seconds=90))  # the channel's whole deadline goes by
            during.append(dispatch_due(second))
        return Reply(200)

    receiver.route("/hook", slow_receiver)
    add_alert()

    assert dispatch_due(make_dispatcher(db, clock, settings)) == DispatchSummary(sent=1)
    assert during == [DispatchSummary()]
    assert len(receiver.requests_to("/hook")) == 1


def test_an_answer_after_the_channel_deadline_is_a_failure_retried_with_the_same_id(
    db: Database, clock: FakeClock, receiver: LocalServer, add_alert: AddAlert
) -> None:
    """The receiver's late 200 is never read: the alert comes again, as docs/webhooks.md
    tells receivers, with the same webhook-id."""
    late_answer_given = threading.Event()

    def late_then_prompt(_request: Recorded) -> Reply:
        if len(receiver.requests_to("/hook")) == 1:
            time.sleep(0.8)  # well past the channel's 0.3 s deadline
            late_answer_given.set()
        return Reply(200)

    receiver.route("/hook", late_then_prompt)
    settings = make_settings(_webhook(receiver.url("/hook"), timeout=0.3), timeout=5)
    dispatcher = make_dispatcher(db, clock, settings)
    [row] = add_alert()

    assert dispatch_due(dispatcher) == DispatchSummary(failed=1)
    [stored] = _rows(db)
    assert (stored.status, stored.attempts) == ("pending", 1)
    assert "no answer within the 0.3 s deadline" in (stored.last_error or "")
    assert late_answer_given.wait(5)

    clock.advance(BACKOFF_CEILINGS[0])
    assert dispatch_due(dispatcher) == DispatchSummary(sent=1)
    ids = [request.headers["webhook-id"] for request in receiver.requests_to("/hook")]
    assert ids == [row.alert_id, row.alert_id]
