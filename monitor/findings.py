"""What rasid found, as the web page and the API read it: matches grouped by story, each
watchlist's activity, sources' rates, and the live preview of a query being edited.

Read-only views over the database, returned as frozen dataclasses. Texts come with
their hits as :class:`Segment` runs (text, hit or not), so a front door escapes each
run and marks the hits without ever splicing markup into feed text.

Guarantees:

* A page of matches costs a fixed number of queries, whatever its size: one for the
  page, one for the other outlets of its stories.
* Pagination is by keyset (``before`` = the last id shown), so a page deep in the
  history costs what the first does, and a match arriving meanwhile shifts nothing.
* The preview reads only the newest ``recent`` articles, and of those only the ones the
  archive's full-text index says could match, before running the real matcher on them.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, or_, select
from sqlalchemy import text as sql_text

from monitor.db.models import Article, Match, Source, Watchlist
from monitor.db.session import Database
from monitor.matching import CompiledQuery, Hit, compile_query

SNIPPET = 280
# Outlets listed under a match: a story carried by 300 sites would otherwise make each
# page (and each API answer) 300 times longer.
ALSO_SHOWN = 10
_SPACE = re.compile(r"\s+")
_MARKS = re.compile("[\u064b-\u0652\u0670\u0640]")  # harakat, dagger alef, tatweel
_NEXT_WORD = re.compile(r"\s*([^\s.,،؛:!?؟«»\"'()\[\]]+)")


@dataclass(frozen=True)
class Segment:
    """A run of text, and whether it is a hit."""

    text: str
    hit: bool


@dataclass(frozen=True)
class Outlet:
    """Another article of the same story: who carried it, where."""

    source: str | None
    url: str | None
    title: str
    fetched_at: datetime


@dataclass(frozen=True)
class MatchView:
    id: int
    watchlist: str
    article_id: int
    title: tuple[Segment, ...]
    snippet: tuple[Segment, ...]
    url: str | None
    source: str | None
    published_at: datetime | None
    fetched_at: datetime
    created_at: datetime
    alerted: bool
    words: tuple[str, ...]  # the matched words, as written
    story_id: int
    also_reported_by: tuple[Outlet, ...]  # one per outlet, at most ALSO_SHOWN
    also_more: int = 0  # outlets of the story beyond those

    @property
    def title_text(self) -> str:
        return "".join(segment.text for segment in self.title)


@dataclass(frozen=True)
class MatchPage:
    items: list[MatchView]
    next_before: int | None  # pass as ``before`` for the next page; None: no more


@dataclass(frozen=True)
class StoryGroup:
    """Matches of one page that belong to one story: the newest, then the others."""

    first: MatchView
    others: tuple[MatchView, ...]


@dataclass(frozen=True)
class WatchlistActivity:
    last_day: int
    last_week: int
    per_day: tuple[int, ...]  # oldest first, the last is today (UTC)


@dataclass(frozen=True)
class SurfaceForm:
    """A form a query matched, how often, and the words that most often follow it
    (so that "مسيرة احتجاجية" shows among a drone query's hits, ready to exclude)."""

    text: str
    count: int
    followed_by: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class PreviewArticle:
    article_id: int
    title: tuple[Segment, ...]
    snippet: tuple[Segment, ...]
    url: str | None
    source: str | None
    fetched_at: datetime


@dataclass(frozen=True)
class Preview:
    query: str
    text: tuple[Segment, ...]  # the pasted text with its hits
    text_hits: int
    searched: int  # how many recent articles were looked at
    matched: int  # how many of them match
    articles: list[PreviewArticle]  # the newest matching ones
    forms: list[SurfaceForm]


# -- text with hits -------------------------------------------------------------------


def segments(text: str, spans: Iterable[tuple[int, int]]) -> tuple[Segment, ...]:
    """``text`` cut into runs at the (start, end) spans, overlapping spans merged."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        start, end = max(0, start), min(len(text), end)
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    runs: list[Segment] = []
    at = 0
    for start, end in merged:
        if start > at:
            runs.append(Segment(text[at:start], False))
        runs.append(Segment(text[start:end], True))
        at = end
    if at < len(text):
        runs.append(Segment(text[at:], False))
    return tuple(runs)


def excerpt(
    text: str, spans: Sequence[tuple[int, int]], length: int = SNIPPET
) -> tuple[Segment, ...]:
    """About ``length`` characters around the first span, whitespace folded, with "…"
    where text was left out, and every span inside marked."""
    if not spans:
        folded = _SPACE.sub(" ", text).strip()
        cut = folded[:length]
        return (Segment(cut + ("…" if len(folded) > length else ""), False),) if cut else ()
    first = min(start for start, _ in spans)
    start = max(0, first - length // 3)
    if start > 0:
        space = text.find(" ", start, first)
        start = space + 1 if space >= 0 else start
    end = min(len(text), start + length)
    if end < len(text):
        space = text.rfind(" ", first, end)
        end = space if space > first else end
    inside = [
        (max(s, start) - start, min(e, end) - start) for s, e in spans if s < end and e > start
    ]
    runs = list(segments(text[start:end], inside))
    shown = [Segment(_SPACE.sub(" ", run.text), run.hit) for run in runs]
    if start > 0:
        shown.insert(0, Segment("…", False))
    if end < len(text):
        shown.append(Segment("…", False))
    return tuple(shown)


def _spans(highlights: Sequence[dict[str, object]], field: str) -> list[tuple[int, int]]:
    spans = []
    for highlight in highlights:
        start, end = highlight.get("start"), highlight.get("end")
        if highlight.get("field") == field and isinstance(start, int) and isinstance(end, int):
            spans.append((start, end))
    return spans


# -- matches --------------------------------------------------------------------------


def list_matches(
    connection: Connection,
    *,
    watchlist: str | None = None,
    source: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    before: int | None = None,
) -> MatchPage:
    """Matches newest first, with their highlights and their stories' other outlets."""
    limit = max(1, min(limit, 500))
    statement = (
        select(
            Match.id,
            Watchlist.name,
            Article.id,
            Article.title,
            Article.body,
            Article.url,
            Source.name,
            Article.published_at,
            Article.fetched_at,
            Match.created_at,
            Match.alerted,
            Match.highlights,
            func.coalesce(Article.story_id, Article.id),
        )
        .join(Article, Article.id == Match.article_id)
        .join(Watchlist, Watchlist.id == Match.watchlist_id)
        .outerjoin(Source, Source.id == Article.source_id)
        .order_by(Match.id.desc())
        .limit(limit + 1)
    )
    if watchlist is not None:
        statement = statement.where(Watchlist.name == watchlist)
    if source is not None:
        statement = statement.where(Source.name == source)
    if since is not None:
        statement = statement.where(Match.created_at >= since)
    if until is not None:
        statement = statement.where(Match.created_at < until)
    if before is not None:
        statement = statement.where(Match.id < before)
    # Plain tuples: thirteen columns are past what SQLAlchemy's Row types spell out.
    rows: list[tuple[Any, ...]] = [tuple(row) for row in connection.execute(statement)]
    more = len(rows) > limit
    rows = rows[:limit]
    others = _outlets(connection, {(row[12], row[2]) for row in rows})
    items = []
    for (
        match_id,
        watchlist_name,
        article_id,
        title,
        body,
        url,
        source_name,
        published_at,
        fetched_at,
        created_at,
        alerted,
        highlights,
        story_id,
    ) in rows:
        highlights = highlights or []
        outlets = _others(others.get(story_id, []), article_id, source_name)
        items.append(
            MatchView(
                id=match_id,
                watchlist=watchlist_name,
                article_id=article_id,
                title=segments(title, _spans(highlights, "title")),
                snippet=excerpt(body, _spans(highlights, "body")),
                url=url or None,
                source=source_name,
                published_at=published_at,
                fetched_at=fetched_at,
                created_at=created_at,
                alerted=alerted,
                words=tuple(dict.fromkeys(str(h.get("text", "")) for h in highlights)),
                story_id=story_id,
                also_reported_by=outlets[:ALSO_SHOWN],
                also_more=max(0, len(outlets) - ALSO_SHOWN),
            )
        )
    return MatchPage(items, items[-1].id if more and items else None)


def _outlets(
    connection: Connection, stories: set[tuple[int, int]]
) -> dict[int, list[tuple[int, Outlet]]]:
    """Every article of these stories, by story, oldest first."""
    ids = {story for story, _ in stories}
    if not ids:
        return {}
    story = func.coalesce(Article.story_id, Article.id)
    rows = connection.execute(
        select(story, Article.id, Source.name, Article.url, Article.title, Article.fetched_at)
        .outerjoin(Source, Source.id == Article.source_id)
        .where(or_(Article.story_id.in_(ids), Article.id.in_(ids)))
        .order_by(Article.fetched_at)
    )
    found: dict[int, list[tuple[int, Outlet]]] = defaultdict(list)
    for story_id, article_id, source, url, title, fetched in rows:
        found[story_id].append((article_id, Outlet(source, url or None, title, fetched)))
    return found


def _others(
    story: list[tuple[int, Outlet]], article_id: int, source: str | None
) -> tuple[Outlet, ...]:
    """The story's other outlets: each source once (its first article), not the
    match's own source (its update of the story is no other outlet)."""
    seen: set[str | None] = {source}
    found = []
    for other_id, outlet in story:
        if other_id == article_id or outlet.source in seen:
            continue
        seen.add(outlet.source)
        found.append(outlet)
    return tuple(found)


def group_by_story(items: Sequence[MatchView]) -> list[StoryGroup]:
    """The page's matches, one group per story, in the order of each story's newest."""
    groups: dict[int, list[MatchView]] = {}
    for item in items:
        groups.setdefault(item.story_id, []).append(item)
    return [StoryGroup(members[0], tuple(members[1:])) for members in groups.values()]


# -- activity -------------------------------------------------------------------------


def watchlist_activity(
    connection: Connection, now: datetime, days: int = 30
) -> dict[str, WatchlistActivity]:
    """Matches per watchlist in the last day, week, and per day over ``days`` days."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=days - 1)
    rows = connection.execute(
        select(Watchlist.name, Match.created_at)
        .join(Watchlist, Watchlist.id == Match.watchlist_id)
        .where(Match.created_at >= min(start, now - timedelta(days=7)))
    )
    per_day: dict[str, list[int]] = defaultdict(lambda: [0] * days)
    day_counts: Counter[str] = Counter()
    week_counts: Counter[str] = Counter()
    for name, created in rows:
        if created >= now - timedelta(days=1):
            day_counts[name] += 1
        if created >= now - timedelta(days=7):
            week_counts[name] += 1
        index = (created - start).days
        if 0 <= index < days:
            per_day[name][index] += 1
    names = set(per_day) | set(week_counts)
    return {
        name: WatchlistActivity(day_counts[name], week_counts[name], tuple(per_day[name]))
        for name in names
    }


def names(connection: Connection) -> tuple[list[str], list[str]]:
    """Every watchlist's and every source's name, sorted: what a filter offers."""
    watchlists = list(connection.execute(select(Watchlist.name).order_by(Watchlist.name)).scalars())
    sources = list(connection.execute(select(Source.name).order_by(Source.name)).scalars())
    return watchlists, sources


def source_rates(connection: Connection, now: datetime, days: int = 7) -> dict[str, float]:
    """Articles stored per day by each source over the last ``days`` days."""
    rows = connection.execute(
        select(Source.name, func.count(Article.id))
        .join(Article, Article.source_id == Source.id)
        .where(Article.fetched_at >= now - timedelta(days=days))
        .group_by(Source.name)
    )
    return {name: count / days for name, count in rows}


# -- the live preview -----------------------------------------------------------------


def _normalized(form: str) -> str:
    return _SPACE.sub(" ", _MARKS.sub("", form)).strip()


def preview_query(
    db: Database,
    compiled: CompiledQuery,
    *,
    text: str = "",
    recent: int = 5000,
    show: int = 20,
) -> Preview:
    """Where a query being edited matches: the pasted ``text``, the newest ``recent``
    stored articles (the newest ``show`` matching ones returned), and the forms it
    matched there with their counts."""
    from monitor.archive import candidate_expression, index_queued

    pasted = compiled.search(text) if text else []
    index_queued(db)
    with db.connection() as connection:
        floor = connection.execute(
            select(Article.id).order_by(Article.id.desc()).offset(recent - 1).limit(1)
        ).scalar()
        searched = connection.execute(
            select(func.count(Article.id)).where(Article.id >= (floor or 0))
        ).scalar_one()
        dialect = connection.dialect.name
        try:
            expression = candidate_expression(compiled.tree, dialect)
        except ValueError:
            expression = None
        if expression is None:
            candidates = list(
                connection.execute(select(Article.id).where(Article.id >= (floor or 0))).scalars()
            )
        elif dialect == "sqlite":
            candidates = list(
                connection.execute(
                    sql_text(
                        "SELECT rowid FROM article_terms WHERE article_terms MATCH :e "
                        "AND rowid >= :floor"
                    ),
                    {"e": expression, "floor": floor or 0},
                ).scalars()
            )
        else:
            candidates = list(
                connection.execute(
                    sql_text(
                        "SELECT article_id FROM article_terms WHERE terms @@ "
                        "to_tsquery('simple', :e) AND article_id >= :floor"
                    ),
                    {"e": expression, "floor": floor or 0},
                ).scalars()
            )
        candidates.sort(reverse=True)
        matched = 0
        articles: list[PreviewArticle] = []
        forms: Counter[str] = Counter()
        following: dict[str, Counter[str]] = defaultdict(Counter)
        for chunk in range(0, len(candidates), 500):
            batch = candidates[chunk : chunk + 500]
            rows = connection.execute(
                select(
                    Article.id,
                    Article.title,
                    Article.body,
                    Article.url,
                    Source.name,
                    Article.fetched_at,
                )
                .outerjoin(Source, Source.id == Article.source_id)
                .where(Article.id.in_(batch))
                .order_by(Article.id.desc())
            )
            for article_id, title, body, url, source, fetched in rows:
                hits = compiled.search_fields({"title": title, "body": body})
                if not hits:
                    continue
                matched += 1
                _count_forms(hits, {"title": title, "body": body}, forms, following)
                if len(articles) < show:
                    articles.append(
                        PreviewArticle(
                            article_id,
                            segments(title, _field_spans(hits, "title")),
                            excerpt(body, _field_spans(hits, "body")),
                            url or None,
                            source,
                            fetched,
                        )
                    )
    _count_forms(pasted, {"text": text}, forms, following)
    return Preview(
        query=compiled.text,
        text=segments(text, [(hit.start, hit.end) for hit in pasted]),
        text_hits=len(pasted),
        searched=searched,
        matched=matched,
        articles=articles,
        forms=[
            SurfaceForm(form, count, tuple(following[form].most_common(3)))
            for form, count in forms.most_common(30)
        ],
    )


def _field_spans(hits: Sequence[Hit], field: str) -> list[tuple[int, int]]:
    return [(hit.start, hit.end) for hit in hits if hit.field == field]


def _count_forms(
    hits: Sequence[Hit],
    fields: dict[str, str],
    forms: Counter[str],
    following: dict[str, Counter[str]],
) -> None:
    for hit in hits:
        form = _normalized(hit.text)
        if not form:
            continue
        forms[form] += 1
        after = _NEXT_WORD.match(fields.get(hit.field, ""), hit.end)
        if after:
            following[form][_normalized(after.group(1))] += 1


def exclusion_query(query: str, phrase: str) -> str:
    """``query`` with articles containing ``phrase`` left out: the one-click exclusion
    of a surface form the preview shows. The result compiles (checked)."""
    cleaned = _normalized(phrase).replace('"', "")
    if not cleaned:
        return query
    excluded = f'({query.strip()}) -"{cleaned}"'
    compile_query(excluded)
    return excluded
