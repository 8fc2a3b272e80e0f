"""Storing one article: dedup probe, article, matches and outbox rows in one transaction.

The transaction is the guarantee: an article is never stored without its matches, and a
match never without its alerts, so a crash at any point either loses nothing or leaves
nothing half-done (the article is then simply seen as new on the next poll).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts import outbox
from alerts.render import event_payload
from crawler.items import ArticleItem, FeedEntry
from crawler.sink import DueSource
from monitor.clock import Clock
from monitor.config import Settings
from monitor.db.models import Article, DedupKey, Match, Source
from monitor.db.session import Database
from monitor.dedup import canonical_url, content_hash, dedup_keys
from monitor.matching import Hit, snippet
from monitor.watchlists import CompiledWatchlists, WatchlistBook, WatchlistInfo

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    article_id: int | None
    duplicate: bool
    matches: int = 0
    alerts: int = 0


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

    def new_entries(self, source: DueSource, entries: list[FeedEntry]) -> list[FeedEntry]:
        """Entries whose URL or GUID is not known yet (and each only once per feed)."""
        keyed: list[tuple[FeedEntry, set[str]]] = []
        for entry in entries:
            if entry.url is None:
                continue
            keys = {
                key
                for kind, key in dedup_keys(
                    url=canonical_url(entry.url),
                    guid=entry.guid,
                    content_hash="",
                    feed_url=source.url,
                )
                if kind in ("url", "guid")
            }
            keyed.append((entry, keys))
        if not keyed:
            return []
        all_keys = set().union(*(keys for _, keys in keyed))
        with self._db.transaction() as session:
            known = set(_known_keys(session, all_keys))
        fresh: list[FeedEntry] = []
        for entry, keys in keyed:
            if keys & known:
                continue
            known |= keys
            fresh.append(entry)
        return fresh

    def ingest(self, item: ArticleItem) -> IngestResult:
        try:
            result = self._ingest(item)
        except IntegrityError:
            # Another instance stored the same article between our probe and insert.
            return IngestResult(article_id=None, duplicate=True)
        if result.alerts and self._on_alerts is not None:
            self._on_alerts()
        return result

    def _ingest(self, item: ArticleItem) -> IngestResult:
        now = self._clock.now()
        url = canonical_url(item.url)
        fingerprint = content_hash(item.title, item.body)
        keys = dict(
            (key, kind)
            for kind, key in dedup_keys(
                url=url,
                guid=item.guid,
                content_hash=fingerprint,
                feed_url=item.feed_url,
                body_chars=len(item.body),
            )
        )
        if item.link and canonical_url(item.link) != url:
            for kind, key in dedup_keys(
                url=canonical_url(item.link), guid=None, content_hash="", feed_url=item.feed_url
            ):
                keys.setdefault(key, kind)
        with self._db.transaction() as session:
            known = _known_keys(session, keys)
            if known:
                article_id = next(iter(known.values()))
                # Remember the new aliases so the next poll skips this entry without a fetch.
                session.add_all(
                    DedupKey(key=key, kind=kind, article_id=article_id)
                    for key, kind in keys.items()
                    if key not in known
                )
                return IngestResult(article_id=article_id, duplicate=True)
            article = Article(
                source_id=item.source_id,
                url=url,
                guid=item.guid,
                title=item.title,
                body=item.body,
                summary=item.summary,
                author=item.author,
                language=item.language,
                extraction=item.extraction,
                content_hash=fingerprint,
                published_at=item.published_at,
                fetched_at=now,
            )
            session.add(article)
            session.flush()
            session.add_all(
                DedupKey(key=key, kind=kind, article_id=article.id) for key, kind in keys.items()
            )
            session.execute(
                update(Source)
                .where(Source.id == item.source_id)
                .values(articles_stored=Source.articles_stored + 1)
            )
            matches, alerts = self._match(session, article, item, now)
            return IngestResult(article.id, duplicate=False, matches=matches, alerts=alerts)

    def _match(
        self, session: Session, article: Article, item: ArticleItem, now: datetime
    ) -> tuple[int, int]:
        compiled: CompiledWatchlists = self._watchlists.current
        found: dict[str, list[Hit]] = compiled.index.match_fields(  # type: ignore[attr-defined]
            {"title": article.title, "body": article.body}
        )
        if not found:
            return 0, 0
        published = article.published_at or now
        fresh = published >= now - self._settings.alerts.max_article_age
        alerts = 0
        for name, hits in found.items():
            watchlist = compiled.by_name[name]
            match = Match(
                article_id=article.id,
                watchlist_id=watchlist.id,
                highlights=[_highlight(hit) for hit in hits],
                alerted=fresh,
                created_at=now,
            )
            session.add(match)
            session.flush()
            channels = self._channels_for(watchlist)
            if not fresh or not channels:
                continue
            payload = event_payload(
                watchlist=name,
                article={
                    "url": article.url,
                    "title": article.title,
                    "source": item.source_name,
                    "published_at": article.published_at.isoformat()
                    if article.published_at
                    else None,
                },
                highlights=[
                    {"query": hit.query, "text": hit.text, "field": hit.field} for hit in hits
                ],
                snippet=_snippet(article, hits, self._settings.alerts.snippet_length),
            )
            alerts += len(
                outbox.enqueue(session, match=match, channels=channels, payload=payload, now=now)
            )
        return len(found), alerts

    def _channels_for(self, watchlist: WatchlistInfo) -> list[str]:
        wanted: Iterable[str] = watchlist.channels or self._active_channels
        return [name for name in wanted if name in self._active_channels]


def _known_keys(session: Session, keys: Iterable[str]) -> dict[str, int]:
    keys = list(keys)
    if not keys:
        return {}
    rows = session.execute(select(DedupKey.key, DedupKey.article_id).where(DedupKey.key.in_(keys)))
    return {key: article_id for key, article_id in rows}


def _highlight(hit: Hit) -> dict[str, object]:
    return {
        "query": hit.query,
        "text": hit.text,
        "field": hit.field,
        "start": hit.start,
        "end": hit.end,
    }


def _snippet(article: Article, hits: list[Hit], length: int) -> str:
    body_hits = [hit for hit in hits if hit.field == "body"]
    if body_hits:
        return snippet(article.body, body_hits, length)
    return snippet(article.body, [], length) if article.body else article.title
