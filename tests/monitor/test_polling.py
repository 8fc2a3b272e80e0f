"""Adaptive intervals, backoff, Retry-After and pausing, under a fake clock."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from crawler.sink import DueSource, PollOutcome
from monitor.config import Settings, SourceSettings
from monitor.db.models import Source
from monitor.polling import PollingPolicy, jittered
from monitor.sources import (
    UnchangedPoll,
    claim_due,
    record_poll,
    record_unchanged,
    release_claims,
    set_paused,
    sync_sources,
)

POLICY = PollingPolicy(
    min_interval=timedelta(minutes=2),
    max_interval=timedelta(hours=1),
    backoff_max=timedelta(hours=6),
    pause_after_failures=3,
)


@pytest.fixture
def source(db, clock):
    settings = Settings(sources=[SourceSettings(name="s", url="https://news.example/feed")])
    with db.transaction() as session:
        sync_sources(session, settings, clock.now())
    with db.transaction() as session:
        return session.query(Source).one().id


def poll(db, clock, source_id, outcome, seed=1):
    with db.transaction() as session:
        row = session.get(Source, source_id)
        due = DueSource(
            id=row.id,
            name=row.name,
            url=row.url,
            interval_seconds=row.current_interval_seconds or row.interval_seconds,
            interval_pinned=row.interval_pinned,
        )
    record_poll(db, due, outcome, clock.now(), policy=POLICY, rng=random.Random(seed))
    with db.transaction() as session:
        row = session.get(Source, source_id)
        session.expunge(row)
        return row


def gap(row, clock) -> float:
    return (row.next_poll_at - clock.now()).total_seconds()


def test_a_busy_source_speeds_up_to_the_minimum(db, clock, source):
    for _ in range(10):
        row = poll(db, clock, source, PollOutcome("ok", new_entries=3))
    assert row.current_interval_seconds == 120
    assert 108 <= gap(row, clock) <= 132  # jitter: +-10%


def test_a_quiet_source_slows_down_to_the_maximum(db, clock, source):
    intervals = []
    for _ in range(10):
        row = poll(db, clock, source, PollOutcome("not_modified"))
        intervals.append(row.current_interval_seconds)
    assert intervals[0] == 900  # 10 min default x 1.5
    assert intervals == sorted(intervals) and intervals[-1] == 3600


def test_jitter_spreads_sources_apart():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    gaps = {
        (jittered(now, POLICY.max_interval, random.Random(seed)) - now).total_seconds()
        for seed in range(20)
    }
    assert len(gaps) > 10 and min(gaps) >= 3240 and max(gaps) <= 3960


def test_a_pinned_interval_is_kept(db, clock):
    settings = Settings(
        sources=[SourceSettings(name="p", url="https://news.example/f", interval="5m")]
    )
    with db.transaction() as session:
        sync_sources(session, settings, clock.now())
        source_id = session.query(Source).one().id
    row = poll(db, clock, source_id, PollOutcome("ok", new_entries=5))
    assert row.current_interval_seconds == 300


def test_errors_back_off_then_pause_and_resume(db, clock, source):
    first = poll(db, clock, source, PollOutcome("error", error="HTTP 500"))
    second = poll(db, clock, source, PollOutcome("error", error="HTTP 500"))
    assert gap(second, clock) == 2 * gap(first, clock) == 1200
    assert first.paused_at is None

    third = poll(db, clock, source, PollOutcome("error", error="HTTP 500"))
    assert third.paused_at == clock.now()
    assert "3 consecutive failures" in third.paused_reason
    clock.advance(timedelta(days=2))
    assert claim_due(db, clock.now(), lease=timedelta(minutes=5)) == []

    with db.transaction() as session:
        set_paused(session, "s", False, clock.now())
    due = claim_due(db, clock.now(), lease=timedelta(minutes=5))
    assert [d.name for d in due] == ["s"]


def test_retry_after_wins_over_a_shorter_backoff_but_is_capped(db, clock, source):
    row = poll(db, clock, source, PollOutcome("error", error="HTTP 429", retry_after=7200))
    assert gap(row, clock) == 7200
    assert "honoured" in row.last_error
    row = poll(db, clock, source, PollOutcome("error", error="HTTP 429", retry_after=10**7))
    assert gap(row, clock) == 86400
    assert "Retry-After 1 day, 0:00:00 (capped) honoured" in row.last_error


def _claims(db) -> dict[str, tuple[datetime | None, str | None]]:
    with db.transaction() as session:
        return {
            row.name: (row.claimed_until, row.claimed_by) for row in session.query(Source).all()
        }


def test_a_claim_names_its_instance_until_the_poll_is_recorded(db, clock):
    names = ["a", "b", "c"]
    settings = Settings(
        sources=[SourceSettings(name=name, url=f"https://news.example/{name}") for name in names]
    )
    with db.transaction() as session:
        sync_sources(session, settings, clock.now())
    lease = timedelta(minutes=5)

    claimed = claim_due(db, clock.now(), lease=lease, token="instance-1")

    assert [due.name for due in claimed] == names
    until = clock.now() + lease
    assert _claims(db) == {name: (until, "instance-1") for name in names}
    assert claim_due(db, clock.now(), lease=lease, token="instance-2") == []
    a, b, c = claimed
    record_poll(db, a, PollOutcome("ok"), clock.now(), policy=POLICY, rng=random.Random(1))
    record_poll(
        db,
        b,
        PollOutcome("error", error="HTTP 500"),
        clock.now(),
        policy=POLICY,
        rng=random.Random(1),
    )
    release_claims(db, [c.id])
    assert _claims(db) == {name: (None, None) for name in names}


def test_unchanged_polls_are_recorded_together(db, clock):
    names = [f"s{n}" for n in range(5)]
    settings = Settings(
        sources=[SourceSettings(name=name, url=f"https://news.example/{name}") for name in names]
    )
    with db.transaction() as session:
        sync_sources(session, settings, clock.now())
    claimed = claim_due(db, clock.now(), lease=timedelta(minutes=5), token="instance-1")
    polls = [
        UnchangedPoll(
            due,
            PollOutcome("not_modified", etag=f'"e{n}"', body_hash=f"{n:064x}"),
            clock.now() + timedelta(seconds=n),
        )
        for n, due in enumerate(claimed)
    ]

    record_unchanged(db, polls, policy=POLICY, rng=random.Random(1))

    with db.transaction() as session:
        rows = session.query(Source).order_by(Source.name).all()
        for n, row in enumerate(rows):
            assert (row.claimed_until, row.claimed_by) == (None, None)
            assert row.last_polled_at == clock.now() + timedelta(seconds=n)
            assert (row.etag, row.body_hash) == (f'"e{n}"', f"{n:064x}")
            assert (row.last_status, row.current_interval_seconds) == ("not_modified", 900)
            assert row.next_poll_at > row.last_polled_at + timedelta(minutes=13)


def _settled_interval(publish_every: timedelta, polls: int = 400) -> float:
    """Simulate a source publishing like clockwork; the geometric mean of the intervals
    of the last half of the polls, in minutes (the policy alone, a seeded jitter)."""
    rng = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    moment, interval, logs = start, timedelta(minutes=10), []
    for poll_number in range(polls):
        following = jittered(moment, interval, rng)
        published = (following - start) // publish_every - (moment - start) // publish_every
        moment = following
        interval = POLICY.next_interval(interval, published, pinned=False)
        if poll_number >= polls // 2:
            logs.append(math.log(interval.total_seconds() / 60))
    return math.exp(sum(logs) / len(logs))


def test_the_interval_follows_the_publishing_rate():
    busy = _settled_interval(timedelta(minutes=4))
    hourly_twice = _settled_interval(timedelta(minutes=30))
    quiet = _settled_interval(timedelta(hours=6))
    # Halving on news and x1.5 on none settles where ~37% of polls find something:
    # about a third of the gap between publications, within the bounds.
    assert 2 <= busy < 3
    assert 7 < hourly_twice < 17
    assert 45 < quiet <= 60  # one halving per publication, then back up to the cap
