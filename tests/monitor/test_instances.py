"""Instances: heartbeats, what each holds, taking over from one that died, and the
advisory locks that make work run once (on SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from monitor import instances
from monitor.db.locks import hold_for_transaction, run_alone
from monitor.db.models import FrontierEntry, Instance, Source
from monitor.db.session import Database


def _source(db: Database, clock, name: str = "site") -> int:
    with db.transaction() as session:
        source = Source(
            name=name,
            url=f"https://example.com/{name}.xml",
            interval_seconds=600,
            next_poll_at=clock.now(),
            created_at=clock.now(),
        )
        session.add(source)
        session.flush()
        return source.id


def _entry(db: Database, clock, source_id: int, token: str) -> None:
    with db.transaction() as session:
        session.add(
            FrontierEntry(
                source_id=source_id,
                entry_key=f"key-{token}",
                url="https://example.com/a",
                feed_url="https://example.com/site.xml",
                discovered_at=clock.now(),
                claimed_until=clock.now() + timedelta(minutes=5),
                lease_token=token,
            )
        )


def test_an_instance_is_listed_with_what_it_holds_until_it_retires(db: Database, clock):
    source_id = _source(db, clock)
    instances.register(db, "a" * 36, clock.now())
    with db.transaction() as session:
        session.execute(
            update(Source)
            .where(Source.id == source_id)
            .values(claimed_by="a" * 36, claimed_until=clock.now() + timedelta(minutes=2))
        )
    _entry(db, clock, source_id, "a" * 36)
    instances.beat(db, "a" * 36, clock.now(), alerts_in_flight=2)

    with db.connection() as connection:
        [view] = instances.alive(connection, clock.now())
    assert (view.alive, view.sources, view.pages, view.alerts) == (True, 1, 1, 2)

    instances.retire(db, "a" * 36)
    with db.connection() as connection:
        assert instances.alive(connection, clock.now()) == []


def test_the_claims_of_an_instance_that_stopped_beating_are_freed_by_the_next_beat(
    db: Database, clock
):
    source_id = _source(db, clock)
    instances.register(db, "dead", clock.now())
    instances.register(db, "live", clock.now())
    with db.transaction() as session:
        session.execute(
            update(Source)
            .where(Source.id == source_id)
            .values(claimed_by="dead", claimed_until=clock.now() + timedelta(minutes=2))
        )
    _entry(db, clock, source_id, "dead")

    # Two beats missed: not dead yet, its claims stay.
    clock.advance(instances.HEARTBEAT * 2)
    assert instances.beat(db, "live", clock.now()) == []
    clock.advance(instances.HEARTBEAT * 2)
    assert instances.beat(db, "live", clock.now()) == ["dead"]

    with db.transaction() as session:
        source = session.get(Source, source_id)
        assert source is not None
        assert (source.claimed_by, source.claimed_until) == (None, None)
        entry = session.scalars(select(FrontierEntry)).one()
        assert (entry.lease_token, entry.claimed_until) == (None, None)
    with db.connection() as connection:
        views = {view.token: view.alive for view in instances.alive(connection, clock.now())}
    assert views == {"live": True, "dead": False}

    # Gone for long, its row is forgotten.
    clock.advance(instances.FORGET_AFTER)
    instances.beat(db, "live", clock.now())
    with db.transaction() as session:
        assert session.scalars(select(Instance.token)).all() == ["live"]


def test_a_beat_writes_the_row_again_when_it_went_missing(db: Database, clock):
    instances.beat(db, "lost", clock.now())
    with db.connection() as connection:
        assert [view.token for view in instances.alive(connection, clock.now())] == ["lost"]


@pytest.mark.postgres
def test_work_that_must_run_once_runs_in_one_instance_at_a_time(postgres_url: str):
    first, second = Database(postgres_url), Database(postgres_url)
    try:
        with run_alone(first, "digests") as mine:
            assert mine
            with run_alone(second, "digests") as theirs:
                assert not theirs
            with run_alone(second, "retention") as other_work:
                assert other_work
        with run_alone(second, "digests") as theirs:
            assert theirs
    finally:
        first.dispose()
        second.dispose()


@pytest.mark.postgres
def test_a_transaction_lock_makes_two_instances_take_turns(postgres_url: str):
    first, second = Database(postgres_url), Database(postgres_url)
    order: list[str] = []
    holding = threading.Event()

    def other() -> None:
        holding.wait(10)
        with second.connection() as connection:
            hold_for_transaction(connection, "stories")
            order.append("second")

    thread = threading.Thread(target=other)
    thread.start()
    try:
        with first.connection() as connection:
            hold_for_transaction(connection, "stories")
            holding.set()
            thread.join(0.5)  # the other waits for this transaction to end
            order.append("first")
        thread.join(10)
    finally:
        first.dispose()
        second.dispose()
    assert order == ["first", "second"]


def test_on_sqlite_the_locks_say_go_ahead(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'rasid.db'}")
    try:
        db.migrate()
        with run_alone(db, "digests") as mine, run_alone(db, "digests") as again:
            assert mine and again
        with db.connection() as connection:
            hold_for_transaction(connection, "stories")
    finally:
        db.dispose()
