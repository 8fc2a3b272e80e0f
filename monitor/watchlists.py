"""Watchlists: what users watch, where its alerts go, and the compiled index over all.

Watchlists come from settings.toml (re-synced at every start, origin "settings") or from
the CLI (origin "cli", kept in the database). Every query is compiled when it is saved,
so a bad query is refused with its position instead of failing later in the pipeline.

A *route* is one channel a watchlist's alerts go to, and how: ``instant`` (an alert per
match, and optionally one follow-up when other outlets report a story already alerted)
or ``digest`` (every match since the last digest, on a cron schedule). settings.toml
gives routes (``channels`` are plain instant routes); watchlists made by the CLI or the
web page have instant routes only. A watchlist without any route alerts every active
channel at once.
:class:`WatchlistBook` keeps the compiled index of all enabled watchlists and rebuilds
it when the table changes, without a restart.
"""

from __future__ import annotations

import gc
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete, func, literal, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from monitor.config import RouteSettings, Settings
from monitor.db.models import (
    DigestMark,
    UTCDateTime,
    Watchlist,
    WatchlistChannel,
    WatchlistQuery,
)
from monitor.db.session import Database
from monitor.errors import (
    ConfigError,
    Conflict,
    InvalidRequest,
    NotFound,
    QuerySyntaxError,
)
from monitor.matching import (
    DEFAULT_SLOP,
    CompiledEntry,
    Synonyms,
    WatchlistIndex,
    compile_query,
    parse_query,
)

logger = logging.getLogger(__name__)


RouteMode = Literal["instant", "digest"]


@dataclass(frozen=True)
class Route:
    """Where one watchlist's alerts go (``channel``), and how (``mode``)."""

    channel: str
    mode: RouteMode = "instant"
    # A digest's cron schedule and the time zone it is read in.
    schedule: str | None = None
    time_zone: str | None = None
    send_empty: bool = False
    # An instant route's follow-up delay (None: no follow-up).
    follow_up: timedelta | None = None

    @classmethod
    def from_settings(cls, route: RouteSettings) -> Route:
        digest = route.mode == "digest"
        delay = None
        if route.follow_up is not None:
            # Stored in whole seconds; a delay under one second is one second.
            delay = timedelta(seconds=max(1, math.ceil(route.follow_up.total_seconds())))
        return cls(
            channel=route.channel,
            mode=route.mode,
            schedule=route.schedule if digest else None,
            time_zone=route.time_zone if digest else None,
            send_empty=route.send_empty if digest else False,
            follow_up=None if digest else delay,
        )

    @classmethod
    def of_row(cls, row: WatchlistChannel) -> Route:
        return cls(
            channel=row.channel,
            mode="digest" if row.mode == "digest" else "instant",
            schedule=row.schedule,
            time_zone=row.time_zone,
            send_empty=row.send_empty,
            follow_up=(
                timedelta(seconds=row.follow_up_seconds)
                if row.follow_up_seconds is not None
                else None
            ),
        )

    def to_row(self) -> WatchlistChannel:
        return WatchlistChannel(
            channel=self.channel,
            mode=self.mode,
            schedule=self.schedule,
            time_zone=self.time_zone,
            send_empty=self.send_empty,
            follow_up_seconds=(
                int(self.follow_up.total_seconds()) if self.follow_up is not None else None
            ),
        )


@dataclass(frozen=True)
class WatchlistInfo:
    id: int
    name: str
    queries: tuple[str, ...]
    # Every channel it routes to, whatever the mode (empty: every active channel).
    channels: tuple[str, ...]
    enabled: bool
    origin: str
    slop: int = DEFAULT_SLOP
    # This watchlist's own synonym groups, added to [matching] synonyms for its queries.
    synonyms: tuple[tuple[str, ...], ...] = ()
    routes: tuple[Route, ...] = ()
    # Not held by a channel's quiet hours.
    urgent: bool = False

    @property
    def instant_routes(self) -> tuple[Route, ...]:
        return tuple(route for route in self.routes if route.mode == "instant")

    @property
    def digest_routes(self) -> tuple[Route, ...]:
        return tuple(route for route in self.routes if route.mode == "digest")


@dataclass
class CompiledWatchlists:
    """The index over every enabled watchlist, and each watchlist's record by name."""

    index: WatchlistIndex
    by_name: dict[str, WatchlistInfo] = field(default_factory=dict)


def sync_watchlists(session: Session, settings: Settings, now: datetime) -> None:
    """Make the watchlists from settings.toml current; CLI-made watchlists are kept."""
    existing = {
        watchlist.name: watchlist
        for watchlist in session.scalars(select(Watchlist).options(selectinload("*")))
    }
    for position, entry in enumerate(settings.watchlists):
        for number, query in enumerate(entry.queries):
            try:
                compile_query(
                    query,
                    slop=entry.slop,
                    synonyms=Synonyms([*settings.matching.synonym_groups, *entry.synonyms]),
                )
            except QuerySyntaxError as exc:
                raise ConfigError(
                    f'{settings.config_path}: watchlists[{position}] ("{entry.name}")'
                    f".queries[{number}]: {exc}"
                ) from None
        watchlist = existing.pop(entry.name, None)
        if watchlist is None:
            watchlist = Watchlist(name=entry.name, created_at=now, updated_at=now)
            session.add(watchlist)
        routes = [Route.from_settings(route) for route in entry.all_routes]
        _assign(watchlist, entry.queries, routes, now)
        groups = [list(group) for group in entry.synonyms] or None
        if (
            watchlist.enabled != entry.enabled
            or watchlist.slop != entry.slop
            or watchlist.synonyms != groups
            or watchlist.urgent != entry.urgent
        ):
            watchlist.enabled = entry.enabled
            watchlist.slop = entry.slop
            watchlist.synonyms = groups
            watchlist.urgent = entry.urgent
            watchlist.updated_at = now
        watchlist.origin = "settings"
    for watchlist in existing.values():
        if watchlist.origin == "settings":
            session.delete(watchlist)
    session.flush()
    _align_marks(session, now)


def _align_marks(session: Session, now: datetime) -> None:
    """Give each new digest route its mark (``now``: its first digest covers the matches
    from here on, none before), and drop the marks of routes that are no longer digests
    (made a digest again, a route starts afresh, not from a mark left long ago)."""
    digests = select(WatchlistChannel.watchlist_id, WatchlistChannel.channel).where(
        WatchlistChannel.mode == "digest"
    )
    session.execute(
        delete(DigestMark)
        .where(tuple_(DigestMark.watchlist_id, DigestMark.channel).not_in(digests))
        .execution_options(synchronize_session=False)
    )
    marks = DigestMark.__table__
    postgres = session.get_bind().dialect.name == "postgresql"
    missing = digests.add_columns(literal(now, UTCDateTime()).label("last_fire_at")).where(
        tuple_(WatchlistChannel.watchlist_id, WatchlistChannel.channel).not_in(
            select(DigestMark.watchlist_id, DigestMark.channel)
        )
    )
    # Another instance starting at the same moment may add them first.
    session.execute(
        (postgresql.insert(marks) if postgres else sqlite.insert(marks))
        .from_select(["watchlist_id", "channel", "last_fire_at"], missing)
        .on_conflict_do_nothing(index_elements=["watchlist_id", "channel"])
    )


def _instant(channels: Iterable[str]) -> list[Route]:
    return [Route(channel=name) for name in sorted(set(channels))]


def _assign(watchlist: Watchlist, queries: list[str], routes: list[Route], now: datetime) -> None:
    current_queries = [query.text for query in watchlist.queries]
    current_routes = sorted((Route.of_row(row) for row in watchlist.channels), key=_by_channel)
    wanted = sorted(routes, key=_by_channel)
    if current_queries == list(queries) and current_routes == wanted:
        return
    watchlist.queries = [
        WatchlistQuery(position=position, text=text) for position, text in enumerate(queries)
    ]
    watchlist.channels = [route.to_row() for route in wanted]
    watchlist.updated_at = now


def _by_channel(route: Route) -> str:
    return route.channel


def add_watchlist(
    session: Session,
    *,
    name: str,
    queries: list[str],
    channels: list[str],
    settings: Settings,
    now: datetime,
    slop: int | None = None,
) -> WatchlistInfo:
    """Create a watchlist, or add queries to an existing one made by the CLI."""
    if not queries:
        raise InvalidRequest("give at least one query")
    if slop is not None and not 0 <= slop <= 10:
        raise InvalidRequest(f"slop must be from 0 to 10, not {slop}")
    for query in queries:
        compile_query(query)
    known_channels = {channel.name for channel in settings.channels}
    for channel in channels:
        if channel not in known_channels:
            known = ", ".join(sorted(known_channels)) or "none defined"
            raise NotFound(f"unknown channel {channel!r} (channels in settings: {known})")
    watchlist = _get(session, name)
    if watchlist is None:
        watchlist = Watchlist(
            name=name,
            origin="cli",
            enabled=True,
            slop=DEFAULT_SLOP if slop is None else slop,
            created_at=now,
            updated_at=now,
        )
        session.add(watchlist)
        _assign(watchlist, queries, _instant(channels), now)
    else:
        if watchlist.origin == "settings":
            raise Conflict(
                f"watchlist {name!r} is defined in {settings.config_path}; edit it there"
            )
        merged = [q.text for q in watchlist.queries]
        merged += [query for query in queries if query not in merged]
        merged_channels = {c.channel for c in watchlist.channels} | set(channels)
        _assign(watchlist, merged, _instant(merged_channels), now)
        if slop is not None and slop != watchlist.slop:
            watchlist.slop = slop
            watchlist.updated_at = now
    session.flush()
    return _info(watchlist)


def save_watchlist(
    session: Session,
    *,
    name: str,
    queries: list[str],
    channels: list[str],
    settings: Settings,
    now: datetime,
    slop: int = DEFAULT_SLOP,
    synonyms: list[list[str]] | None = None,
    enabled: bool = True,
    create: bool,
) -> WatchlistInfo:
    """Create a watchlist (``create``) or replace everything about one: what the web
    page's form saves. A watchlist from settings.toml is edited in the file only."""
    queries = [query.strip() for query in queries if query.strip()]
    if not queries:
        raise InvalidRequest("give at least one query")
    if not name.strip() or len(name) > 200:
        raise InvalidRequest("a watchlist's name is 1 to 200 characters")
    if not 0 <= slop <= 10:
        raise InvalidRequest(f"slop must be from 0 to 10, not {slop}")
    groups = [[member.strip() for member in group if member.strip()] for group in synonyms or []]
    groups = [group for group in groups if group]
    for group in groups:
        if len(group) < 2:
            raise InvalidRequest(f"a synonym group needs at least two members: {group[0]!r}")
    for query in queries:
        compile_query(
            query, slop=slop, synonyms=Synonyms([*settings.matching.synonym_groups, *groups])
        )
    known_channels = {channel.name for channel in settings.effective_channels()}
    for channel in channels:
        if channel not in known_channels:
            known = ", ".join(sorted(known_channels))
            raise NotFound(f"unknown channel {channel!r} (channels in settings: {known})")
    watchlist = _get(session, name)
    if create:
        if watchlist is not None:
            raise Conflict(f"a watchlist named {name!r} exists already")
        watchlist = Watchlist(name=name, origin="web", created_at=now, updated_at=now)
        session.add(watchlist)
    elif watchlist is None:
        raise NotFound(f"no watchlist named {name!r}")
    elif watchlist.origin == "settings":
        raise Conflict(f"watchlist {name!r} is defined in {settings.config_path}; edit it there")
    _assign(watchlist, queries, _instant(channels), now)
    watchlist.enabled = enabled
    watchlist.slop = slop
    watchlist.synonyms = groups or None
    watchlist.updated_at = now
    session.flush()
    return _info(watchlist)


def remove_watchlist(session: Session, name: str, settings: Settings) -> None:
    watchlist = _get(session, name)
    if watchlist is None:
        raise NotFound(f"no watchlist named {name!r}")
    if watchlist.origin == "settings":
        raise Conflict(f"watchlist {name!r} is defined in {settings.config_path}; remove it there")
    session.delete(watchlist)


def list_watchlists(session: Session) -> list[WatchlistInfo]:
    query = select(Watchlist).options(selectinload("*")).order_by(Watchlist.name)
    return [_info(watchlist) for watchlist in session.scalars(query)]


def _get(session: Session, name: str) -> Watchlist | None:
    return session.scalar(
        select(Watchlist).options(selectinload("*")).where(Watchlist.name == name)
    )


def _info(watchlist: Watchlist) -> WatchlistInfo:
    return WatchlistInfo(
        id=watchlist.id,
        name=watchlist.name,
        queries=tuple(query.text for query in watchlist.queries),
        channels=tuple(channel.channel for channel in watchlist.channels),
        enabled=watchlist.enabled,
        origin=watchlist.origin,
        slop=watchlist.slop,
        synonyms=tuple(tuple(group) for group in watchlist.synonyms or ()),
        routes=tuple(Route.of_row(row) for row in watchlist.channels),
        urgent=watchlist.urgent,
    )


def get_watchlist(session: Session, name: str) -> WatchlistInfo:
    watchlist = _get(session, name)
    if watchlist is None:
        raise NotFound(f"no watchlist named {name!r}")
    return _info(watchlist)


def keep_out_of_collector() -> None:
    """Exempt what is alive now (above all the index just compiled) from garbage
    collection until the next recompile.

    A compiled index of 100,000 queries is millions of objects that live until the next
    recompile. Left in the collector, every full collection walks them all: measured
    with bench/matching_throughput.py, that costs 15-25% of matching time. Frozen
    objects are never freed, so each recompile first thaws the previous index (now
    garbage) and collects it before freezing the new one. The first compile has nothing
    to free, and its full collection would walk every object the imports made (a tenth
    of a ``rasid run --once`` with nothing new: docs/benchmarks.md).
    """
    if gc.get_freeze_count():
        gc.unfreeze()
        gc.collect()
    gc.freeze()


class SettingsFileWatch:
    """Notices when settings.toml changed on disk, so that its watchlists apply without
    a restart (the file is the only place to edit those).

    Only watchlists follow the file by themselves: a new source, channel or crawl
    setting waits for SIGHUP (Service.reload) or a restart, and :meth:`changed` says so
    in the log. A file that no longer loads is
    reported once per change, and the watchlists in use are kept.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._path = settings.config_path
        self._stamp = self._stat()

    def _stat(self) -> tuple[int, int] | None:
        if self._path is None:
            return None
        try:
            status = self._path.stat()
        except OSError:
            return None
        return status.st_mtime_ns, status.st_size

    def changed(self) -> Settings | None:
        """The file's new settings when it changed since the last call, else None."""
        stamp = self._stat()
        if stamp is None or stamp == self._stamp:
            return None
        self._stamp = stamp
        from monitor.config import load_settings

        try:
            fresh = load_settings(self._path)
        except ConfigError as exc:
            logger.error(
                "settings.toml changed but cannot be used (%s); the watchlists in use are kept", exc
            )
            return None
        for section in ("sources", "channels", "crawl", "alerts", "web", "database"):
            if getattr(fresh, section) != getattr(self._settings, section):
                logger.warning(
                    "settings.toml: [%s] changed; it applies on SIGHUP (`systemctl reload "
                    "rasid`) or at the next start (watchlists apply now)",
                    section,
                )
        return fresh


class WatchlistBook:
    """The compiled index of enabled watchlists, rebuilt only when the table changed."""

    def __init__(self, db: Database, synonyms: list[list[str]] | None = None) -> None:
        self._db = db
        self._groups = list(synonyms or [])
        self._synonyms = Synonyms(self._groups)
        self._signature: tuple[object, ...] | None = None
        self._compiled = CompiledWatchlists(index=WatchlistIndex([]))

    @property
    def current(self) -> CompiledWatchlists:
        return self._compiled

    def refresh(self) -> bool:
        """Recompile if any watchlist was added, changed or removed; True if it did."""
        with self._db.transaction() as session:
            watchlist_state = session.execute(
                select(
                    func.count(Watchlist.id),
                    func.max(Watchlist.updated_at),
                    func.sum(Watchlist.id),
                )
            ).one()
            query_count = session.scalar(select(func.count(WatchlistQuery.id)))
            signature = (*watchlist_state, query_count)
            if signature == self._signature:
                return False
            infos = [info for info in list_watchlists(session) if info.enabled]
        self._compiled = CompiledWatchlists(
            index=WatchlistIndex(self._entries(infos)), by_name={info.name: info for info in infos}
        )
        self._signature = signature
        keep_out_of_collector()
        return True

    def _entries(self, infos: list[WatchlistInfo]) -> list[CompiledEntry]:
        """Every query compiled; one that no longer parses (saved by an older version)
        is skipped with a warning rather than stopping all matching."""
        entries = []
        for info in infos:
            synonyms = self._synonyms
            if info.synonyms:
                synonyms = Synonyms([*self._groups, *info.synonyms])
            for query in info.queries:
                try:
                    tree = parse_query(query, slop=info.slop, synonyms=synonyms)
                except QuerySyntaxError as exc:
                    logger.warning("watchlist %r: query skipped: %s", info.name, exc)
                    continue
                entries.append(CompiledEntry(info.name, query, tree))
        return entries
