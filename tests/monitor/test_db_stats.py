"""`rasid db stats` and `rasid db prune`: table sizes, rows and growth per day on SQLite
and PostgreSQL, and the commands' output."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from monitor.cli import cli
from monitor.db.models import Article
from monitor.db.stats import GROWTH_DAYS, database_stats
from monitor.retention import prune
from tests.support.newsroom import newsroom_settings, open_newsroom, other_story

DAY = timedelta(days=1)


def _newsroom_with_history(db, clock, tmp_path, days=10):
    """Two articles a day for ``days`` days, each matching the drones watchlist."""
    watchlist = {"name": "drones", "queries": ["طائرة مسيرة"], "channels": ["desk"]}
    room = open_newsroom(db, clock, newsroom_settings(tmp_path, [watchlist]))
    for number in range(2 * days):
        room.publish(("wire", "daily")[number % 2], *other_story(number))
        clock.advance(DAY / 2)
    return room


def test_stats_count_every_table_and_measure_its_bytes(db, clock, tmp_path):
    _newsroom_with_history(db, clock, tmp_path)

    stats = database_stats(db, clock.now())
    tables = {table.name: table for table in stats.tables}

    assert tables["articles"].rows == 20 and tables["matches"].rows == 20
    assert tables["alert_outbox"].rows >= 1 and tables["sources"].rows == 5
    assert tables["dedup_keys"].rows >= 20
    assert "article_terms" in tables
    assert all(table.bytes and table.bytes > 0 for table in stats.tables)
    assert stats.tables[0].bytes == max(table.bytes for table in stats.tables)
    assert stats.size_bytes >= tables["articles"].bytes
    if db.is_sqlite:
        assert stats.sizes == "dbstat" and stats.free_bytes is not None
    else:
        assert stats.sizes == "pg_total_relation_size"
        assert tables["articles"].dead_rows is not None


def test_growth_is_the_rows_of_the_last_seven_days_per_day(db, clock, tmp_path):
    _newsroom_with_history(db, clock, tmp_path, days=10)

    stats = database_stats(db, clock.now())
    tables = {table.name: table for table in stats.tables}

    # Two articles a day: the last seven days hold 14 of the 20.
    assert tables["articles"].rows_per_day == 14 / GROWTH_DAYS
    assert tables["matches"].rows_per_day == 14 / GROWTH_DAYS
    keys_per_article = tables["dedup_keys"].rows / 20
    assert tables["dedup_keys"].rows_per_day == 2 * keys_per_article
    assert tables["sources"].rows_per_day is None  # rows that say nothing of time
    assert stats.bytes_per_day is not None and stats.bytes_per_day > 0
    assert stats.rows_per_day == sum(t.rows_per_day or 0 for t in stats.tables)


def test_pruned_bodies_do_not_hide_how_much_a_new_article_weighs(db, clock, tmp_path):
    _newsroom_with_history(db, clock, tmp_path, days=10)
    before = {t.name: t.bytes_per_day for t in database_stats(db, clock.now()).tables}
    with db.connection() as connection:  # the oldest articles, as body retention leaves them
        connection.execute(
            update(Article)
            .where(Article.fetched_at < clock.now() - 7 * DAY)
            .values(body="", summary="", minhash=None)
        )

    after = {t.name: t for t in database_stats(db, clock.now()).tables}

    # The bytes per row of the table fall, the weight of recent articles makes up for it.
    assert after["articles"].bytes_per_day >= 0.5 * before["articles"]


def test_sqlite_without_dbstat_shares_the_used_pages_out_by_estimate(tmp_path, clock):
    from monitor.db.session import Database

    db = Database(f"sqlite:///{tmp_path / 'rasid.db'}")
    db.migrate()
    try:
        _newsroom_with_history(db, clock, tmp_path)
        stats = database_stats(db, clock.now(), use_dbstat=False)
    finally:
        db.dispose()

    tables = {table.name: table for table in stats.tables}
    assert stats.sizes == "estimate"
    assert sum(table.bytes for table in stats.tables) == stats.size_bytes - stats.free_bytes
    assert tables["articles"].bytes > tables["sources"].bytes > 0


# -- the commands ------------------------------------------------------------------------


def _config(tmp_path: Path, database_url: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(
        f'[database]\nurl = "{database_url}"\n[retention]\nmatches = "30d"\n', encoding="utf-8"
    )
    return path


def _invoke(config: Path, *args: str):
    return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)


def test_db_stats_prints_a_table_and_json(tmp_path, database_url):
    config = _config(tmp_path, database_url)

    shown = _invoke(config, "db", "stats")
    as_json = _invoke(config, "db", "stats", "--json")

    assert shown.exit_code == 0, shown.output
    engine = "SQLite" if database_url.startswith("sqlite") else "PostgreSQL"
    assert shown.output.startswith(f"{engine} database: ")
    assert "│ articles " in shown.output and "rows/day" in shown.output
    assert "growth over the last 7 days: 0.0 rows a day" in shown.output
    document = json.loads(as_json.output)
    assert document["engine"] == engine.lower()
    assert {table["name"] for table in document["tables"]} >= {"articles", "matches"}


def test_db_prune_dry_run_then_prune_print_what_they_counted(tmp_path, database_url):
    config = _config(tmp_path, database_url)

    dry = _invoke(config, "db", "prune", "--dry-run")
    real = _invoke(config, "db", "prune", "--json")

    assert dry.exit_code == 0, dry.output
    assert "to prune" in dry.output and "would prune 0 rows" in dry.output
    assert "│ matches                 │      30d │        0 │" in dry.output
    report = json.loads(real.output)
    assert report["dry_run"] is False and report["matches"] == 0


def _count_pending(db) -> int:
    from sqlalchemy import func, select

    from monitor.db.models import OutboxAlert

    with db.connection() as connection:
        counted = select(func.count()).where(OutboxAlert.status == "pending")
        return connection.execute(counted).scalar_one()


def test_default_retention_prunes_old_bodies_and_keeps_matches_with_pending_alerts(
    db, clock, tmp_path
):
    room = _newsroom_with_history(db, clock, tmp_path, days=10)
    clock.advance(400 * DAY)

    report = prune(db, room.settings, clock.now())

    pending = _count_pending(db)
    assert report.article_bodies == 20  # default [retention]: bodies after 90 days
    # Matches after 365 days, but not those whose alert is still pending.
    assert pending > 0 and report.matches == 20 - pending


def test_a_prune_while_another_instance_prunes_is_refused_on_postgresql(tmp_path, database_url):
    from monitor.app import App
    from monitor.config import load_settings
    from monitor.db.locks import run_alone
    from monitor.db.session import Database
    from monitor.errors import Conflict

    other = Database(database_url)
    try:
        with App(load_settings(_config(tmp_path, database_url), env={})) as app:
            with run_alone(other, "retention") as mine:
                assert mine
                if database_url.startswith("sqlite"):
                    # One instance per SQLite file: there is no other to wait for.
                    assert app.prune().total == 0
                else:
                    with pytest.raises(Conflict, match="another instance is pruning"):
                        app.prune()
                assert app.prune(dry_run=True).total == 0  # counting takes no lock
            assert app.prune().total == 0
    finally:
        other.dispose()
