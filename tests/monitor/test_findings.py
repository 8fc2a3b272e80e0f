"""The web's read views over a real database: a story's outlets are listed once each and
capped, pages follow their cursor, activity counts by day."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert

from monitor.db.models import Article, Match, Source, Watchlist
from monitor.findings import ALSO_SHOWN, list_matches, names, watchlist_activity


def _fill(db, clock, outlets: int):
    now = clock.now()
    with db.connection() as connection:
        for number in range(outlets):
            connection.execute(
                insert(Source).values(
                    id=number + 1,
                    name=f"s{number:02d}",
                    url=f"https://s{number}.example/feed",
                    interval_seconds=600,
                    next_poll_at=now,
                    created_at=now,
                )
            )
        connection.execute(
            insert(Watchlist).values(id=1, name="drones", created_at=now, updated_at=now)
        )
        for number in range(outlets):
            connection.execute(
                insert(Article).values(
                    id=number + 1,
                    source_id=number + 1,
                    url=f"https://s{number}.example/a",
                    title=f"طائرة مسيرة {number}",
                    body="أسقطت الدفاعات طائرة مسيرة.",
                    content_hash=f"{number:064d}",
                    fetched_at=now + timedelta(minutes=number),
                    story_id=None if number == 0 else 1,
                )
            )
        # A second article from the first outlet: still one outlet.
        connection.execute(
            insert(Article).values(
                id=outlets + 1,
                source_id=1,
                url="https://s0.example/b",
                title="تحديث",
                body="",
                content_hash="f" * 64,
                fetched_at=now + timedelta(hours=1),
                story_id=1,
            )
        )
        connection.execute(
            insert(Match).values(
                id=1,
                article_id=1,
                watchlist_id=1,
                created_at=now,
                alerted=True,
                highlights=[
                    {
                        "query": "طائرة مسيرة",
                        "text": "طائرة مسيرة",
                        "field": "title",
                        "start": 0,
                        "end": 11,
                    }
                ],
            )
        )


def test_a_big_story_lists_each_outlet_once_and_counts_the_rest(db, clock):
    _fill(db, clock, outlets=15)
    with db.connection() as connection:
        [view] = list_matches(connection).items
    assert len(view.also_reported_by) == ALSO_SHOWN
    # 14 other outlets, the first ten shown in the order they carried it; s00 is the
    # match's own outlet, its later update no other outlet.
    assert view.also_more == 14 - ALSO_SHOWN
    assert [o.source for o in view.also_reported_by] == [f"s{n:02d}" for n in range(1, 11)]
    assert next((run.text, run.hit) for run in view.title) == ("طائرة مسيرة", True)


def test_filters_offer_names_and_activity_counts_by_day(db, clock):
    _fill(db, clock, outlets=3)
    with db.connection() as connection:
        watchlists, sources = names(connection)
        activity = watchlist_activity(connection, clock.now() + timedelta(days=1))
    assert watchlists == ["drones"] and sources == ["s00", "s01", "s02"]
    assert activity["drones"].last_week == 1 and activity["drones"].last_day == 1
    assert activity["drones"].per_day[-2:] == (1, 0)
