from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import inspect, select

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


def test_the_head_read_from_the_migration_files_is_alembics_head():
    from alembic.script import ScriptDirectory

    from monitor.db.session import alembic_config, head_revision

    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_a_database_behind_the_newest_migration_is_brought_up_to_it(db: Database) -> None:
    from alembic import command

    from monitor.db.session import alembic_config, head_revision, schema_revision

    with db.connection() as connection:
        tables = set(inspect(connection).get_table_names())
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "-1")
    with db.connection() as connection:
        assert schema_revision(connection) != head_revision()

    db.migrate()

    with db.connection() as connection:
        assert schema_revision(connection) == head_revision()
        assert set(inspect(connection).get_table_names()) == tables


def test_stored_story_signatures_are_made_again_by_the_new_scheme(db: Database) -> None:
    from alembic import command

    from monitor.db.models import Article
    from monitor.db.session import alembic_config
    from monitor.stories import fingerprint, to_bytes
    from tests.support.newsroom import seed_article

    with db.connection() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0016")

    title, body = seed_article()
    now = datetime(2026, 3, 1, tzinfo=UTC)
    with db.transaction() as session:
        for number, minhash in enumerate([b"\x01" * 512, None]):
            session.add(
                Article(
                    url=f"https://news.example/{number}",
                    title=title,
                    body=body,
                    content_hash=f"hash-{number}",
                    fetched_at=now,
                    minhash=minhash,
                )
            )
    db.migrate()

    with db.transaction() as session:
        stored = session.scalars(select(Article.minhash).order_by(Article.id)).all()
    signature = fingerprint(title, body)
    assert signature is not None
    assert stored == [to_bytes(signature), None]
