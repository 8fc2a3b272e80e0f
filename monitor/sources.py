"""Which sources exist, which are due, and what their last poll said.

Per-source timing lives in the database (``next_poll_at``), not in the scheduler, so it
survives restarts and several instances can share one PostgreSQL: a due source is
claimed with a lease (``claimed_until``) under ``FOR UPDATE SKIP LOCKED`` and is polled
by exactly one of them. How the next poll is chosen (adaptive intervals, backoff,
Retry-After, pausing) is :mod:`monitor.polling`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple, cast

from sqlalchemy import Connection, Row, bindparam, or_, select, update
from sqlalchemy.orm import Session

from crawler.sink import DueSource, PollOutcome
from monitor.config import Settings, SourceKind, SourceSettings
from monitor.db.models import Source
from monitor.db.session import Database
from monitor.dedup import canonical_url
from monitor.errors import Conflict, InvalidRequest, NetworkGuardError, NotFound
from monitor.polling import MAX_RETRY_AFTER, PollingPolicy, jittered

MAX_MESSAGE = 2000
# A name given to `rasid sources add`: it is typed in commands and shown in alerts.
_SLUG = re.compile(r"[a-z0-9_-]{1,100}")

# "paused": not polled until resumed (by hand, or after too many failures);
# "disabled": ``enabled = false`` in settings.toml, or removed from it.
SourceState = Literal["active", "paused", "disabled"]


@dataclass(frozen=True)
class SourceStatus:
    name: str
    url: str
    enabled: bool
    state: SourceState
    origin: str
    interval: timedelta
    last_polled_at: datetime | None
    last_success_at: datetime | None
    last_status: str | None
    last_error: str | None
    last_warning: str | None
    failure_count: int
    next_poll_at: datetime
    entries_seen: int
    articles_stored: int
    paused_at: datetime | None = None
    paused_reason: str | None = None
    extraction_fallbacks: int = 0
    mojibake_polls: int = 0
    entries_unusable: int = 0
    entries_over_cap: int = 0


def sync_sources(session: Session, settings: Settings, now: datetime) -> None:
    """Make the sources table follow settings.toml; sources added by the CLI are kept.

    A source removed from the file is disabled rather than deleted, so its articles keep
    their origin and re-adding it resumes its state.
    """
    existing = {source.name: source for source in session.scalars(select(Source))}
    default = settings.crawl.default_interval
    for entry in settings.sources:
        interval = int((entry.interval or default).total_seconds())
        source = existing.pop(entry.name, None)
        if source is None:
            session.add(
                Source(
                    name=entry.name,
                    url=entry.url,
                    kind=entry.kind,
                    links=entry.links,
                    interval_pinned=entry.interval is not None,
                    obey_robots=_robots(entry, settings),
                    fetch_pages=_pages(entry, settings),
                    origin="settings",
                    enabled=entry.enabled,
                    interval_seconds=interval,
                    next_poll_at=now,
                    created_at=now,
                )
            )
            continue
        if source.url != entry.url:
            source.etag = source.last_modified = source.body_hash = None
            source.next_poll_at = now
        if (source.kind, source.links) != (entry.kind, entry.links):
            source.body_hash = None  # the same bytes may now give other entries
        source.url, source.kind, source.enabled = entry.url, entry.kind, entry.enabled
        source.links = entry.links
        source.obey_robots = _robots(entry, settings)
        source.fetch_pages = _pages(entry, settings)
        if source.interval_pinned != (entry.interval is not None) or (
            entry.interval is not None and source.interval_seconds != interval
        ):
            source.current_interval_seconds = None  # start adapting afresh
        source.interval_pinned = entry.interval is not None
        source.interval_seconds, source.origin = interval, "settings"
    for source in existing.values():
        if source.origin == "settings":
            source.enabled = False
            source.origin = "removed"


def _robots(entry: SourceSettings, settings: Settings) -> bool:
    return settings.crawl.obey_robots if entry.robots is None else entry.robots


def _pages(entry: SourceSettings, settings: Settings) -> bool:
    return settings.crawl.pages if entry.pages is None else entry.pages


def check_new_source(
    session: Session,
    *,
    name: str,
    url: str,
    interval: timedelta | None,
    settings: Settings,
) -> None:
    """Refuse a source that ``add_source`` would refuse, before anything is fetched: a
    name that is no slug or is taken, a URL already polled (compared canonically) or
    refused by the network guard, an interval below ``crawl.min_interval``."""
    if not _SLUG.fullmatch(name):
        raise InvalidRequest(
            f"a source name is a slug of lowercase letters, digits, '-' and '_' "
            f"(as bbc-arabic), not {name!r}"
        )
    minimum = settings.crawl.min_interval
    if interval is not None and interval < minimum:
        raise InvalidRequest(
            f"an interval of {shown_duration(interval)} is below crawl.min_interval "
            f"({shown_duration(minimum)}); poll less often, or lower the minimum in "
            f"{settings.config_path or 'settings.toml'}"
        )
    try:
        settings.crawl.network_policy.check_url(url)
    except NetworkGuardError as exc:
        raise InvalidRequest(str(exc)) from None
    if session.scalar(select(Source.id).where(Source.name == name)) is not None:
        raise Conflict(f"a source named {name!r} already exists")
    wanted = canonical_url(url)
    for other, other_url in session.execute(select(Source.name, Source.url)):
        if canonical_url(other_url) == wanted:
            raise Conflict(f"source {other!r} already polls {other_url}")


def add_source(
    session: Session,
    *,
    name: str,
    url: str,
    interval: timedelta | None,
    settings: Settings,
    now: datetime,
) -> SourceStatus:
    """Add a source from the CLI (or the web page), after :func:`check_new_source`."""
    check_new_source(session, name=name, url=url, interval=interval, settings=settings)
    source = Source(
        name=name,
        url=url,
        kind="auto",
        origin="cli",
        enabled=True,
        interval_seconds=int((interval or settings.crawl.default_interval).total_seconds()),
        interval_pinned=interval is not None,
        next_poll_at=now,
        created_at=now,
    )
    session.add(source)
    session.flush()
    return _status(source)


def remove_source(session: Session, name: str, settings: Settings) -> None:
    """Delete a source added with ``add_source`` (its stored articles are kept, without
    it); one defined in settings.toml is removed from that file instead."""
    source = _named(session, name)
    if source.origin == "settings":
        raise Conflict(
            f"source {name!r} is defined in {settings.config_path or 'settings.toml'}; "
            "remove it from that file (or set enabled = false there)"
        )
    session.delete(source)


def shown_duration(value: timedelta) -> str:
    """A duration as settings.toml spells one: "90s", "15m", "1h30m", "2d"."""
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


_COLUMNS = Source.__table__.c
# What a poll needs of its source (DueSource), read without loading ORM objects: a tick
# claims up to a thousand sources.
_DUE = (
    _COLUMNS.id,
    _COLUMNS.name,
    _COLUMNS.url,
    _COLUMNS.kind,
    _COLUMNS.links,
    _COLUMNS.obey_robots,
    _COLUMNS.interval_seconds,
    _COLUMNS.fetch_pages,
    _COLUMNS.current_interval_seconds,
    _COLUMNS.interval_pinned,
    _COLUMNS.etag,
    _COLUMNS.last_modified,
    _COLUMNS.body_hash,
)
# One statement per claimed source, sent as one executemany (no IN list, whose bound
# parameters SQLite caps, when `run --once` claims every source).
_CLAIM = (
    update(Source.__table__)
    .where(_COLUMNS.id == bindparam("source_id"))
    .values(claimed_until=bindparam("until"), claimed_by=bindparam("token"))
)


def claim_due(
    db: Database,
    now: datetime,
    *,
    lease: timedelta,
    token: str | None = None,
    everything: bool = False,
    ignore_leases: bool = False,
    limit: int | None = 1000,
) -> list[DueSource]:
    """Claim the sources due now (or every enabled one) for one poll each, for the
    instance whose ``token`` is given (``rasid status`` shows what each holds); at most
    ``limit`` per call (a tick takes the rest at the next tick)."""
    query = select(*_DUE).where(_COLUMNS.enabled.is_(True), _COLUMNS.paused_at.is_(None))
    if not ignore_leases:
        query = query.where(or_(_COLUMNS.claimed_until.is_(None), _COLUMNS.claimed_until < now))
    if not everything:
        query = query.where(_COLUMNS.next_poll_at <= now)
    query = query.order_by(_COLUMNS.next_poll_at, _COLUMNS.id)
    if limit is not None:
        query = query.limit(limit)
    with db.connection() as connection:
        rows = connection.execute(query.with_for_update(skip_locked=True)).all()
        if rows:
            until = now + lease
            connection.execute(
                _CLAIM, [{"source_id": row.id, "until": until, "token": token} for row in rows]
            )
        return [due_source(row) for row in rows]


def due_source(source: Source | Row[Any]) -> DueSource:
    """What the crawler needs of a source (its row, or the columns of :data:`_DUE`) to
    poll it or fetch its entries' pages."""
    return DueSource(
        id=source.id,
        name=source.name,
        url=source.url,
        kind=cast(SourceKind, source.kind),  # written from SourceSettings.kind, or "auto"
        links=source.links,
        obey_robots=source.obey_robots,
        pages=source.fetch_pages,
        # The interval in force (Source.interval_now): the adapted one, else the start.
        interval_seconds=source.current_interval_seconds or source.interval_seconds,
        interval_pinned=source.interval_pinned,
        etag=source.etag,
        last_modified=source.last_modified,
        body_hash=source.body_hash,
    )


def release_claims(db: Database, source_ids: list[int]) -> None:
    """Give back claims of polls that will not finish (clean shutdown)."""
    if not source_ids:
        return
    with db.connection() as connection:
        connection.execute(
            _CLAIM, [{"source_id": id_, "until": None, "token": None} for id_ in source_ids]
        )


# Built once: a cycle records thousands of successful polls with it.
_RECORD_SUCCESS = (
    update(Source.__table__)
    .where(_COLUMNS.id == bindparam("source_id"))
    .values(
        claimed_until=None,
        claimed_by=None,
        last_polled_at=bindparam("now"),
        last_status=bindparam("status"),
        failure_count=0,
        last_error=None,
        last_success_at=bindparam("now"),
        last_warning=bindparam("warning"),
        etag=bindparam("etag"),
        last_modified=bindparam("last_modified"),
        body_hash=bindparam("body_hash"),
        entries_seen=_COLUMNS.entries_seen + bindparam("new_entries"),
        mojibake_polls=_COLUMNS.mojibake_polls + bindparam("mojibake"),
        entries_unusable=_COLUMNS.entries_unusable + bindparam("unusable"),
        entries_over_cap=_COLUMNS.entries_over_cap + bindparam("over_cap"),
        current_interval_seconds=bindparam("interval"),
        next_poll_at=bindparam("next_poll"),
    )
)


def record_poll(
    db: Database,
    source: DueSource,
    outcome: PollOutcome,
    now: datetime,
    *,
    policy: PollingPolicy,
    rng: random.Random,
) -> None:
    """Store a poll's outcome and schedule the next poll (adapting, backing off, pausing)."""
    if outcome.status == "error":
        _record_error(db, source.id, outcome, now, policy)
        return
    with db.connection() as connection:
        record_success(connection, source, outcome, now, policy=policy, rng=rng)


def record_success(
    connection: Connection,
    source: DueSource,
    outcome: PollOutcome,
    now: datetime,
    *,
    policy: PollingPolicy,
    rng: random.Random,
    unusable: int = 0,
    over_cap: int = 0,
) -> None:
    """A poll that got an answer (parsed or unchanged), in the caller's transaction: the
    common case, thousands of times per cycle, so one UPDATE and no read."""
    connection.execute(
        _RECORD_SUCCESS,
        _success(source, outcome, now, policy, rng, unusable=unusable, over_cap=over_cap),
    )


class UnchangedPoll(NamedTuple):
    """A poll that found nothing new (a 304, or the same bytes), and when it ended."""

    source: DueSource
    outcome: PollOutcome
    at: datetime


def record_unchanged(
    db: Database, polls: list[UnchangedPoll], *, policy: PollingPolicy, rng: random.Random
) -> None:
    """Record many unchanged polls in one transaction, one executemany: most polls of a
    running service find nothing new, and a commit each was most of their cost."""
    if not polls:
        return
    with db.connection() as connection:
        connection.execute(
            _RECORD_SUCCESS,
            [_success(poll.source, poll.outcome, poll.at, policy, rng) for poll in polls],
        )


def _success(
    source: DueSource,
    outcome: PollOutcome,
    now: datetime,
    policy: PollingPolicy,
    rng: random.Random,
    *,
    unusable: int = 0,
    over_cap: int = 0,
) -> dict[str, object]:
    """The parameters of :data:`_RECORD_SUCCESS` for one poll."""
    interval = policy.next_interval(
        timedelta(seconds=source.interval_seconds),
        outcome.new_entries,
        pinned=source.interval_pinned,
    )
    mojibake = any("mojibake" in warning for warning in outcome.warnings)
    return {
        "source_id": source.id,
        "now": now,
        "status": outcome.status,
        "warning": "; ".join(outcome.warnings)[:MAX_MESSAGE] or None,
        "etag": outcome.etag,
        "last_modified": outcome.last_modified,
        "body_hash": outcome.body_hash,
        "new_entries": outcome.new_entries,
        "mojibake": int(mojibake),
        "unusable": unusable,
        "over_cap": over_cap,
        "interval": int(interval.total_seconds()),
        "next_poll": jittered(now, interval, rng),
    }


_COUNT_DROPPED = (
    update(Source.__table__)
    .where(_COLUMNS.id == bindparam("source_id"))
    .values(
        entries_unusable=_COLUMNS.entries_unusable + bindparam("unusable"),
        entries_over_cap=_COLUMNS.entries_over_cap + bindparam("over_cap"),
    )
)


def count_dropped(connection: Connection, source_id: int, *, unusable: int, over_cap: int) -> None:
    """Entries of a document read outside a poll (a child sitemap) that were dropped."""
    if unusable or over_cap:
        connection.execute(
            _COUNT_DROPPED, {"source_id": source_id, "unusable": unusable, "over_cap": over_cap}
        )


def _record_error(
    db: Database, source_id: int, outcome: PollOutcome, now: datetime, policy: PollingPolicy
) -> None:
    with db.transaction() as session:
        source = session.get(Source, source_id)
        if source is None:
            return
        source.claimed_until = None
        source.claimed_by = None
        source.last_polled_at = now
        source.last_status = outcome.status
        interval = source.interval_now
        source.failure_count += 1
        source.last_error = (outcome.error or "unknown error")[:MAX_MESSAGE]
        delay = policy.error_delay(interval, source.failure_count, outcome.retry_after)
        source.next_poll_at = now + delay
        if outcome.retry_after:
            asked = timedelta(seconds=round(outcome.retry_after))
            capped = " (capped)" if asked > MAX_RETRY_AFTER else ""
            source.last_error += (
                f"; Retry-After {min(asked, MAX_RETRY_AFTER)}{capped} honoured: next poll "
                f"not before {source.next_poll_at:%Y-%m-%d %H:%M:%S} UTC"
            )
        if policy.should_pause(source.failure_count):
            source.paused_at = now
            source.paused_reason = (
                f"paused after {source.failure_count} consecutive failures; last: "
                f"{source.last_error}"
            )[:MAX_MESSAGE]


def set_paused(session: Session, name: str, paused: bool, now: datetime) -> SourceStatus:
    """Pause a source by hand, or resume one (paused by hand or after failures)."""
    source = _named(session, name)
    if paused:
        source.paused_at = now
        source.paused_reason = "paused by hand"
    else:
        _resume(source, now)
    return _status(source)


def resume_all(session: Session, now: datetime) -> list[str]:
    """Resume every paused source; the names resumed, in order."""
    paused = session.scalars(
        select(Source).where(Source.paused_at.is_not(None)).order_by(Source.name)
    ).all()
    for source in paused:
        _resume(source, now)
    return [source.name for source in paused]


def _resume(source: Source, now: datetime) -> None:
    source.paused_at = None
    source.paused_reason = None
    source.failure_count = 0
    source.next_poll_at = now


def _named(session: Session, name: str) -> Source:
    source = session.scalar(select(Source).where(Source.name == name))
    if source is None:
        known = ", ".join(session.scalars(select(Source.name).order_by(Source.name))) or "none"
        raise NotFound(f"no source named {name!r} (sources: {known})")
    return source


def list_sources(session: Session) -> list[SourceStatus]:
    return [_status(source) for source in session.scalars(select(Source).order_by(Source.name))]


def _status(source: Source) -> SourceStatus:
    state: SourceState = "active"
    if not source.enabled:
        state = "disabled"
    elif source.paused_at is not None:
        state = "paused"
    return SourceStatus(
        name=source.name,
        url=source.url,
        enabled=source.enabled,
        state=state,
        origin=source.origin,
        interval=source.interval_now,
        last_polled_at=source.last_polled_at,
        last_success_at=source.last_success_at,
        last_status=source.last_status,
        last_error=source.last_error,
        last_warning=source.last_warning,
        failure_count=source.failure_count,
        next_poll_at=source.next_poll_at,
        entries_seen=source.entries_seen,
        articles_stored=source.articles_stored,
        paused_at=source.paused_at,
        paused_reason=source.paused_reason,
        extraction_fallbacks=source.extraction_fallbacks,
        mojibake_polls=source.mojibake_polls,
        entries_unusable=source.entries_unusable,
        entries_over_cap=source.entries_over_cap,
    )
