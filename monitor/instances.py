"""The running services: who is alive, what each holds, and taking over from the dead.

Several ``rasid run`` processes may share one PostgreSQL. Each writes a row at start
(its lease token, host and pid), refreshes it on a heartbeat and deletes it at a clean
stop. Work is split between them by leases on rows (sources, frontier entries, alerts);
a lease runs out by itself, so an instance that dies without a word (``kill -9``, a
lost machine) never holds work for longer than one lease. The heartbeat shortens that
for sources and frontier entries, whose leases name their instance: once an instance has
missed :data:`MISSED_BEATS` heartbeats, the next living instance to beat gives its
claims back at once. Alert leases are per claim and simply run out (a send may still be
under way in a process that is slow rather than dead).

``rasid status`` reads :func:`alive` to show the instances and what each holds.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import metadata

from sqlalchemy import Connection, delete, func, select, update

from monitor.db.models import FrontierEntry, Instance, Source
from monitor.db.session import Database

logger = logging.getLogger(__name__)

HEARTBEAT = timedelta(seconds=5)
# Heartbeats an instance may miss before the others count it dead.
MISSED_BEATS = 3
# A dead instance's row is kept this long, so `rasid status` can say it went away.
FORGET_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class InstanceView:
    """An instance as `rasid status` shows it."""

    token: str
    host: str
    pid: int
    version: str
    started_at: datetime
    seen_at: datetime
    alive: bool
    stopping: bool
    sources: int  # polls it has claimed and not recorded
    pages: int  # frontier entries it is fetching
    alerts: int  # alerts it was sending at its last heartbeat


def dead_after(heartbeat: timedelta = HEARTBEAT) -> timedelta:
    return heartbeat * MISSED_BEATS


def register(db: Database, token: str, now: datetime) -> None:
    """Say this process is alive (at start)."""
    with db.transaction() as session:
        session.add(_row(token, now))


def _row(token: str, now: datetime) -> Instance:
    try:
        version = metadata.version("rasid")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return Instance(
        token=token,
        host=socket.gethostname()[:255],
        pid=os.getpid(),
        version=version[:40],
        started_at=now,
        seen_at=now,
    )


def beat(
    db: Database,
    token: str,
    now: datetime,
    *,
    alerts_in_flight: int = 0,
    heartbeat: timedelta = HEARTBEAT,
) -> list[str]:
    """Refresh this instance's row, and give back the claims of instances that missed
    their heartbeats; returns the tokens of those found dead just now.

    The row is written again if it went missing (a database restored from a backup, a
    `rasid db prune` run by hand), so a living instance is never shown as gone.
    """
    stale = now - dead_after(heartbeat)
    with db.transaction() as session:
        found = session.execute(
            update(Instance)
            .where(Instance.token == token)
            .values(seen_at=now, alerts_in_flight=alerts_in_flight)
        )
        if not found.rowcount:  # type: ignore[attr-defined]
            session.add(_row(token, now))
        dead = list(
            session.scalars(
                select(Instance.token).where(Instance.seen_at < stale, Instance.token != token)
            )
        )
        if dead:
            _give_back(session.connection(), dead)
        session.execute(delete(Instance).where(Instance.seen_at < now - FORGET_AFTER))
    for gone in dead:
        logger.debug("instance %s missed its heartbeats; its claims are free", gone)
    return dead


def _give_back(connection: Connection, tokens: list[str]) -> None:
    """Free the polls and frontier entries claimed by these (dead) instances."""
    connection.execute(
        update(Source)
        .where(Source.claimed_by.in_(tokens))
        .values(claimed_until=None, claimed_by=None)
    )
    connection.execute(
        update(FrontierEntry)
        .where(FrontierEntry.lease_token.in_(tokens))
        .values(claimed_until=None, lease_token=None)
    )


def mark_stopping(db: Database, token: str) -> None:
    with db.transaction() as session:
        session.execute(update(Instance).where(Instance.token == token).values(stopping=True))


def retire(db: Database, token: str) -> None:
    """Remove this instance's row (a clean stop: its claims were given back)."""
    with db.transaction() as session:
        session.execute(delete(Instance).where(Instance.token == token))


def alive(
    connection: Connection, now: datetime, *, heartbeat: timedelta = HEARTBEAT
) -> list[InstanceView]:
    """Every instance with a row, the living first, with what each holds now."""
    table = Instance.__table__
    rows = connection.execute(select(table).order_by(table.c.started_at)).all()
    if not rows:
        return []
    tokens = [row.token for row in rows]
    sources: dict[str | None, int] = {
        token: count
        for token, count in connection.execute(
            select(Source.claimed_by, func.count())
            .where(Source.claimed_by.in_(tokens), Source.claimed_until > now)
            .group_by(Source.claimed_by)
        )
    }
    pages: dict[str | None, int] = {
        token: count
        for token, count in connection.execute(
            select(FrontierEntry.lease_token, func.count())
            .where(FrontierEntry.lease_token.in_(tokens), FrontierEntry.claimed_until > now)
            .group_by(FrontierEntry.lease_token)
        )
    }
    stale = now - dead_after(heartbeat)
    views = [
        InstanceView(
            token=row.token,
            host=row.host,
            pid=row.pid,
            version=row.version,
            started_at=row.started_at,
            seen_at=row.seen_at,
            alive=row.seen_at >= stale,
            stopping=row.stopping,
            sources=sources.get(row.token, 0),
            pages=pages.get(row.token, 0),
            alerts=row.alerts_in_flight if row.seen_at >= stale else 0,
        )
        for row in rows
    ]
    return sorted(views, key=lambda view: not view.alive)
