from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import select

from monitor.db.models import Source
from monitor.db.session import Database


def _source(created: datetime) -> Source:
    return Source(
        name="s",
        url="https://example.com/feed",
        interval_seconds=600,
        next_poll_at=created,
        created_at=created,
    )


def test_migrations_are_idempotent(db: Database) -> None:
    db.migrate()
    with db.transaction() as session:
        assert session.scalars(select(Source)).all() == []


def test_timestamps_come_back_aware_in_utc(db: Database) -> None:
    riyadh = timezone(timedelta(hours=3))
    written = datetime(2026, 1, 4, 15, 30, tzinfo=riyadh)
    with db.transaction() as session:
        session.add(_source(written))
    with db.transaction() as session:
        stored = session.scalars(select(Source)).one()
    assert stored.next_poll_at == written
    assert stored.next_poll_at.tzinfo is not None
    assert stored.next_poll_at.utcoffset() == timedelta(0)
    assert stored.next_poll_at.astimezone(UTC).hour == 12


def test_migrations_build_exactly_the_models(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from monitor.db.models import SEARCH_TABLE, Base

    def mapped(name, type_, parent_names):
        # The archive's search table differs per dialect (FTS5 / tsvector): raw SQL.
        return not (type_ == "table" and name.startswith(SEARCH_TABLE))

    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": mapped})
        differences = compare_metadata(context, Base.metadata)

    assert differences == []


def test_sqlite_runs_in_wal_mode_with_rare_checkpoints_and_a_bounded_wal(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'rasid.db'}")
    try:
        with database.connection() as connection:
            settings = {
                pragma: connection.exec_driver_sql(f"PRAGMA {pragma}").scalar_one()
                for pragma in (
                    "journal_mode",
                    "synchronous",
                    "wal_autocheckpoint",
                    "journal_size_limit",
                    "foreign_keys",
                )
            }
    finally:
        database.dispose()

    assert settings == {
        "journal_mode": "wal",
        "synchronous": 1,  # NORMAL: survives kill -9
        "wal_autocheckpoint": 10_000,
        "journal_size_limit": 64 * 1024 * 1024,
        "foreign_keys": 1,
    }
