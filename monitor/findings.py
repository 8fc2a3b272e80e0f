"""What rasid found, as the web page and the API read it: matches grouped by story, each
watchlist's activity, sources' rates, and the live preview of a query being edited.

Read-only views over the database, returned as frozen dataclasses; every time is an
aware UTC datetime. Texts come with their hits as :class:`Segment` runs (text, hit or
not), so a front door escapes each run and marks the hits without ever splicing markup
into feed text.

Words this module coins:

* an *outlet* is a source that carried an article of a story; "also reported by" lists
  each other outlet once, with its first article of the story and how many it carried;
* a *surface form* is what a hit covers as written, with whitespace folded and harakat,
  tatweel and invisible controls taken out ("بطائرتين مسيرتين"): what an editor reads,
  unlike the matcher's normalized keys.

Guarantees:

* A page of matches costs a fixed number of queries, whatever its size: one for the
  cursor, one for the page, one for the other outlets of its stories.
* Pagination is by keyset over (created_at, id), newest first (``before`` = the id of
  the last match shown), so a page deep in the history costs what the first does, and
  a match arriving meanwhile shifts nothing.
* Activity and rates are GROUP BY queries that read the same on SQLite and PostgreSQL:
  day buckets are bound UTC boundaries, never the database's own date functions or
  session time zone.
* The preview writes nothing. It reads only the newest ``recent`` articles, and of
  those only the ones the archive's full-text index (or its queue) says could match,
  before running the real matcher on them; a query the index cannot narrow is run on
  all of them.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, func, literal, or_, select, tuple_
from sqlalchemy import text as sql_text

from monitor.arabic.normalize import ARABIC_MARKS, INVISIBLE
from monitor.arabic.tokenize import WORD
from monitor.db.models import Article, Match, PendingTerms, Source, Watchlist
from monitor.errors import InvalidRequest
from monitor.matching import compile_query

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from monitor.db.session import Database
    from monitor.matching import CompiledQuery, Hit

SNIPPET = 280
MAX_PAGE = 500
MAX_DAYS = 366
FORMS = 30  # surface forms a preview lists
FOLLOWERS = 3  # words shown after each form
_BATCH = 500
# Outlets listed under a match: a story carried by 300 sites would otherwise make each
# page (and each API answer) 300 times longer.
ALSO_SHOWN = 10
_SPACE = re.compile(r"\s+")
_UNMARKED = {ord(mark): None for mark in ARABIC_MARKS + INVISIBLE}
# A following word belongs to the form's context only on the same line: no newline or
# punctuation in between ("مسيرة. احتجاجية" is two sentences, not a phrase).
_GAP = re.compile(r"[^\S\n\r]*")
_QUOTES = str.maketrans("", "", '"«»“”')


@dataclass(frozen=True)
class Segment:
    """A run of text, and whether it is a hit."""

    text: str
    hit: bool


@dataclass(frozen=True)
class Highlight:
    """One stored hit of a match: where (field and character offsets into that field of
    the stored article), the words as written, and the query that found them."""

    field: str
    start: int
    end: int
    text: str
    query: str = ""


@dataclass(frozen=True)
class Outlet:
    """Another outlet's article of the same story: who carried it, where, and how many
    articles of the story that outlet carried (``articles`` > 1: it updated it)."""

    source: str | None
    url: str | None
    title: str
    fetched_at: datetime
    articles: int = 1


@dataclass(frozen=True)
class MatchView:
    """One match as the page shows it. ``title`` is the whole title cut into runs at its
    hits; ``snippet`` about :data:`SNIPPET` characters of the body around its first hit
    (the body's start when only the title matched), with "…" runs where text was left
    out. ``story_id`` is the story's founding article (the article itself when alone)."""

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
    words: tuple[str, ...]  # the matched words as written, each once
    highlights: tuple[Highlight, ...]
    story_id: int
    also_reported_by: tuple[Outlet, ...]  # one per other outlet, at most ALSO_SHOWN
    also_more: int = 0  # other outlets of the story beyond those

    @property
    def title_text(self) -> str:
        return "".join(segment.text for segment in self.title)


@dataclass(frozen=True)
class StoryGroup:
    """Matches of one page that belong to one story: the newest, then the others."""

    first: MatchView
    others: tuple[MatchView, ...]

    @property
    def story_id(self) -> int:
        return self.first.story_id


@dataclass(frozen=True)
class MatchPage:
    items: list[MatchView]
    next_before: int | None  # pass as ``before`` for the next page; None: no more

    @property
    def stories(self) -> list[StoryGroup]:
        """The page's matches grouped by story (see :func:`group_by_story`)."""
        return group_by_story(self.items)


@dataclass(frozen=True)
class WatchlistActivity:
    last_day: int  # matches in the 24 hours before now
    last_week: int  # matches in the 7 days before now
    per_day: tuple[int, ...]  # one count per UTC day, oldest first, the last is today


@dataclass(frozen=True)
class SurfaceForm:
    """A surface form a query matched, how often, and the words that most often follow
    it, with their counts.

    Several followers, not one: the sense an editor wants to exclude is rarely the most
    frequent one. Among drone hits "مسيرة" may be followed by "إسرائيلية" ten times and
    by "احتجاجية" twice, and it is the second that shows the protest marches; the page
    offers "مسيرة احتجاجية" as a phrase to exclude (:func:`exclusion_query`), which a
    single most-frequent follower would hide.
    """

    text: str
    count: int
    followed_by: tuple[tuple[str, int], ...]  # (word, count), most frequent first


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
    articles: list[PreviewArticle]  # the newest matching ones, at most ``show``
    forms: list[SurfaceForm]  # over the matching articles and the pasted text
    title: tuple[Segment, ...] = ()  # the pasted title with its hits
    title_hits: int = 0


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
    # Folded run by run: offsets were taken on the stored text, so it is cut first.
    shown = [
        Segment(_SPACE.sub(" ", run.text), run.hit) for run in segments(text[start:end], inside)
    ]
    if shown and not shown[0].hit:
        shown[0] = Segment(shown[0].text.lstrip(), False)
    if shown and not shown[-1].hit:
        shown[-1] = Segment(shown[-1].text.rstrip(), False)
    shown = [run for run in shown if run.text]
    if start > 0:
        shown.insert(0, Segment("…", False))
    if end < len(text):
        shown.append(Segment("…", False))
    return tuple(shown)


def _highlights(stored: object) -> tuple[Highlight, ...]:
    """A match row's highlights (as monitor/ingest.py stores them), entries without
    offsets skipped."""
    found = []
    for entry in stored if isinstance(stored, list) else []:
        if not isinstance(entry, Mapping):
            continue
        start, end = entry.get("start"), entry.get("end")
        if isinstance(start, int) and isinstance(end, int):
            found.append(
                Highlight(
                    str(entry.get("field", "")),
                    start,
                    end,
                    str(entry.get("text", "")),
                    str(entry.get("query", "")),
                )
            )
    return tuple(found)


def _spans(highlights: Iterable[Highlight | Hit], field: str) -> list[tuple[int, int]]:
    return [(h.start, h.end) for h in highlights if h.field == field]


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
    """Matches newest first (created_at, then id), with their highlights and their
    stories' other outlets; ``since`` inclusive, ``until`` exclusive. ``before`` is the
    id of the last match of the previous page."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}, not {limit}")
    story = func.coalesce(Article.story_id, Article.id)
    statement = (
        select(
            Match.id,
            Watchlist.name,
            Article.id,
            Article.title,
            Article.body,
            Article.url,
            Source.name,
            Article.source_id,
            Article.published_at,
            Article.fetched_at,
            Match.created_at,
            Match.alerted,
            Match.highlights,
            story,
        )
        .join(Article, Article.id == Match.article_id)
        .join(Watchlist, Watchlist.id == Match.watchlist_id)
        .outerjoin(Source, Source.id == Article.source_id)
        .order_by(Match.created_at.desc(), Match.id.desc())
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
        # The cursor's match, or when it is gone (its article deleted) the nearest one
        # below it, which the page then starts with.
        cursor = connection.execute(
            select(Match.created_at, Match.id)
            .where(Match.id <= before)
            .order_by(Match.id.desc())
            .limit(1)
        ).one_or_none()
        if cursor is None:
            return MatchPage([], None)
        created, bound = cursor[0], before if cursor[1] == before else cursor[1] + 1
        # A row value, so both databases seek the (created_at, id) index to the cursor.
        statement = statement.where(
            tuple_(Match.created_at, Match.id)
            < tuple_(literal(created, Match.created_at.type), literal(bound))
        )
    # Plain tuples: fourteen columns are past what SQLAlchemy's Row types spell out.
    rows: list[tuple[Any, ...]] = [tuple(row) for row in connection.execute(statement)]
    more = len(rows) > limit
    rows = rows[:limit]
    outlets = _outlets(connection, {row[13] for row in rows})
    items = []
    for (
        match_id,
        watchlist_name,
        article_id,
        title,
        body,
        url,
        source_name,
        source_id,
        published_at,
        fetched_at,
        created_at,
        alerted,
        stored,
        story_id,
    ) in rows:
        highlights = _highlights(stored)
        others = _others(outlets.get(story_id, []), article_id, source_id)
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
                words=tuple(dict.fromkeys(h.text for h in highlights)),
                highlights=highlights,
                story_id=story_id,
                also_reported_by=others[:ALSO_SHOWN],
                also_more=max(0, len(others) - ALSO_SHOWN),
            )
        )
    return MatchPage(items, items[-1].id if more else None)


@dataclass(frozen=True)
class _Member:
    article_id: int
    source_id: int | None
    outlet: Outlet


def _outlets(connection: Connection, stories: set[int]) -> dict[int, list[_Member]]:
    """Per story, each outlet's first article (and how many it carried), oldest first.
    An article without a source is an outlet of its own."""
    if not stories:
        return {}
    story = func.coalesce(Article.story_id, Article.id)
    rows = connection.execute(
        select(
            story,
            Article.id,
            Article.source_id,
            Source.name,
            Article.url,
            Article.title,
            Article.fetched_at,
        )
        .outerjoin(Source, Source.id == Article.source_id)
        .where(or_(Article.story_id.in_(stories), Article.id.in_(stories)))
        .order_by(Article.fetched_at, Article.id)
    )
    firsts: dict[tuple[int, int | None, int | None], tuple[int, Any]] = {}
    counts: Counter[tuple[int, int | None, int | None]] = Counter()
    for story_id, article_id, source_id, name, url, title, fetched in rows:
        key = (story_id, source_id, article_id if source_id is None else None)
        counts[key] += 1
        firsts.setdefault(key, (article_id, (name, url or None, title, fetched)))
    found: dict[int, list[_Member]] = defaultdict(list)
    for key, (article_id, (name, url, title, fetched)) in firsts.items():
        found[key[0]].append(
            _Member(article_id, key[1], Outlet(name, url, title, fetched, counts[key]))
        )
    return found


def _others(members: list[_Member], article_id: int, source_id: int | None) -> tuple[Outlet, ...]:
    """The outlets of a story other than the match's own."""
    return tuple(
        member.outlet
        for member in members
        if member.article_id != article_id and (source_id is None or member.source_id != source_id)
    )


def group_by_story(items: Sequence[MatchView]) -> list[StoryGroup]:
    """The page's matches, one group per story, in the order of each story's newest
    match; within a group, newest first."""
    groups: dict[int, list[MatchView]] = {}
    for item in items:
        groups.setdefault(item.story_id, []).append(item)
    return [StoryGroup(members[0], tuple(members[1:])) for members in groups.values()]


def names(connection: Connection) -> tuple[list[str], list[str]]:
    """Every watchlist's and every source's name, sorted: what a filter offers."""
    watchlists = list(connection.execute(select(Watchlist.name).order_by(Watchlist.name)).scalars())
    sources = list(connection.execute(select(Source.name).order_by(Source.name)).scalars())
    return watchlists, sources


# -- activity -------------------------------------------------------------------------


def _check_days(days: int) -> None:
    if not 1 <= days <= MAX_DAYS:
        raise InvalidRequest(f"days must be between 1 and {MAX_DAYS}, not {days}")


def watchlist_activity(
    connection: Connection, now: datetime, days: int = 30
) -> dict[str, WatchlistActivity]:
    """Every watchlist's matches in the last day, the last week, and per UTC day over
    the ``days`` days ending today (two GROUP BY queries)."""
    _check_days(days)
    last_day, last_week = now - timedelta(days=1), now - timedelta(days=7)
    recent = (
        select(
            Watchlist.name,
            func.count(Match.id),
            func.coalesce(func.sum(case((Match.created_at >= last_day, 1), else_=0)), 0),
        )
        .select_from(Watchlist)
        .outerjoin(
            Match,
            and_(
                Match.watchlist_id == Watchlist.id,
                Match.created_at >= last_week,
                Match.created_at <= now,
            ),
        )
        .group_by(Watchlist.name)
    )
    rows: list[tuple[Any, ...]] = [tuple(row) for row in connection.execute(recent)]
    counts = {str(name): (int(week), int(day)) for name, week, day in rows}

    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=days - 1)
    # The bucket is a CASE over bound day boundaries, newest first; grouped from a
    # subquery, since PostgreSQL takes the same CASE with fresh parameters in GROUP BY
    # for another expression.
    bucket = case(
        *[(Match.created_at >= start + timedelta(days=n), n) for n in reversed(range(days))]
    ).label("bucket")
    stamped = (
        select(Match.watchlist_id, bucket)
        .where(Match.created_at >= start, Match.created_at < today + timedelta(days=1))
        .subquery()
    )
    per_day: dict[str, list[int]] = {name: [0] * days for name in counts}
    rows = [
        tuple(row)
        for row in connection.execute(
            select(Watchlist.name, stamped.c.bucket, func.count())
            .join(stamped, stamped.c.watchlist_id == Watchlist.id)
            .group_by(Watchlist.name, stamped.c.bucket)
        )
    ]
    for name, index, count in rows:
        per_day.setdefault(str(name), [0] * days)[int(index)] = int(count)
    return {
        name: WatchlistActivity(
            counts.get(name, (0, 0))[1], counts.get(name, (0, 0))[0], tuple(per_day[name])
        )
        for name in per_day
    }


def source_rates(connection: Connection, now: datetime, days: int = 7) -> dict[str, float]:
    """Articles stored per day by each source (every source, 0.0 when silent) over the
    ``days`` days before ``now``."""
    _check_days(days)
    # Counted by source id over the fetched_at index, then named: joining from sources
    # made SQLite walk every source's articles (150 ms over 100,000, against 20).
    stored = (
        select(Article.source_id, func.count().label("stored"))
        .where(Article.fetched_at >= now - timedelta(days=days), Article.fetched_at <= now)
        .group_by(Article.source_id)
        .subquery()
    )
    rows: list[tuple[Any, ...]] = [
        tuple(row)
        for row in connection.execute(
            select(Source.name, func.coalesce(stored.c.stored, 0)).outerjoin(
                stored, stored.c.source_id == Source.id
            )
        )
    ]
    return {str(name): int(count) / days for name, count in rows}


# -- the live preview -----------------------------------------------------------------


def surface_form(text: str) -> str:
    """A hit's text as an editor reads it: whitespace folded, harakat, tatweel and
    invisible controls removed, letters otherwise as written."""
    return _SPACE.sub(" ", text.translate(_UNMARKED)).strip()


def preview_query(
    db: Database,
    compiled: CompiledQuery,
    *,
    text: str = "",
    title: str = "",
    recent: int = 5000,
    show: int = 20,
) -> Preview:
    """Where a query being edited matches: the pasted ``title`` and ``text`` (searched as
    an article's title and body, so field scopes apply), the newest ``recent`` stored
    articles (the newest ``show`` matching ones returned, all of them counted), and the
    surface forms it matched there and in the pasted text, most frequent first.

    The pasted text's forms count too: an editor who pastes the article that prompted
    the query wants to see and exclude its forms before the archive holds any."""
    if recent < 1 or show < 0:
        raise InvalidRequest("recent must be at least 1 and show at least 0")
    pasted = compiled.search_fields({"title": title, "body": text}) if text or title else []
    forms: Counter[str] = Counter()
    following: dict[str, Counter[str]] = defaultdict(Counter)
    matched = 0
    articles: list[PreviewArticle] = []
    with db.connection() as connection:
        newest = select(Article.id).order_by(Article.id.desc()).limit(recent).subquery()
        counted = connection.execute(select(func.count(), func.min(newest.c.id))).one()
        searched = int(counted[0])
        candidates = _candidates(connection, compiled, int(counted[1] or 0))
        for chunk in range(0, len(candidates), _BATCH):
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
                .where(Article.id.in_(candidates[chunk : chunk + _BATCH]))
                .order_by(Article.id.desc())
            )
            for article_id, article_title, body, url, source, fetched in rows:
                fields = {"title": article_title, "body": body}
                hits = compiled.search_fields(fields)
                if not hits:
                    continue
                matched += 1
                _count_forms(hits, fields, forms, following)
                if len(articles) < show:
                    articles.append(
                        PreviewArticle(
                            article_id,
                            segments(article_title, _spans(hits, "title")),
                            excerpt(body, _spans(hits, "body")),
                            url or None,
                            source,
                            fetched,
                        )
                    )
    _count_forms(pasted, {"title": title, "body": text}, forms, following)
    body_spans, title_spans = _spans(pasted, "body"), _spans(pasted, "title")
    return Preview(
        query=compiled.text,
        text=segments(text, body_spans),
        text_hits=len(body_spans),
        searched=searched,
        matched=matched,
        articles=articles,
        forms=[
            SurfaceForm(form, count, tuple(following[form].most_common(FOLLOWERS)))
            for form, count in forms.most_common(FORMS)
        ],
        title=segments(title, title_spans),
        title_hits=len(title_spans),
    )


def _candidates(connection: Connection, compiled: CompiledQuery, floor: int) -> list[int]:
    """Ids from ``floor`` up that could match, newest first: those the archive's index
    finds, and those still queued for it; every id from ``floor`` up when the query
    gives the index nothing to look for."""
    from monitor.archive import candidate_expression

    dialect = connection.dialect.name
    try:
        expression = candidate_expression(compiled.tree, dialect)
    except ValueError:
        expression = ""
    if not expression:
        ids = set(connection.execute(select(Article.id).where(Article.id >= floor)).scalars())
    else:
        if dialect == "sqlite":
            sql = "SELECT rowid FROM article_terms WHERE article_terms MATCH :e AND rowid >= :floor"
        else:
            sql = (
                "SELECT article_id FROM article_terms "
                "WHERE terms @@ to_tsquery('simple', :e) AND article_id >= :floor"
            )
        ids = set(connection.execute(sql_text(sql), {"e": expression, "floor": floor}).scalars())
        # Stored but not yet moved into the index (monitor.archive's queue): read, not
        # indexed here, so the preview never takes the write lock from the crawler.
        ids.update(
            connection.execute(
                select(PendingTerms.article_id).where(PendingTerms.article_id >= floor)
            ).scalars()
        )
    return sorted(ids, reverse=True)


def _count_forms(
    hits: Sequence[Hit],
    fields: Mapping[str, str],
    forms: Counter[str],
    following: dict[str, Counter[str]],
) -> None:
    for hit in hits:
        form = surface_form(hit.text)
        if not form:
            continue
        forms[form] += 1
        field = fields.get(hit.field, "")
        gap = _GAP.match(field, hit.end)
        word = WORD.match(field, gap.end()) if gap else None
        if word:
            after = surface_form(word.group())
            if after:
                following[form][after] += 1


def exclusion_query(query: str, form: str) -> str:
    """``query`` with articles containing the phrase ``form`` left out: the preview's
    one-click exclusion, ``(query) -"form"``. Raises QuerySyntaxError when the result
    does not compile (checked here, so a front door never saves a broken query).

    The phrase is inflection-insensitive like any quoted phrase, so excluding a single
    inflected word of the query itself excludes the query's own hits; a form with its
    following word ("مسيرة احتجاجية") is what narrows a query."""
    cleaned = surface_form(form.translate(_QUOTES))
    if not cleaned:
        raise InvalidRequest("nothing to exclude: the form has no words")
    excluded = f'({query.strip()}) -"{cleaned}"'
    compile_query(excluded)
    return excluded
