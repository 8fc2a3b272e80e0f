"""What the web page and the API read: matches by story, activity, rates and the live
preview, over articles stored by the real ingest path (so highlights have the stored
shape), on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select

from crawler.items import ArticleItem
from monitor.archive import index_queued
from monitor.config import settings_from_mapping
from monitor.db.models import Article, Match, Source, Watchlist
from monitor.errors import InvalidRequest, QuerySyntaxError
from monitor.findings import (
    ALSO_SHOWN,
    Highlight,
    Segment,
    excerpt,
    exclusion_query,
    group_by_story,
    list_matches,
    names,
    preview_query,
    segments,
    source_rates,
    surface_form,
    watchlist_activity,
)
from monitor.ingest import Ingestor
from monitor.matching import compile_query
from monitor.sources import sync_sources
from monitor.watchlists import WatchlistBook, sync_watchlists

SEED = Path(__file__).resolve().parents[1] / "fixtures" / "seed" / "ain-al-asad-drones.txt"
PROTEST = "خرجت مسيرة احتجاجية في بغداد تنديدا بارتفاع الأسعار، وطالب المحتجون بالإصلاح."
MARCH = "نظم الطلاب مسيرة احتجاجية أمام الوزارة، ثم انطلقت مسيرة ثانية نحو البرلمان."
UNRELATED = "ارتفعت أسعار النفط في الأسواق العالمية مع تراجع المخزونات الأميركية."


def seed_article() -> tuple[str, str]:
    title, _, body = SEED.read_text(encoding="utf-8").partition("\n")
    return title.strip(), body


@dataclass
class Newsroom:
    ingestor: Ingestor
    sources: dict[str, int]

    def add(self, title: str, body: str, slug: str, source: str = "wire") -> int:
        result = self.ingestor.ingest(
            ArticleItem(
                source_id=self.sources[source],
                source_name=source,
                url=f"https://{source}.example/{slug}",
                title=title,
                body=body,
            )
        )
        assert result.article_id is not None and not result.duplicate
        return result.article_id


@pytest.fixture
def newsroom(db, clock, tmp_path) -> Newsroom:
    settings = settings_from_mapping(
        {
            "sources": [
                {"name": "wire", "url": "https://wire.example/feed"},
                {"name": "daily", "url": "https://daily.example/feed"},
                {"name": "quiet", "url": "https://quiet.example/feed"},
            ],
            "watchlists": [
                {"name": "drones", "queries": ["طائرة مسيرة"]},
                {"name": "marches", "queries": ["مسيرة"]},
                {"name": "oil", "queries": ["النفط"]},
            ],
        },
        tmp_path / "settings.toml",
        env={},
    )
    with db.transaction() as session:
        sync_sources(session, settings, clock.now())
        sync_watchlists(session, settings, clock.now())
        sources = {name: key for name, key in session.execute(select(Source.name, Source.id))}
    book = WatchlistBook(db)
    book.refresh()
    return Newsroom(Ingestor(db, settings, clock, book), sources)


def page(db, **filters):
    with db.connection() as connection:
        return list_matches(connection, **filters)


def hit_texts(runs: tuple[Segment, ...]) -> list[str]:
    return [run.text for run in runs if run.hit]


# -- text with hits -------------------------------------------------------------------


def test_segments_cut_the_text_at_merged_hits_and_lose_nothing():
    text = "أسقطت الدفاعات بطائرتين مسيرتين فوق القاعدة"
    runs = segments(text, [(15, 23), (20, 31), (50, 60)])

    assert "".join(run.text for run in runs) == text
    assert hit_texts(runs) == ["بطائرتين مسيرتين"]


def test_an_excerpt_keeps_the_hit_marked_where_the_text_was_cut():
    text = "مقدمة " * 100 + "بطائرتين  مسيرتين" + " خاتمة" * 100
    start = text.index("بطائرتين")
    runs = excerpt(text, [(start, start + len("بطائرتين  مسيرتين"))])

    assert runs[0] == Segment("…", False) and runs[-1] == Segment("…", False)
    assert hit_texts(runs) == ["بطائرتين مسيرتين"]  # whitespace folded inside the hit too
    assert len("".join(run.text for run in runs)) <= 290


def test_a_surface_form_drops_harakat_tatweel_and_extra_spaces():
    assert surface_form("مسيّـرة\n  احتجاجيةٌ") == "مسيرة احتجاجية"


# -- matches --------------------------------------------------------------------------


def test_a_match_shows_its_stored_highlights_marked_in_title_and_snippet(db, newsroom):
    title, body = seed_article()
    article = newsroom.add(title, body, "seed")

    [match] = page(db, watchlist="drones").items

    assert match.article_id == article and match.watchlist == "drones"
    assert match.source == "wire" and match.url == "https://wire.example/seed"
    assert match.created_at.tzinfo is not None and match.fetched_at.tzinfo is not None
    assert len(match.highlights) == 5
    assert all(isinstance(h, Highlight) and h.query == "طائرة مسيرة" for h in match.highlights)
    first = min(match.highlights, key=lambda h: h.start)
    assert body[first.start : first.end] == first.text  # offsets into the stored body
    assert "بطائرتين مسيرتين" in match.words
    assert hit_texts(match.snippet)[0] == surface_form(first.text)
    assert match.title_text == title
    assert match.story_id == article and match.also_reported_by == ()


def test_matches_come_newest_first_and_pages_follow_the_cursor(db, newsroom, clock):
    ids = []
    for number in range(7):
        ids.append(newsroom.add(f"مسيرة رقم {number}", PROTEST + f" رقم{number}", f"m{number}"))
        if number != 3:  # two matches stored in the same second: newest id first
            clock.advance(60)

    seen = []
    before = None
    while True:
        found = page(db, watchlist="marches", limit=3, before=before)
        seen.extend(item.article_id for item in found.items)
        assert len(found.items) <= 3
        if found.next_before is None:
            break
        assert found.next_before == found.items[-1].id
        before = found.next_before

    assert seen == list(reversed(ids))


def test_a_page_of_exactly_the_remaining_matches_says_there_is_no_next(db, newsroom, clock):
    for number in range(2):
        newsroom.add(f"مسيرة {number}", PROTEST + f" رقم{number}", f"m{number}")
        clock.advance(60)

    assert page(db, limit=2).next_before is None
    assert page(db, limit=1).next_before is not None


def test_matches_are_filtered_by_watchlist_source_and_time(db, newsroom, clock):
    title, body = seed_article()
    early = clock.now()
    newsroom.add(title, body, "seed", source="wire")
    clock.advance(timedelta(hours=2))
    newsroom.add("مسيرة في بغداد", PROTEST, "protest", source="daily")
    newsroom.add("النفط", UNRELATED, "oil", source="daily")

    def names(**filters):
        return [(item.watchlist, item.source) for item in page(db, **filters).items]

    assert names(watchlist="drones") == [("drones", "wire")]
    assert set(names(source="daily")) == {("marches", "daily"), ("oil", "daily")}
    assert ("drones", "wire") not in names(since=early + timedelta(hours=1))
    assert set(names(until=early + timedelta(hours=1))) == {
        ("drones", "wire"),
        ("marches", "wire"),  # the seed article says مسيرة too
    }
    assert names(watchlist="nobody") == []


def test_a_cursor_whose_match_is_gone_continues_from_the_next_older_one(db, newsroom, clock):
    for number in range(3):
        newsroom.add(f"مسيرة {number}", PROTEST + f" رقم{number}", f"m{number}")
        clock.advance(60)
    ids = [item.id for item in page(db).items]  # newest first
    with db.connection() as connection:
        connection.execute(delete(Match).where(Match.id == ids[1]))

    assert [item.id for item in page(db, before=ids[1]).items] == [ids[2]]
    assert page(db, before=min(ids) - 1).items == []


def test_a_page_size_out_of_bounds_is_refused(db):
    with pytest.raises(InvalidRequest, match="limit"):
        page(db, limit=0)


def test_other_outlets_of_the_story_are_listed_once_each_and_grouped(db, newsroom, clock):
    title, body = seed_article()
    first = newsroom.add(title, body, "seed", source="wire")
    clock.advance(600)
    # The same wire story as another outlet runs it: a tag in front, a footer.
    copy = newsroom.add(f"عاجل: {title}", "(وكالات) " + body + " تابعونا.", "copy", "daily")
    clock.advance(600)
    update = newsroom.add(title + " (محدث)", body + " وأضاف المصدر.", "update", "daily")

    drones = page(db, watchlist="drones").items
    assert [item.article_id for item in drones] == [update, copy, first]
    assert {item.story_id for item in drones} == {first}

    newest = drones[0]
    # Its own outlet (daily) is not "also": only wire, with its first article.
    assert [(o.source, o.url, o.articles) for o in newest.also_reported_by] == [
        ("wire", "https://wire.example/seed", 1)
    ]
    oldest = drones[-1]
    [daily] = oldest.also_reported_by
    assert (daily.source, daily.url, daily.articles) == ("daily", "https://daily.example/copy", 2)
    assert daily.fetched_at.tzinfo is not None

    [group] = group_by_story(drones)
    assert group.first.article_id == update and group.story_id == first
    assert [item.article_id for item in group.others] == [copy, first]
    assert page(db, watchlist="drones").stories == [group]


# -- activity and rates ---------------------------------------------------------------


def test_activity_counts_the_last_day_the_last_week_and_each_utc_day(db, newsroom, clock):
    now = clock.now()  # 2026-03-01 12:00 UTC
    clock.set(now - timedelta(days=9))
    newsroom.add("مسيرة قديمة", PROTEST + " قديم", "old")
    clock.set(now - timedelta(days=2, hours=1))
    newsroom.add("مسيرة أولى", PROTEST + " أول", "a")
    clock.set(now - timedelta(hours=13))  # yesterday 23:00, within the last 24 h
    newsroom.add("مسيرة ثانية", PROTEST + " ثان", "b")
    clock.set(now - timedelta(hours=1))
    newsroom.add("مسيرة ثالثة", PROTEST + " ثالث", "c")

    with db.connection() as connection:
        activity = watchlist_activity(connection, now, days=10)

    marches = activity["marches"]
    assert (marches.last_day, marches.last_week) == (2, 3)
    assert marches.per_day == (1, 0, 0, 0, 0, 0, 0, 1, 1, 1)
    assert activity["oil"].per_day == (0,) * 10 and activity["oil"].last_week == 0


def test_activity_refuses_a_window_without_days(db, clock):
    with db.connection() as connection, pytest.raises(InvalidRequest, match="days"):
        watchlist_activity(connection, clock.now(), 0)


def test_source_rates_are_articles_per_day_over_the_window(db, newsroom, clock):
    now = clock.now()
    clock.set(now - timedelta(days=9))
    newsroom.add("النفط قديما", UNRELATED + " قديم", "old", source="daily")
    for number in range(3):
        clock.set(now - timedelta(days=number, hours=1))
        newsroom.add(f"النفط {number}", UNRELATED + f" رقم{number}", f"o{number}", "wire")
    clock.set(now - timedelta(days=1))
    newsroom.add("النفط اليوم", UNRELATED + " اليوم", "today", source="daily")

    with db.connection() as connection:
        rates = source_rates(connection, now, days=2)

    assert rates == {"wire": 1.0, "daily": 0.5, "quiet": 0.0}


# -- the live preview -----------------------------------------------------------------


def test_the_preview_marks_the_dual_form_in_the_pasted_seed_article(db):
    title, body = seed_article()

    preview = preview_query(db, compile_query("طائرة مسيرة"), text=body, title=title)

    assert preview.text_hits == 5 and preview.title_hits == 0
    assert "بطائرتين مسيرتين" in hit_texts(preview.text)
    assert "".join(run.text for run in preview.text) == body
    assert preview.searched == 0 and preview.matched == 0 and preview.articles == []
    assert "بطائرتين مسيرتين" in [form.text for form in preview.forms]


def test_the_preview_finds_stored_articles_and_counts_their_forms(db, newsroom):
    title, body = seed_article()
    seed = newsroom.add(title, body, "seed")
    newsroom.add("مسيرة في بغداد", PROTEST, "protest")
    newsroom.add("النفط", UNRELATED, "oil")
    index_queued(db)

    preview = preview_query(db, compile_query("طائرة مسيرة"))

    assert (preview.searched, preview.matched) == (3, 1)
    [article] = preview.articles
    assert article.article_id == seed and article.source == "wire"
    assert hit_texts(article.snippet)[0] == "بالطائرات المسيرة"  # the first of five
    assert sum(form.count for form in preview.forms) == 5
    counts = [form.count for form in preview.forms]
    assert counts == sorted(counts, reverse=True)
    assert "بطائرتين مسيرتين" in {form.text for form in preview.forms}


def test_the_preview_sees_articles_still_queued_for_the_index(db, newsroom):
    newsroom.add("مسيرة في بغداد", PROTEST, "protest")  # not moved into the index yet

    preview = preview_query(db, compile_query("احتجاجية"))

    assert preview.matched == 1


def test_the_preview_reads_only_the_newest_articles(db, newsroom):
    older = newsroom.add("مسيرة في بغداد", PROTEST, "protest")
    newer = newsroom.add("مسيرة الطلاب", MARCH, "students")
    index_queued(db)

    preview = preview_query(db, compile_query("مسيرة"), recent=1)

    assert preview.searched == 1
    assert [article.article_id for article in preview.articles] == [newer]
    assert older not in [article.article_id for article in preview.articles]


def test_the_preview_shows_a_few_articles_but_counts_all(db, newsroom):
    for number in range(4):
        newsroom.add(f"خبر {number}", PROTEST + f" رقم{number}", f"p{number}")
    index_queued(db)

    preview = preview_query(db, compile_query("مسيرة"), show=2)

    assert preview.matched == 4 and len(preview.articles) == 2
    assert preview.articles[0].article_id > preview.articles[1].article_id


def test_each_form_carries_the_words_that_follow_it(db, newsroom):
    title, body = seed_article()
    newsroom.add(title, body, "seed")
    newsroom.add("مسيرة في بغداد", PROTEST, "protest")
    newsroom.add("مسيرة الطلاب", MARCH, "students")
    index_queued(db)

    preview = preview_query(db, compile_query("مسيرة"))

    forms = {form.text: form for form in preview.forms}
    assert forms["مسيرة"].count >= 3
    assert forms["مسيرة"].followed_by[0] == ("احتجاجية", 2)
    # "قاعدة عين الأسد." ends a sentence: a full stop is no following word.
    assert all(word != "." for form in preview.forms for word, _ in form.followed_by)


def test_a_query_the_index_cannot_narrow_is_run_on_every_recent_article(db, newsroom):
    newsroom.add("مسيرة في بغداد", PROTEST, "protest")
    newsroom.add("النفط", UNRELATED, "oil")
    index_queued(db)

    preview = preview_query(db, compile_query("مسير* -احتجاجية OR النفط"))

    assert preview.matched == 1 and preview.articles[0].title[0].text == "النفط"


# -- excluding a form -----------------------------------------------------------------


def test_excluding_a_form_with_its_following_word_keeps_the_other_sense():
    _, body = seed_article()
    narrowed = exclusion_query("مسيرة", "مسيرة احتجاجية")

    assert narrowed == '(مسيرة) -"مسيرة احتجاجية"'
    compiled = compile_query(narrowed)
    assert compiled.search(PROTEST) == []
    assert compiled.search(body) != []


def test_an_exclusion_strips_quotes_and_marks_from_the_form():
    assert exclusion_query(" طائرة مسيرة ", '"مسيّرة" «احتجاجية»') == (
        '(طائرة مسيرة) -"مسيرة احتجاجية"'
    )


def test_an_exclusion_of_nothing_or_of_a_broken_query_is_refused():
    with pytest.raises(InvalidRequest):
        exclusion_query("مسيرة", ' "" ')
    with pytest.raises(QuerySyntaxError):
        exclusion_query("طائرة OR", "مسيرة")


# -- rows written directly: a big story, the filters' names --------------------------


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
