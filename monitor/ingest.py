"""Storing one article: dedup probe, article, matches and outbox rows in one transaction.

The transaction is the guarantee: an article is never stored without its matches, a
match never without its alerts, and the article's frontier entry (monitor.frontier)
leaves in the same commit, so a crash at any point either loses nothing or leaves
nothing half-done (the entry is still in the frontier and its page is fetched again).

Alerts go to a watchlist's instant routes only; its digest routes find their matches in
the matches table later (monitor.digests). A story alerts a watchlist once: a later
article of it is matched and kept but not alerted, and on an instant route with a
follow-up delay it joins that story's one *follow-up* (an outbox row sent after the
delay, listing the other outlets), while that row is still unsent.

Work is split in two: :meth:`Ingestor.prepare` does everything that needs no database
(canonical URL, hashes, matching, alert events), so that :meth:`Ingestor.store` holds
the write lock (one writer at a time on SQLite) only for a handful of prebuilt statements.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from alerts import outbox
from alerts.event import FollowUpEvent, Highlight, MatchedArticle, MatchEvent
from crawler.items import ArticleItem
from monitor import frontier
from monitor.arabic.tokenize import normalized_words
from monitor.archive import store_terms, terms_of
from monitor.clock import Clock
from monitor.config import Settings
from monitor.db.locks import hold_for_transaction
from monitor.db.models import Article, DedupKey, Match, Source
from monitor.db.session import Database
from monitor.dedup import canonical_url, content_hash, dedup_keys, entry_keys
from monitor.matching import Hit, snippet
from monitor.stories import StoryIndex, fingerprint_words, to_bytes
from monitor.watchlists import WatchlistBook, WatchlistInfo

if TYPE_CHECKING:
    from monitor.stories import MinHash

logger = logging.getLogger(__name__)

_ARTICLES = Article.__table__
_SOURCES = Source.__table__
_MATCHES = Match.__table__
_PROBE = select(DedupKey.key, DedupKey.article_id).where(
    DedupKey.key.in_(bindparam("keys", expanding=True))
)
_INSERT_ARTICLES = insert(_ARTICLES)
_INSERT_KEYS = insert(DedupKey.__table__)
_INSERT_MATCH = insert(_MATCHES).returning(_MATCHES.c.id)
_COUNT_ARTICLES = (
    update(_SOURCES)
    .where(_SOURCES.c.id == bindparam("source"))
    .values(
        articles_stored=_SOURCES.c.articles_stored + bindparam("stored"),
        extraction_fallbacks=_SOURCES.c.extraction_fallbacks + bindparam("fallbacks"),
    )
)


@dataclass(frozen=True)
class IngestResult:
    article_id: int | None
    duplicate: bool
    matches: int = 0
    alerts: int = 0
    story_id: int | None = None  # the story it joined (None: it founded its own)


@dataclass(frozen=True)
class PreparedMatch:
    watchlist_id: int
    highlights: list[dict[str, Any]]  # as the match row stores them, offsets included
    channels: list[str]
    event: MatchEvent | None  # None: no alert (too old, or no channel for it)
    # Instant routes (channel, delay) that send a follow-up when the story already
    # alerted this watchlist.
    follow_ups: tuple[tuple[str, timedelta], ...] = ()
    urgent: bool = False


@dataclass(frozen=True)
class PreparedArticle:
    """An article with everything computed that does not need the database."""

    row: dict[str, Any]
    keys: dict[str, str]
    matches: list[PreparedMatch] = field(default_factory=list)
    now: datetime | None = None
    terms: str = ""  # what the archive indexes it under (monitor.archive)
    signature: MinHash | None = None  # its story fingerprint (monitor.stories)
    frontier_id: int | None = None  # the frontier entry its storing settles

    @property
    def fallback(self) -> bool:
        """Its page was wanted but the feed's summary stands in (``rasid status``
        counts; not an article of a source whose pages are not fetched)."""
        return bool(self.row["extraction"] == "feed")


class Ingestor:
    """Deduplicates, stores and matches articles; enqueues their alerts."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        watchlists: WatchlistBook,
        on_alerts: Callable[[], None] | None = None,
    ) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock
        self._watchlists = watchlists
        self._on_alerts = on_alerts
        self._active_channels = [c.name for c in settings.effective_channels() if c.active]
        self._stories: StoryIndex | None = None

    def set_channels(self, settings: Settings) -> None:
        """Route new matches to these settings' active channels from now on."""
        self._active_channels = [c.name for c in settings.effective_channels() if c.active]

    @property
    def stories(self) -> StoryIndex:
        """The story index, filled with the recent window (``[stories] window``) when
        first used, by the first article to store: a run that stores nothing neither
        reads the signatures nor imports numpy (docs/benchmarks.md)."""
        if self._stories is None:
            index = StoryIndex(self._settings.stories.threshold)
            since = self._clock.now() - self._settings.stories.window
            with self._db.connection() as connection:
                loaded = index.load(connection, since)
            logger.debug("story index: %d recent articles", loaded)
            self._stories = index
        return self._stories

    def ingest(self, item: ArticleItem) -> IngestResult:
        result = self.store(self.prepare(item))
        if result.alerts and self._on_alerts is not None:
            self._on_alerts()
        return result

    def prepare(self, item: ArticleItem) -> PreparedArticle:
        """Everything about an article that needs no database: identity, matches, alerts."""
        now = self._clock.now()
        url = canonical_url(item.url)
        # Tokenized once for the story fingerprint and the archive's terms.
        words = normalized_words(item.title, item.body)
        fingerprint = content_hash(item.title, item.body)
        keys = {
            key: kind
            for kind, key in dedup_keys(
                url=url,
                guid=item.guid,
                content_hash=fingerprint,
                feed_url=item.feed_url,
                body_chars=len(item.body),
            )
        }
        # What the feed called it (its link, or for a linkless entry its text), so the
        # next poll knows the entry without fetching anything; the same keys as above
        # when the article is where the link points (a feed-only entry, no redirect).
        if (item.link or not url) and item.link != item.url:
            for kind, key in entry_keys(
                url=item.link,
                guid=item.guid,
                title=item.title,
                summary=item.summary,
                feed_url=item.feed_url,
            ):
                keys.setdefault(key, kind)
        row = {
            "source_id": item.source_id,
            "url": url,
            "guid": item.guid,
            "title": item.title,
            "body": item.body,
            "summary": item.summary,
            "author": item.author,
            "language": item.language,
            "extraction": item.extraction,
            "content_hash": fingerprint,
            "published_at": item.published_at,
            "fetched_at": now,
        }
        return PreparedArticle(
            row,
            keys,
            self._prepare_matches(item, url, now),
            now,
            terms_of(words),
            fingerprint_words(words),
            item.frontier_id,
        )

    def _prepare_matches(self, item: ArticleItem, url: str, now: datetime) -> list[PreparedMatch]:
        compiled = self._watchlists.current
        found: dict[str, list[Hit]] = compiled.index.match_fields(
            {"title": item.title, "body": item.body}
        )
        published = item.published_at or now
        fresh = published >= now - self._settings.alerts.max_article_age
        prepared = []
        for name, hits in found.items():
            watchlist = compiled.by_name[name]
            channels = self._channels_for(watchlist) if fresh else []
            follow_ups = tuple(
                (route.channel, route.follow_up)
                for route in watchlist.instant_routes
                if route.follow_up is not None and route.channel in channels
            )
            event = None
            if channels:
                event = MatchEvent(
                    watchlist=name,
                    article=MatchedArticle(
                        url=url or None,  # an entry without a link: said so in alerts
                        title=item.title,
                        source=item.source_name,
                        published_at=item.published_at,
                    ),
                    highlights=tuple(
                        # match_fields was given only these two fields.
                        Highlight(hit.query, hit.text, "title" if hit.field == "title" else "body")
                        for hit in hits
                    ),
                    snippet=_snippet(
                        item.title, item.body, hits, self._settings.alerts.snippet_length
                    ),
                )
            prepared.append(
                PreparedMatch(
                    watchlist.id,
                    [_highlight(hit) for hit in hits],
                    channels,
                    event,
                    follow_ups,
                    watchlist.urgent,
                )
            )
        # Too old to alert: the matches are still kept, marked as not alerted.
        if not fresh:
            return [PreparedMatch(m.watchlist_id, m.highlights, [], None) for m in prepared]
        return prepared

    def store(self, article: PreparedArticle) -> IngestResult:
        """One transaction: probe, article, keys, matches, outbox rows and the frontier
        entry's removal (or nothing)."""
        return self.store_all([article])[0]

    def store_all(
        self,
        articles: Sequence[PreparedArticle] | Callable[[Connection], Sequence[PreparedArticle]],
        also: Callable[[Connection, list[IngestResult]], None] | None = None,
    ) -> list[IngestResult]:
        """Store these articles (a poll's new entries) in one transaction, each as
        :meth:`store` would, and run ``also`` in it (recording the poll that found them);
        all of it or nothing. ``articles`` may be a function that finds them in that
        transaction (which entries of a feed are new), run again when it is retried."""
        try:
            return self._store_together(articles, also)
        except IntegrityError:
            # Another instance stored one of them between our probe and insert: the
            # probe now finds it, and its entry is settled as a duplicate.
            return self._store_together(articles, also)

    def _store_together(
        self,
        articles: Sequence[PreparedArticle] | Callable[[Connection], Sequence[PreparedArticle]],
        also: Callable[[Connection, list[IngestResult]], None] | None,
    ) -> list[IngestResult]:
        # The index is loaded (the first time, or again after a failure dropped it)
        # before the transaction: on SQLite its reading would wait for our own write lock.
        self.stories  # noqa: B018
        found: Sequence[PreparedArticle] = articles if isinstance(articles, Sequence) else ()
        try:
            with self._db.connection() as connection:
                if not isinstance(articles, Sequence):
                    found = articles(connection)
                results = self._store_all(connection, found)
                if also is not None:
                    also(connection, results)
        except BaseException:
            self._forget_uncommitted(found)
            raise
        return results

    def _forget_uncommitted(self, articles: Sequence[PreparedArticle]) -> None:
        """A failed transaction may have left its articles in the story index (they are
        added as they are stored, so the next one of the batch can join them): the index
        is dropped, to be loaded again from what was committed."""
        if any(article.signature is not None for article in articles):
            self._stories = None

    def _store_all(
        self, connection: Connection, articles: Sequence[PreparedArticle]
    ) -> list[IngestResult]:
        if not articles:
            return []
        # Every instance stores under this lock: the index caught up now holds every
        # committed article, and none is being stored elsewhere until this transaction
        # ends (monitor.stories). SQLite runs one instance a file (InstanceLock): its
        # index has every article already.
        stories = self.stories
        if connection.dialect.name != "sqlite":
            hold_for_transaction(connection, "stories")
            stories.catch_up(connection)
        frontier.done(connection, [a.frontier_id for a in articles if a.frontier_id is not None])
        known = _known_keys(connection, {key for article in articles for key in article.keys})
        fresh = sum(1 for article in articles if known.keys().isdisjoint(article.keys))
        ids = iter(_new_ids(connection, fresh))
        keys: list[dict[str, Any]] = []
        terms: list[dict[str, Any]] = []
        rows: list[dict[str, Any]] = []
        stored: Counter[tuple[int, int]] = Counter()  # (source, fallback) -> articles
        planned: list[IngestResult | tuple[PreparedArticle, int, int | None]] = []
        for article in articles:
            taken = [key for key in article.keys if key in known]
            if taken:
                # A live article rather than one retention deleted (its keys stay).
                article_id = next((known[k] for k in taken if known[k] is not None), None)
                # Remember the new aliases so the next poll skips this entry without a fetch.
                aliases = {key: kind for key, kind in article.keys.items() if key not in known}
                keys.extend(_key_rows(aliases, article_id))
                known.update(dict.fromkeys(aliases, article_id))
                planned.append(IngestResult(article_id=article_id, duplicate=True))
                continue
            article_id = next(ids)
            # Added at once, so that the next article of the batch may join its story.
            story_id = stories.story_for(article.signature)
            stories.add(article_id, story_id, article.signature)
            signature = article.signature
            rows.append(
                article.row
                | {
                    "id": article_id,
                    "story_id": story_id,
                    "minhash": to_bytes(signature) if signature is not None else None,
                }
            )
            keys.extend(_key_rows(article.keys, article_id))
            known.update(dict.fromkeys(article.keys, article_id))
            terms.append({"article_id": article_id, "terms": article.terms})
            stored[article.row["source_id"], int(article.fallback)] += 1
            planned.append((article, article_id, story_id))
        if rows:
            connection.execute(_INSERT_ARTICLES, rows)
        if keys:
            connection.execute(_INSERT_KEYS, keys)
        if terms:
            store_terms(connection, terms)
        if stored:
            connection.execute(
                _COUNT_ARTICLES,
                [
                    {"source": source, "stored": count, "fallbacks": count * fallback}
                    for (source, fallback), count in stored.items()
                ],
            )
        return [
            plan if isinstance(plan, IngestResult) else self._match(connection, *plan)
            for plan in planned
        ]

    def _match(
        self,
        connection: Connection,
        article: PreparedArticle,
        article_id: int,
        story_id: int | None,
    ) -> IngestResult:
        """A stored article's matches and outbox rows."""
        now = article.now or self._clock.now()
        alerts = 0
        for match in article.matches:
            event = match.event
            if event is not None and story_id is not None:
                alerted = _story_alerted(connection, story_id, match.watchlist_id)
                if alerted is not None:
                    # The story already alerted this watchlist: not again, but maybe
                    # in the story's follow-up.
                    if match.follow_ups:
                        _follow_up(connection, story_id, alerted, match, event, now)
                    event = None
            match_id: int = connection.execute(
                _INSERT_MATCH,
                {
                    "article_id": article_id,
                    "watchlist_id": match.watchlist_id,
                    "highlights": match.highlights,
                    "alerted": event is not None,
                    "created_at": now,
                },
            ).scalar_one()
            if event is not None:
                queued = outbox.enqueue(
                    connection,
                    match_id=match_id,
                    channels=match.channels,
                    event=event,
                    now=now,
                    watchlist_id=match.watchlist_id,
                    urgent=match.urgent,
                )
                alerts += len(queued)
        return IngestResult(
            article_id,
            duplicate=False,
            matches=len(article.matches),
            alerts=alerts,
            story_id=story_id,
        )

    def _channels_for(self, watchlist: WatchlistInfo) -> list[str]:
        """The active channels of the watchlist's instant routes; every active channel
        for a watchlist without routes."""
        wanted: Iterable[str] = self._active_channels
        if watchlist.routes:
            wanted = [route.channel for route in watchlist.instant_routes]
        return [name for name in wanted if name in self._active_channels]


_STORY_ALERTED = (
    select(_MATCHES.c.article_id)
    .join(_ARTICLES, _ARTICLES.c.id == _MATCHES.c.article_id)
    .where(
        _MATCHES.c.watchlist_id == bindparam("watchlist"),
        _MATCHES.c.alerted.is_(True),
        or_(_ARTICLES.c.id == bindparam("story"), _ARTICLES.c.story_id == bindparam("story")),
    )
    .order_by(_MATCHES.c.id)
    .limit(1)
)
_ALERTED_ARTICLE = (
    select(_ARTICLES.c.url, _ARTICLES.c.title, _SOURCES.c.name, _ARTICLES.c.published_at)
    .outerjoin(_SOURCES, _SOURCES.c.id == _ARTICLES.c.source_id)
    .where(_ARTICLES.c.id == bindparam("article"))
)


def _story_alerted(connection: Connection, story_id: int, watchlist_id: int) -> int | None:
    """The article of the story that alerted this watchlist (the first), if one did."""
    found = connection.execute(_STORY_ALERTED, {"watchlist": watchlist_id, "story": story_id})
    return found.scalar()


def _follow_up(
    connection: Connection,
    story_id: int,
    alerted_id: int,
    match: PreparedMatch,
    event: MatchEvent,
    now: datetime,
) -> None:
    """Add this article's outlet to the story's follow-up on each route that has one:
    the follow-up is made by the first other outlet, grows while it is unsent and
    unclaimed, and is never made again once sent or dead (its key stays taken)."""
    report = event.article
    alerted: MatchedArticle | None = None
    for channel, delay in match.follow_ups:
        key = f"follow_up:{story_id}:{match.watchlist_id}:{channel}"
        found = outbox.find_unsent(connection, key, now)
        if found is not None:
            follow_up = found.event
            if not isinstance(follow_up, FollowUpEvent):
                continue
            if report.source in {follow_up.article.source, *follow_up.outlets}:
                continue
            grown = replace(follow_up, reports=(*follow_up.reports, report))
            outbox.replace_event(connection, found.id, grown, now)
            continue
        if alerted is None:
            alerted = _article_of(connection, alerted_id)
        if report.source == alerted.source:
            continue  # the same outlet again is no other outlet
        outbox.enqueue_once(
            connection,
            kind="follow_up",
            dedupe_key=key,
            channel=channel,
            event=FollowUpEvent(watchlist=event.watchlist, article=alerted, reports=(report,)),
            now=now,
            due=now + delay,
            watchlist_id=match.watchlist_id,
            urgent=match.urgent,
        )


def _article_of(connection: Connection, article_id: int) -> MatchedArticle:
    row = connection.execute(_ALERTED_ARTICLE, {"article": article_id}).one()
    return MatchedArticle(
        url=row.url or None, title=row.title, source=row.name or "", published_at=row.published_at
    )


def _known_keys(connection: Connection, keys: Iterable[str]) -> dict[str, int | None]:
    """The stored keys among ``keys``, with their article (None: an article pruned by
    retention, whose keys stay so that its entry is still known)."""
    ordered = sorted(keys)
    found: dict[str, int | None] = {}
    for start in range(0, len(ordered), frontier.PROBE_CHUNK):
        chunk = ordered[start : start + frontier.PROBE_CHUNK]
        found.update(
            (key, article_id) for key, article_id in connection.execute(_PROBE, {"keys": chunk})
        )
    return found


def _new_ids(connection: Connection, count: int) -> list[int]:
    """Ids for this many new articles, known before they are inserted (a batch's later
    articles join the stories of its earlier ones, and one INSERT writes them all). The
    ``stories`` lock is held: on PostgreSQL the sequence hands them out in commit order;
    on SQLite the write lock is, and rowids follow the largest."""
    if not count:
        return []
    if connection.dialect.name == "postgresql":
        return sorted(connection.execute(_NEXT_IDS, {"count": count}).scalars())
    largest: int = connection.execute(_LARGEST_ID).scalar_one()
    return list(range(largest + 1, largest + 1 + count))


_NEXT_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('articles', 'id')) FROM generate_series(1, :count)"
)
_LARGEST_ID = select(func.coalesce(func.max(_ARTICLES.c.id), 0))


def _key_rows(keys: dict[str, str], article_id: int | None) -> list[dict[str, Any]]:
    return [{"key": key, "kind": kind, "article_id": article_id} for key, kind in keys.items()]


def _highlight(hit: Hit) -> dict[str, object]:
    return {
        "query": hit.query,
        "text": hit.text,
        "field": hit.field,
        "start": hit.start,
        "end": hit.end,
    }


def _snippet(title: str, body: str, hits: list[Hit], length: int) -> str:
    body_hits = [hit for hit in hits if hit.field == "body"]
    if body_hits:
        return snippet(body, body_hits, length)
    return snippet(body, [], length) if body else title
