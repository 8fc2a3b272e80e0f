"""Digests: every match of a watchlist since its last digest, in one alert, on a schedule.

A digest route (:class:`~monitor.watchlists.Route` with mode ``digest``) *fires* at the
times its cron ``schedule`` names, read in its ``time_zone``. Its *mark*
(:class:`~monitor.db.models.DigestMark`) is the fire time of the last digest queued for
it; the next digest covers the matches made after the mark, up to the latest fire time
that has come, grouped by story (the article's story, else the article itself), most
outlets first.

Guarantees:

* A digest is an outbox row (kind ``digest``, not held by quiet hours) queued in the
  transaction that moves the mark to its fire time: a crash queues it once or not yet,
  never twice, and the outbox delivers it like any alert.
* Two instances never queue the same digest: the mark moves only from the value read
  (``WHERE last_fire_at = :old``), and the row's dedupe key is its route and fire time.
* No digest of the past: a route's mark is made when it is first seen, at that moment.
* A service that was down over several fire times queues one digest, for the latest of
  them, covering the whole time since the mark.
* A digest with nothing in it is not queued unless its route says ``send_empty``; its
  mark moves all the same.
* Wall-clock times, as cron reads them: a time that occurs twice when clocks go back
  fires once (its first occurrence); a time skipped when clocks go forward fires at the
  instant it names under the offset before the change (02:30 on the night Berlin skips
  from 02:00 to 03:00 is 03:30 summer time), so a daily digest fires once a local day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from alerts import outbox
from alerts.event import DigestEvent, DigestStory, MatchedArticle
from monitor.clock import Clock
from monitor.config import cron_trigger
from monitor.db.models import (
    Article,
    DigestMark,
    Match,
    OutboxAlert,
    Source,
    Watchlist,
    WatchlistChannel,
)
from monitor.db.session import Database
from monitor.errors import Conflict, NotFound

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# Past the given time: APScheduler rounds a time with microseconds up to the next second.
_TICK = timedelta(microseconds=1)
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class DigestRoute:
    """A digest route of an enabled watchlist, with its mark (None: not made yet)."""

    watchlist_id: int
    watchlist: str
    channel: str
    schedule: str
    time_zone: str
    send_empty: bool
    mark: datetime | None


@dataclass(frozen=True)
class QueuedDigest:
    """What one digest covered; ``alert_id`` is None when nothing was queued (an empty
    digest on a route without ``send_empty``)."""

    watchlist: str
    channel: str
    since: datetime
    until: datetime
    stories: int
    matches: int
    alert_id: str | None


# -- fire times ---------------------------------------------------------------------------


def next_fire(schedule: str, time_zone: str, after: datetime) -> datetime | None:
    """The first fire time strictly after ``after`` (UTC); None if the schedule has none."""
    zone = ZoneInfo(time_zone)
    trigger = cron_trigger(schedule)
    wall = after.astimezone(zone).replace(tzinfo=None)
    while True:
        found = trigger.get_next_fire_time(None, (wall + _TICK).replace(tzinfo=UTC))
        if found is None:
            return None
        wall = found.replace(tzinfo=None)
        # fold=0: the first of a repeated time; for a skipped one, the offset before.
        instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
        if instant > after:
            return instant


def latest_fire(schedule: str, time_zone: str, after: datetime, now: datetime) -> datetime | None:
    """The latest fire time in ``(after, now]``; None when none has come yet."""
    fire = next_fire(schedule, time_zone, after)
    if fire is None or fire > now:
        return None
    # After a long outage, start from the last day rather than walk every fire time.
    recent = next_fire(schedule, time_zone, max(fire, now - _DAY))
    if recent is not None and recent <= now:
        fire = recent
    while (following := next_fire(schedule, time_zone, fire)) is not None and following <= now:
        fire = following
    return fire


# -- the digest's content -------------------------------------------------------------------


_MATCHES = (
    select(
        Match.created_at,
        Article.id,
        Article.story_id,
        Article.url,
        Article.title,
        Article.published_at,
        Source.name,
    )
    .join(Article, Article.id == Match.article_id)
    .outerjoin(Source, Source.id == Article.source_id)
)


def build_digest(
    connection: Connection,
    watchlist_id: int,
    watchlist: str,
    since: datetime,
    until: datetime,
    max_article_age: timedelta | None = None,
) -> DigestEvent:
    """The watchlist's matches made in ``(since, until]``, by story, most outlets first
    (then most matches, then the earliest). Articles too old to alert when they were
    matched (``max_article_age``) are left out, as they are from instant alerts."""
    query = _MATCHES.where(
        Match.watchlist_id == watchlist_id, Match.created_at > since, Match.created_at <= until
    ).order_by(Match.id)
    stories: dict[int, _Story] = {}
    count = 0
    for created_at, article_id, story_id, url, title, published_at, source in connection.execute(
        query
    ):
        if (
            max_article_age is not None
            and published_at is not None
            and published_at < created_at - max_article_age
        ):
            continue
        count += 1
        key = story_id if story_id is not None else article_id
        story = stories.get(key)
        if story is None:
            article = MatchedArticle(
                url=url or None, title=title, source=source or "", published_at=published_at
            )
            story = stories[key] = _Story(article, len(stories))
        story.outlets.setdefault(source or "", None)
        story.matches += 1
    ranked = sorted(stories.values(), key=lambda s: (-len(s.outlets), -s.matches, s.order))
    return DigestEvent(
        watchlist=watchlist,
        since=since,
        until=until,
        stories=tuple(
            DigestStory(story.article, tuple(o for o in story.outlets if o), story.matches)
            for story in ranked
        ),
        matches=count,
    )


class _Story:
    __slots__ = ("article", "matches", "order", "outlets")

    def __init__(self, article: MatchedArticle, order: int) -> None:
        self.article = article
        self.order = order
        self.outlets: dict[str, None] = {}  # an ordered set
        self.matches = 0


# -- queuing --------------------------------------------------------------------------------


def _routes(connection: Connection, watchlist_id: int | None = None) -> list[DigestRoute]:
    query = (
        select(
            Watchlist.id,
            Watchlist.name,
            WatchlistChannel.channel,
            WatchlistChannel.schedule,
            WatchlistChannel.time_zone,
            WatchlistChannel.send_empty,
            DigestMark.last_fire_at,
        )
        .join(WatchlistChannel, WatchlistChannel.watchlist_id == Watchlist.id)
        .outerjoin(
            DigestMark,
            and_(
                DigestMark.watchlist_id == WatchlistChannel.watchlist_id,
                DigestMark.channel == WatchlistChannel.channel,
            ),
        )
        .where(WatchlistChannel.mode == "digest", WatchlistChannel.schedule.is_not(None))
        .order_by(Watchlist.id, WatchlistChannel.channel)
    )
    if watchlist_id is None:
        query = query.where(Watchlist.enabled.is_(True))
    else:
        query = query.where(Watchlist.id == watchlist_id)
    return [
        DigestRoute(wid, name, channel, schedule or "", zone or "UTC", send_empty, mark)
        for wid, name, channel, schedule, zone, send_empty, mark in connection.execute(query)
    ]


def _watchlist(connection: Connection, name: str) -> tuple[int, datetime]:
    found = connection.execute(
        select(Watchlist.id, Watchlist.created_at).where(Watchlist.name == name)
    ).first()
    if found is None:
        raise NotFound(f"no watchlist named {name!r}")
    return found.id, found.created_at


def _digest_routes(connection: Connection, watchlist_id: int, name: str) -> list[DigestRoute]:
    routes = _routes(connection, watchlist_id)
    if not routes:
        raise Conflict(
            f"watchlist {name!r} has no digest route: give it a [[watchlists.routes]] "
            'with mode = "digest" and a schedule in settings.toml'
        )
    return routes


def _move_mark(
    connection: Connection, route: DigestRoute, old: datetime | None, new: datetime
) -> bool:
    """Move the route's mark from ``old`` (None: make it) to ``new``; False when another
    instance moved or made it first."""
    table = DigestMark.__table__
    if old is None:
        postgres = connection.dialect.name == "postgresql"
        statement: Any = (postgresql.insert(table) if postgres else sqlite.insert(table)).values(
            watchlist_id=route.watchlist_id, channel=route.channel, last_fire_at=new
        )
        statement = statement.on_conflict_do_nothing(index_elements=["watchlist_id", "channel"])
    else:
        statement = (
            update(table)
            .where(
                table.c.watchlist_id == route.watchlist_id,
                table.c.channel == route.channel,
                table.c.last_fire_at == old,
            )
            .values(last_fire_at=new)
        )
    # RETURNING, not rowcount: psycopg does not count a row an ON CONFLICT insert made.
    return connection.execute(statement.returning(table.c.channel)).first() is not None


def _queue(
    db: Database,
    route: DigestRoute,
    since: datetime,
    fire: datetime,
    now: datetime,
    max_article_age: timedelta | None,
) -> QueuedDigest | None:
    """In one transaction: move the mark to ``fire``, build the digest of ``(since,
    fire]`` and queue it; None when another instance got there first."""
    with db.connection() as connection:
        if not _move_mark(connection, route, route.mark, fire):
            return None
        event = build_digest(
            connection, route.watchlist_id, route.watchlist, since, fire, max_article_age
        )
        alert_id = None
        if event.stories or route.send_empty:
            alert_id = outbox.enqueue_once(
                connection,
                kind="digest",
                dedupe_key=f"digest:{route.watchlist_id}:{route.channel}:{fire.isoformat()}",
                channel=route.channel,
                event=event,
                now=now,
                watchlist_id=route.watchlist_id,
                urgent=True,  # a digest is sent when it is due, quiet hours or not
            )
    return QueuedDigest(
        route.watchlist,
        route.channel,
        since,
        fire,
        len(event.stories),
        event.matches,
        alert_id,
    )


def queue_due_digests(
    db: Database, clock: Clock, *, max_article_age: timedelta | None = None
) -> int:
    """Queue the digest of every route whose next fire time has come; how many were
    queued. Each digest is its own short transaction."""
    now = clock.now()
    with db.connection() as connection:
        routes = _routes(connection)
    queued = 0
    for route in routes:
        if route.mark is None:
            with db.connection() as connection:
                _move_mark(connection, route, None, now)
            continue
        fire = latest_fire(route.schedule, route.time_zone, route.mark, now)
        if fire is None:
            continue
        done = _queue(db, route, route.mark, fire, now, max_article_age)
        queued += done is not None and done.alert_id is not None
    return queued


def digest_now(
    db: Database,
    clock: Clock,
    watchlist_name: str,
    *,
    max_article_age: timedelta | None = None,
) -> list[QueuedDigest]:
    """Queue each digest route's digest of ``watchlist_name`` now, as if it fired now:
    it covers the matches since the route's last digest (or since the watchlist was
    made, before any), and the next scheduled digest covers those after it."""
    now = clock.now()
    with db.connection() as connection:
        watchlist_id, created_at = _watchlist(connection, watchlist_name)
        routes = _digest_routes(connection, watchlist_id, watchlist_name)
    results = []
    for route in routes:
        since = route.mark if route.mark is not None else created_at
        if since >= now:
            since = now - _TICK  # a digest made this very moment: an empty one
        done = _queue(db, route, since, now, now, max_article_age)
        if done is None:
            raise Conflict(
                f"the digest of {watchlist_name!r} to {route.channel!r} was being queued by "
                "another instance at the same moment; try again"
            )
        results.append(done)
    return results


@dataclass(frozen=True)
class DigestPreview:
    """A digest route's next digest as it stands: due at ``next_at`` (None: the schedule
    has no more fire times), with what it would hold if it fired now."""

    watchlist: str
    channel: str
    schedule: str
    time_zone: str
    since: datetime
    next_at: datetime | None
    stories: int
    matches: int


def preview_digests(
    db: Database,
    clock: Clock,
    watchlist_name: str,
    *,
    max_article_age: timedelta | None = None,
) -> list[DigestPreview]:
    """Each digest route of ``watchlist_name``: when its next digest is due, and what it
    holds so far (what :func:`digest_now` would queue now). Reads only."""
    now = clock.now()
    with db.connection() as connection:
        watchlist_id, created_at = _watchlist(connection, watchlist_name)
        previews = []
        for route in _digest_routes(connection, watchlist_id, watchlist_name):
            since = route.mark if route.mark is not None else created_at
            event = build_digest(
                connection, watchlist_id, watchlist_name, since, now, max_article_age
            )
            previews.append(
                DigestPreview(
                    watchlist_name,
                    route.channel,
                    route.schedule,
                    route.time_zone,
                    since,
                    next_fire(route.schedule, route.time_zone, max(since, now)),
                    len(event.stories),
                    event.matches,
                )
            )
    return previews


def delivery_states(db: Database, alert_ids: list[str]) -> dict[str, tuple[str, str | None]]:
    """Each of these alerts' status and last error, by alert id."""
    if not alert_ids:
        return {}
    query = select(OutboxAlert.alert_id, OutboxAlert.status, OutboxAlert.last_error).where(
        OutboxAlert.alert_id.in_(alert_ids)
    )
    with db.connection() as connection:
        return {alert_id: (status, error) for alert_id, status, error in connection.execute(query)}
