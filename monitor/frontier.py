"""The frontier: feed entries a poll found whose articles are not stored yet.

Guarantees:

* A new entry is written in the transaction that records the poll that found it
  (:func:`discover`): a poll never counts as done while its entries live only in the
  crawler's memory, so a crash (kill -9, out of memory, power loss) between a feed and
  its article pages loses none of them, even when the feed's bytes never change again.
  A source whose pages are not fetched (``pages = false``) skips the frontier: its new
  entries' articles are stored in the transaction that records the poll
  (``monitor.service``), which is stronger still; an entry that fails to store that
  way is queued here as any other.
* An entry leaves the frontier in the transaction that stores its article (:func:`done`,
  called by ``monitor.ingest``), or when it is given up.
* A process owns an entry only through a lease (``claimed_until``) under its instance
  token, renewed (:func:`renew`) while the page is in flight. Claims are short
  transactions under ``FOR UPDATE SKIP LOCKED``: instances sharing a PostgreSQL never
  claim one entry together, and one that dies leaves its entries to the others when its
  leases run out. Each claim counts an attempt; an entry claimed ``max_attempts`` times
  without being stored is ``failed`` instead of claimed again (a page that kills the
  process every time must not kill it forever), shown by ``rasid status`` and queued
  again by :func:`retry_failed`.
* One poll queues at most ``limit`` new entries, newest first; the rest are counted,
  not fetched (a feed listing 20,000 "new" items must not start 20,000 downloads).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, case, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from crawler.items import FeedEntry
from crawler.sink import DueSource, PageWork
from monitor.db.models import DedupKey, FrontierEntry, Source
from monitor.db.session import Database
from monitor.dedup import entry_keys
from monitor.sources import due_source

PENDING, FAILED = "pending", "failed"
# Waits before fetching a page again after a transient failure (a timeout, a 503); when
# they are used up, the article is stored from the feed's own text instead.
PAGE_RETRY_DELAYS = (timedelta(seconds=30), timedelta(minutes=2))
# Keys per IN (...) probe: far below every engine's limit on bound parameters.
PROBE_CHUNK = 500
MAX_ERROR = 2000
_OLDEST = datetime.min.replace(tzinfo=UTC)

_TABLE = FrontierEntry.__table__
_RETURNING = (FrontierEntry.id, FrontierEntry.entry_key)
_DELETE = delete(_TABLE).where(_TABLE.c.id == bindparam("frontier_id"))


@dataclass(frozen=True)
class Discovery:
    """What one document's entries gave: the new ones (claimed), and what was dropped."""

    work: list[PageWork]
    over_cap: int = 0  # new entries beyond the per-poll limit, not queued
    unusable: int = 0  # entries with no link, title or summary: nothing to store
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FrontierCounts:
    pending: int
    failed: int


@dataclass(frozen=True)
class FailedEntry:
    id: int
    source: str
    url: str | None
    title: str
    attempts: int
    last_error: str | None
    discovered_at: datetime


def discover(
    connection: Connection,
    source: DueSource,
    entries: Sequence[FeedEntry],
    *,
    feed_url: str,
    now: datetime,
    token: str | None,
    lease: timedelta,
    limit: int,
) -> Discovery:
    """Queue the entries not seen before (no stored article, not already queued) in the
    caller's transaction, claimed for ``token``; return them as work for the crawler.
    With no token (a process that is stopping) they are queued unclaimed, for whoever
    runs next."""
    found = new_entries(connection, entries, feed_url=feed_url, limit=limit)
    rows = [
        {
            "source_id": source.id,
            "entry_key": key,
            "url": entry.url,
            "guid": entry.guid,
            "title": entry.title,
            "summary": entry.summary,
            "content": entry.content,
            "author": entry.author,
            "published_at": entry.published_at,
            "feed_url": feed_url,
            "discovered_at": now,
            "state": PENDING,
            "attempts": 1 if token else 0,
            "claimed_until": now + lease if token else None,
            "lease_token": token,
        }
        for entry, key in found.entries
    ]
    ids = _insert_new(connection, rows)
    work = []
    if token is not None:
        work = [
            PageWork(ids[key], source, entry, feed_url)
            for entry, key in found.entries
            if key in ids
        ]
    return Discovery(work, found.over_cap, found.unusable, found.warnings)


@dataclass(frozen=True)
class NewEntries:
    """The entries of a document not seen before, newest first, each with its key."""

    entries: list[tuple[FeedEntry, str]]
    over_cap: int = 0  # new entries beyond the per-poll limit, dropped
    unusable: int = 0  # entries with no link, title or summary: nothing to store
    warnings: list[str] = field(default_factory=list)


def new_entries(
    connection: Connection, entries: Sequence[FeedEntry], *, feed_url: str, limit: int
) -> NewEntries:
    """The entries with no stored article and no queued entry, at most ``limit``."""
    usable = [entry for entry in entries if entry.url or entry.title or entry.summary]
    unusable = len(entries) - len(usable)
    keyed = [
        (
            entry,
            [
                key
                for _kind, key in entry_keys(
                    url=entry.url,
                    guid=entry.guid,
                    title=entry.title,
                    summary=entry.summary,
                    feed_url=feed_url,
                )
            ],
        )
        for entry in usable
    ]
    known = _known(connection, {key for _entry, keys in keyed for key in keys})
    fresh: list[tuple[FeedEntry, str]] = []
    for entry, keys in keyed:
        if known.isdisjoint(keys):
            known.update(keys)
            fresh.append((entry, keys[0]))
    # Newest first (undated entries after dated ones, in feed order): when a poll brings
    # more than the limit, the ones someone is waiting for are the ones kept.
    fresh.sort(key=lambda pair: pair[0].published_at or _OLDEST, reverse=True)
    over_cap = max(0, len(fresh) - limit)
    queued = fresh[:limit]
    warnings = []
    if over_cap:
        warnings.append(
            f"{len(fresh)} new entries in one poll: the newest {limit} were queued, "
            f"{over_cap} older ones skipped (crawl.max_new_entries)"
        )
    if unusable:
        warnings.append(f"{unusable} entries without link, title or summary skipped")
    return NewEntries(queued, over_cap, unusable, warnings)


def _known(connection: Connection, keys: set[str]) -> set[str]:
    """The keys already taken by a stored article or a queued entry."""
    found: set[str] = set()
    ordered = sorted(keys)
    for start in range(0, len(ordered), PROBE_CHUNK):
        chunk = ordered[start : start + PROBE_CHUNK]
        found.update(connection.scalars(select(DedupKey.key).where(DedupKey.key.in_(chunk))))
        found.update(
            connection.scalars(
                select(FrontierEntry.entry_key).where(FrontierEntry.entry_key.in_(chunk))
            )
        )
    return found


def _insert_new(connection: Connection, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert rows, skipping entries another instance queued meanwhile; key -> id of
    the rows this call inserted."""
    if not rows:
        return {}
    postgres = connection.dialect.name == "postgresql"
    statement = (
        (postgresql.insert(_TABLE) if postgres else sqlite.insert(_TABLE))
        .on_conflict_do_nothing(index_elements=["entry_key"])
        .returning(*_RETURNING)
    )
    return {key: row_id for row_id, key in connection.execute(statement, rows)}


def done(connection: Connection, frontier_ids: Sequence[int]) -> None:
    """The entries' articles are stored (or known): the entries leave, in that
    transaction."""
    if frontier_ids:
        connection.execute(_DELETE, [{"frontier_id": key} for key in frontier_ids])


def claim(
    db: Database,
    now: datetime,
    *,
    token: str,
    lease: timedelta,
    max_attempts: int,
    limit: int | None = 200,
) -> list[PageWork]:
    """Claim pending entries nobody holds (left by a crash, a failed store, or another
    instance's expired lease), oldest first; give up those out of attempts."""
    query = (
        select(FrontierEntry)
        .where(
            FrontierEntry.state == PENDING,
            or_(FrontierEntry.claimed_until.is_(None), FrontierEntry.claimed_until <= now),
        )
        .order_by(FrontierEntry.id)
    )
    if limit is not None:
        query = query.limit(limit)
    with db.transaction() as session:
        rows = session.scalars(query.with_for_update(skip_locked=True)).all()
        claimed = []
        for row in rows:
            row.claimed_until = None
            row.lease_token = None
            if row.attempts >= max_attempts:
                row.state = FAILED
                row.last_error = (
                    f"given up after {row.attempts} attempts: its page was claimed "
                    f"{row.attempts} times without its article being stored"
                    + (f"; last error: {row.last_error}" if row.last_error else "")
                )[:MAX_ERROR]
                continue
            row.attempts += 1
            row.claimed_until = now + lease
            row.lease_token = token
            claimed.append(row)
        sources = {
            source.id: due_source(source)
            for source in session.scalars(
                select(Source).where(Source.id.in_({row.source_id for row in claimed}))
            )
        }
        return [_work(row, sources[row.source_id]) for row in claimed]


def _work(row: FrontierEntry, source: DueSource) -> PageWork:
    entry = FeedEntry(
        url=row.url,
        guid=row.guid,
        title=row.title,
        summary=row.summary,
        author=row.author,
        published_at=row.published_at,
        content=row.content,
    )
    return PageWork(row.id, source, entry, row.feed_url, row.attempts)


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), PROBE_CHUNK):
        yield ordered[start : start + PROBE_CHUNK]


def renew(db: Database, ids: Iterable[int], *, token: str, now: datetime, lease: timedelta) -> None:
    """Extend this process's leases on the entries it still has in flight."""
    with db.connection() as connection:
        for chunk in _chunks(ids):
            connection.execute(
                update(_TABLE)
                .where(_TABLE.c.lease_token == token, _TABLE.c.id.in_(chunk))
                .values(claimed_until=now + lease)
            )


def release(db: Database, ids: Iterable[int], *, token: str) -> None:
    """Give back entries this process claimed and will not finish (a clean stop): the
    claim is not counted as an attempt."""
    with db.connection() as connection:
        for chunk in _chunks(ids):
            connection.execute(
                update(_TABLE)
                .where(_TABLE.c.lease_token == token, _TABLE.c.id.in_(chunk))
                .values(
                    claimed_until=None,
                    lease_token=None,
                    attempts=case((_TABLE.c.attempts > 0, _TABLE.c.attempts - 1), else_=0),
                )
            )


def release_stale(db: Database) -> int:
    """Free every claim (at the start of the only instance a SQLite file allows: any
    claim left is a dead process's). Returns how many were held."""
    with db.connection() as connection:
        return connection.execute(
            update(_TABLE)
            .where(_TABLE.c.state == PENDING, _TABLE.c.lease_token.is_not(None))
            .values(claimed_until=None, lease_token=None)
        ).rowcount


def record_failure(db: Database, frontier_id: int, *, token: str, error: str) -> None:
    """Storing the entry's article failed: keep why, and free it for the next claim."""
    with db.connection() as connection:
        connection.execute(
            update(_TABLE)
            .where(_TABLE.c.id == frontier_id, _TABLE.c.lease_token == token)
            .values(claimed_until=None, lease_token=None, last_error=error[:MAX_ERROR])
        )


def retry_page_later(
    db: Database, work: PageWork, *, token: str, now: datetime, error: str
) -> datetime | None:
    """After a transient page failure: free the entry, not claimable before a delay that
    grows with its attempts. None when the retries are used up (the caller stores the
    feed's text instead)."""
    if work.attempts > len(PAGE_RETRY_DELAYS):
        return None
    not_before = now + PAGE_RETRY_DELAYS[work.attempts - 1]
    with db.connection() as connection:
        connection.execute(
            update(_TABLE)
            .where(_TABLE.c.id == work.frontier_id, _TABLE.c.lease_token == token)
            # An entry without a token is not claimed before its claimed_until passes.
            .values(claimed_until=not_before, lease_token=None, last_error=error[:MAX_ERROR])
        )
    return not_before


def retry_failed(db: Database, ids: list[int] | None = None) -> int:
    """Queue given-up entries (all, or those ids) again with fresh attempts."""
    statement = update(_TABLE).where(_TABLE.c.state == FAILED)
    if ids is not None:
        statement = statement.where(_TABLE.c.id.in_(ids))
    with db.connection() as connection:
        return connection.execute(
            statement.values(state=PENDING, attempts=0, claimed_until=None, lease_token=None)
        ).rowcount


def states_of(connection: Connection, ids: Sequence[int]) -> dict[int, str]:
    """The state of each of these entries that exists, by id."""
    rows = connection.execute(
        select(FrontierEntry.id, FrontierEntry.state).where(FrontierEntry.id.in_(ids))
    )
    return {entry_id: state for entry_id, state in rows}


def counts(connection: Connection) -> FrontierCounts:
    found: dict[str, int] = dict(
        connection.execute(
            select(FrontierEntry.state, func.count(FrontierEntry.id)).group_by(FrontierEntry.state)
        ).all()
    )
    return FrontierCounts(pending=found.get(PENDING, 0), failed=found.get(FAILED, 0))


def list_failed(connection: Connection, limit: int = 100) -> list[FailedEntry]:
    rows = connection.execute(
        select(
            FrontierEntry.id,
            Source.name,
            FrontierEntry.url,
            FrontierEntry.title,
            FrontierEntry.attempts,
            FrontierEntry.last_error,
            FrontierEntry.discovered_at,
        )
        .join(Source, Source.id == FrontierEntry.source_id)
        .where(FrontierEntry.state == FAILED)
        .order_by(FrontierEntry.id)
        .limit(limit)
    )
    return [FailedEntry(*row) for row in rows]
