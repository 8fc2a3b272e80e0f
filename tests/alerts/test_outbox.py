from __future__ import annotations

import re
from datetime import timedelta
from random import Random

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from alerts import outbox
from alerts.event import MatchEvent
from alerts.outbox import BACKOFF_CEILINGS
from monitor.clock import FakeClock
from monitor.db.models import Match, OutboxAlert
from monitor.db.session import Database
from monitor.errors import DeliveryError
from tests.alerts.conftest import AddAlert, sample_event

LEASE = timedelta(seconds=45)


def _row(db: Database, row_id: int) -> OutboxAlert:
    with db.transaction() as session:
        row = session.get(OutboxAlert, row_id)
        assert row is not None
        return row


def test_enqueue_gives_each_channel_its_own_stable_alert_id(add_alert: AddAlert) -> None:
    rows = add_alert(channels=("hook", "slack", "hook"))
    assert [row.channel for row in rows] == ["hook", "slack"]
    for row in rows:
        assert re.fullmatch(r"msg_[0-9A-HJKMNP-TV-Z]{26}", row.alert_id)
        assert row.payload["id"] == row.alert_id
        assert row.status == "pending" and row.attempts == 0
    assert rows[0].alert_id != rows[1].alert_id


def test_enqueue_commits_or_rolls_back_with_the_match(
    db: Database, clock: FakeClock, add_alert: AddAlert
) -> None:
    add_alert()
    with pytest.raises(RuntimeError), db.transaction() as session:
        match = session.scalars(select(Match)).one()
        outbox.enqueue(
            session.connection(),
            match_id=match.id,
            channels=["other"],
            event=sample_event(),
            now=clock.now(),
        )
        raise RuntimeError("crash before commit")
    assert outbox.counts(db)["pending"] == 1


def test_one_alert_per_match_and_channel(
    db: Database, clock: FakeClock, add_alert: AddAlert
) -> None:
    add_alert()
    with pytest.raises(IntegrityError), db.transaction() as session:
        match = session.scalars(select(Match)).one()
        outbox.enqueue(
            session.connection(),
            match_id=match.id,
            channels=["hook"],
            event=sample_event(),
            now=clock.now(),
        )


def test_leased_row_is_not_claimed_twice(
    db: Database, clock: FakeClock, add_alert: AddAlert
) -> None:
    add_alert()
    [mine] = outbox.claim_due(db, now=clock.now(), limit=10, lease=LEASE)
    assert outbox.claim_due(db, now=clock.now(), limit=10, lease=LEASE) == []
    clock.advance(LEASE - timedelta(seconds=1))
    assert outbox.claim_due(db, now=clock.now(), limit=10, lease=LEASE) == []
    clock.advance(timedelta(seconds=1))
    [theirs] = outbox.claim_due(db, now=clock.now(), limit=10, lease=LEASE)
    assert theirs.id == mine.id and theirs.lease_token != mine.lease_token


def test_stale_lease_token_cannot_settle_the_row(
    db: Database, clock: FakeClock, add_alert: AddAlert
) -> None:
    add_alert()
    [slow] = outbox.claim_due(db, now=clock.now(), limit=10, lease=LEASE)
    clock.advance(LEASE)
    [fast] = outbox.claim_due(db, now=clock.now(), limit=10, lease=LEASE)

    assert outbox.mark_sent(db, slow, clock.now()) is False
    assert outbox.renew(db, slow, clock.now(), LEASE) is False
    error = DeliveryError("late")
    assert outbox.mark_failed(db, slow, error, clock.now(), None) is False
    assert outbox.mark_sent(db, fast, clock.now()) is True
    row = _row(db, fast.id)
    assert (row.status, row.attempts, row.lease_token) == ("sent", 1, None)


def test_claim_returns_the_stored_event_typed_in_a_frozen_snapshot(
    db: Database, clock: FakeClock, add_alert: AddAlert
) -> None:
    [row] = add_alert(title="عاجل")
    [claimed] = outbox.claim_due(db, now=clock.now(), limit=10, lease=LEASE)
    assert claimed.event == MatchEvent.from_json(row.payload)
    assert claimed.event.id == row.alert_id and claimed.event.article.title == "عاجل"
    with pytest.raises(AttributeError):
        claimed.attempts = 5  # type: ignore[misc]


def test_a_row_whose_payload_is_no_event_is_dead_at_claim_with_the_reason(
    db: Database, clock: FakeClock, add_alert: AddAlert
) -> None:
    [broken] = add_alert()
    [fine] = add_alert()
    with db.transaction() as session:
        session.execute(
            update(OutboxAlert).where(OutboxAlert.id == broken.id).values(payload={"event": 1})
        )

    claimed = outbox.claim_due(db, now=clock.now(), limit=10, lease=LEASE)

    assert [alert.id for alert in claimed] == [fine.id]
    row = _row(db, broken.id)
    assert (row.status, row.attempts, row.lease_token) == ("dead", 0, None)
    assert row.last_error == (
        "unreadable payload: event: expected one of ['digest', 'follow_up', 'match'], got 1"
    )


def test_claim_keeps_channel_order_behind_a_row_in_backoff(
    db: Database, clock: FakeClock, add_alert: AddAlert
) -> None:
    first, second, other = add_alert()[0], add_alert()[0], add_alert(channels=("slack",))[0]
    [a, b, c] = outbox.claim_due(db, now=clock.now(), limit=10, lease=LEASE)
    assert [a.id, b.id, c.id] == [first.id, second.id, other.id]
    outbox.mark_failed(db, a, DeliveryError("503"), clock.now(), clock.now() + timedelta(minutes=1))
    outbox.release(db, [b, c])

    due = outbox.claim_due(db, now=clock.now(), limit=10, lease=LEASE)
    assert [row.id for row in due] == [other.id]  # "hook" waits for its first alert
    outbox.release(db, due)

    everything = outbox.claim_due(db, now=clock.now(), limit=10, lease=LEASE, ignore_backoff=True)
    assert [row.id for row in everything] == [first.id, second.id, other.id]


def test_claim_can_be_limited_to_channels(
    db: Database, clock: FakeClock, add_alert: AddAlert
) -> None:
    add_alert(channels=("hook", "slack"))
    due = outbox.claim_due(db, now=clock.now(), limit=10, lease=LEASE, channels=["slack"])
    assert [row.channel for row in due] == ["slack"]


def test_backoff_is_jittered_under_each_ceiling() -> None:
    rng = Random(3)
    for attempt, ceiling in enumerate(BACKOFF_CEILINGS, start=1):
        delays = {outbox.backoff_delay(attempt, rng) for _ in range(50)}
        assert all(timedelta(seconds=1) <= delay <= ceiling for delay in delays)
        assert len(delays) > 40
    assert outbox.backoff_delay(40, rng) <= timedelta(hours=24)


def test_retry_after_is_honoured_and_capped(clock: FakeClock) -> None:
    now = clock.now()
    later = outbox.next_attempt_time(
        1, DeliveryError("429", retry_after=7), now, max_attempts=5, rng=Random(1)
    )
    assert later == now + timedelta(seconds=7)
    huge = outbox.next_attempt_time(
        1, DeliveryError("429", retry_after=10**9), now, max_attempts=5, rng=Random(1)
    )
    assert huge == now + timedelta(hours=24)


def test_permanent_errors_and_exhausted_attempts_are_dead(clock: FakeClock) -> None:
    rng = Random(1)
    now = clock.now()
    gone = DeliveryError("410", permanent=True)
    busy = DeliveryError("503")
    assert outbox.next_attempt_time(1, gone, now, max_attempts=5, rng=rng) is None
    assert outbox.next_attempt_time(5, busy, now, max_attempts=5, rng=rng) is None
    assert outbox.next_attempt_time(4, busy, now, max_attempts=5, rng=rng) is not None


def test_requeue_dead_and_counts(db: Database, clock: FakeClock, add_alert: AddAlert) -> None:
    add_alert()
    [two] = add_alert()
    for claimed in outbox.claim_due(db, now=clock.now(), limit=10, lease=LEASE):
        error = DeliveryError("HTTP 404: no_service", permanent=True)
        outbox.mark_failed(db, claimed, error, clock.now(), None)
    assert outbox.counts(db) == {"pending": 0, "sent": 0, "dead": 2}

    assert outbox.requeue_dead(db, clock.now(), ids=[two.id]) == 1
    assert outbox.counts(db) == {"pending": 1, "sent": 0, "dead": 1}
    row = _row(db, two.id)
    assert (row.status, row.attempts, row.last_error) == ("pending", 0, "HTTP 404: no_service")
    assert outbox.requeue_dead(db, clock.now()) == 1
    assert outbox.counts(db)["pending"] == 2


def test_unconfigured_channel_rows_are_held_with_a_reason(
    db: Database, clock: FakeClock, add_alert: AddAlert
) -> None:
    [row] = add_alert(channels=("gone",))
    assert outbox.hold_unconfigured(db, ["hook"], clock.now()) == 1
    held = _row(db, row.id)
    assert held.status == "pending" and held.attempts == 0
    assert held.last_error == "channel 'gone' is not configured or not active"


def test_an_urgent_only_claim_takes_urgent_rows_past_held_ones(
    db: Database, clock: FakeClock, add_alert: AddAlert
) -> None:
    held = add_alert()[0]
    urgent = add_alert(urgent=True)[0]
    later = add_alert()[0]

    claimed = outbox.claim_due(db, now=clock.now(), limit=10, lease=LEASE, urgent_only=True)

    assert [alert.id for alert in claimed] == [urgent.id]
    assert claimed[0].urgent
    rest = outbox.claim_due(db, now=clock.now(), limit=10, lease=LEASE)
    assert [alert.id for alert in rest] == [held.id]  # the leased urgent row now blocks
    assert later.id not in {alert.id for alert in rest}


def test_a_packed_message_settles_its_alerts_in_one_go_under_their_leases(
    db: Database, clock: FakeClock, add_alert: AddAlert
) -> None:
    for _ in range(3):
        add_alert()
    first, second, third = outbox.claim_due(db, now=clock.now(), limit=10, lease=LEASE)
    # The third alert's lease ran out and another dispatcher took it over.
    with db.transaction() as session:
        session.execute(
            update(OutboxAlert).where(OutboxAlert.id == third.id).values(lease_token="other")
        )

    assert outbox.renew_all(db, [first, second, third], clock.now(), LEASE) == [True, True, False]
    assert outbox.mark_all_sent(db, [first, second, third], clock.now()) == [True, True, False]
    assert [row.status for row in _rows(db)] == ["sent", "sent", "pending"]


def test_a_packed_message_that_failed_retries_together_or_is_dead(
    db: Database, clock: FakeClock, add_alert: AddAlert
) -> None:
    add_alert()
    add_alert()
    first, second = outbox.claim_due(db, now=clock.now(), limit=10, lease=LEASE)
    retry_at = clock.now() + timedelta(seconds=30)

    settled = outbox.mark_all_failed(
        db, [first, second], DeliveryError("HTTP 429"), clock.now(), [retry_at, None]
    )

    assert settled == [True, True]
    rows = _rows(db)
    assert [(row.status, row.attempts) for row in rows] == [("pending", 1), ("dead", 1)]
    assert rows[0].next_attempt_at == retry_at
    assert {row.last_error for row in rows} == {"HTTP 429"}
    with pytest.raises(ValueError, match="one next attempt"):
        outbox.mark_all_failed(db, [first], DeliveryError("x"), clock.now(), [])


def _rows(db: Database) -> list[OutboxAlert]:
    with db.transaction() as session:
        return list(session.scalars(select(OutboxAlert).order_by(OutboxAlert.id)))
