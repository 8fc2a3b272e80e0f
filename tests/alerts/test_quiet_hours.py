"""Quiet hours: a channel's instant alerts wait through its window (in its time zone) and
go out batched when it ends; urgent ones go at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alerts.channels import Pace
from alerts.dispatch import DispatchSummary, in_quiet_hours
from monitor.clock import FakeClock
from monitor.config import ChannelSettings
from monitor.db.session import Database
from tests.alerts.conftest import (
    AddAlert,
    AddEvent,
    FakeSlack,
    make_dispatcher,
    make_settings,
    sample_digest,
)
from tests.support.dispatch import dispatch_due
from tests.support.http import LocalServer, Reply

NIGHT = (22 * 60, 7 * 60)  # 22:00-07:00


def _quiet_slack(url: str, **keys: Any) -> ChannelSettings:
    return ChannelSettings(
        name="slack",
        kind="slack",
        url=url,
        quiet_hours="22:00-07:00",
        time_zone="Asia/Baghdad",  # UTC+3 all year
        **keys,
    )


@pytest.mark.parametrize(
    ("moment", "quiet"),
    [
        (datetime(2026, 3, 1, 18, 59, tzinfo=UTC), False),  # 21:59 in Baghdad
        (datetime(2026, 3, 1, 19, 0, tzinfo=UTC), True),  # 22:00
        (datetime(2026, 3, 1, 21, 30, tzinfo=UTC), True),  # 00:30, past midnight
        (datetime(2026, 3, 2, 3, 59, tzinfo=UTC), True),  # 06:59
        (datetime(2026, 3, 2, 4, 0, tzinfo=UTC), False),  # 07:00: the window has ended
        (datetime(2026, 3, 2, 12, 0, tzinfo=UTC), False),
    ],
)
def test_a_window_across_midnight_is_read_in_the_channels_zone(
    moment: datetime, quiet: bool
) -> None:
    assert in_quiet_hours(Pace(quiet_hours=NIGHT, time_zone="Asia/Baghdad"), moment) is quiet


def test_a_window_follows_daylight_saving_time_in_its_zone() -> None:
    pace = Pace(quiet_hours=NIGHT, time_zone="America/New_York")
    # 2026-03-08: New York moves from UTC-5 to UTC-4 at 02:00.
    assert in_quiet_hours(pace, datetime(2026, 3, 8, 6, 30, tzinfo=UTC))  # 01:30 EST
    assert in_quiet_hours(pace, datetime(2026, 3, 8, 10, 30, tzinfo=UTC))  # 06:30 EDT
    assert not in_quiet_hours(pace, datetime(2026, 3, 8, 11, 30, tzinfo=UTC))  # 07:30 EDT
    assert in_quiet_hours(pace, datetime(2026, 3, 7, 11, 30, tzinfo=UTC))  # 06:30 EST


def test_a_window_within_one_day_and_no_window() -> None:
    lunch = Pace(quiet_hours=(13 * 60, 14 * 60), time_zone="UTC")
    assert in_quiet_hours(lunch, datetime(2026, 3, 1, 13, 15, tzinfo=UTC))
    assert not in_quiet_hours(lunch, datetime(2026, 3, 1, 14, 0, tzinfo=UTC))
    assert not in_quiet_hours(Pace(), datetime(2026, 3, 1, 23, 0, tzinfo=UTC))


def test_quiet_hours_hold_alerts_let_urgent_ones_pass_and_batch_the_rest_at_the_end(
    db: Database, receiver: LocalServer, add_alert: AddAlert
) -> None:
    clock = FakeClock(datetime(2026, 3, 1, 20, 0, tzinfo=UTC))  # 23:00 in Baghdad
    slack = FakeSlack(clock)
    receiver.route("/slack", slack)
    settings = make_settings(_quiet_slack(receiver.url("/slack"), burst=1))
    dispatcher = make_dispatcher(db, clock, settings)
    for _ in range(4):
        add_alert(channels=("slack",))
    add_alert(channels=("slack",), title="عاجل: انفجار", watchlist="urgent", urgent=True)
    for _ in range(2):
        add_alert(channels=("slack",))

    assert dispatch_due(dispatcher) == DispatchSummary(sent=1)
    [(_, urgent)] = slack.messages
    assert urgent["blocks"][0]["text"]["text"] == "رصد · urgent"

    clock.set(datetime(2026, 3, 2, 3, 59, tzinfo=UTC))  # 06:59: still quiet
    assert dispatch_due(dispatcher) == DispatchSummary()
    clock.set(datetime(2026, 3, 2, 4, 0, tzinfo=UTC))  # 07:00
    summary = dispatch_due(dispatcher)

    assert summary == DispatchSummary(sent=6) and summary.messages == 1
    _, batch = slack.messages[-1]
    assert batch["blocks"][0]["text"]["text"] == "6 مطابقات جديدة · drones"
    assert slack.too_many == 0


def test_quiet_hours_hold_a_webhooks_alerts_too_and_let_digests_queued_urgent_pass(
    db: Database, clock: FakeClock, receiver: LocalServer, add_alert: AddAlert, add_event: AddEvent
) -> None:
    receiver.route("/hook", Reply(200))
    hook = ChannelSettings(
        name="hook",
        kind="webhook",
        url=receiver.url("/hook"),
        quiet_hours="11:00-13:00",  # the fixture's clock says 12:00 UTC
    )
    dispatcher = make_dispatcher(db, clock, make_settings(hook))
    [held] = add_alert()
    digest = add_event(sample_digest(), channel="hook", urgent=True)

    assert dispatch_due(dispatcher) == DispatchSummary(sent=1)
    assert [r.headers["webhook-id"] for r in receiver.requests_to("/hook")] == [digest.alert_id]
    clock.advance(timedelta(hours=1))
    assert dispatch_due(dispatcher) == DispatchSummary(sent=1)
    sent = [r.headers["webhook-id"] for r in receiver.requests_to("/hook")]
    assert sent == [digest.alert_id, held.alert_id]
