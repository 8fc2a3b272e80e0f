"""The alert outbox: the delivery queue, kept in the database and nowhere else.

Guarantees:

* An alert is written in the caller's transaction, together with its match, so a crash
  never loses one (``enqueue``).
* A dispatcher owns a row only through a lease (``claimed_until``) and a fresh
  ``lease_token``; every settlement is ``WHERE id = :id AND lease_token = :token``, so a
  sender whose lease ran out cannot settle a row another dispatcher has since claimed.
  Claims are short transactions: no row lock is ever held across HTTP.
* Alerts of one channel leave in ``id`` order: a row is not claimable while an earlier
  pending row of its channel is waiting for a retry or is leased by someone else.
* Failed deliveries back off (full-jitter exponential, in the spirit of Standard
  Webhooks: about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, then daily), never sooner than the
  receiver's ``Retry-After``. Permanent errors and exhausted rows become ``dead``, keep
  their error, and can be re-queued with :func:`requeue_dead`.
* Several alerts sent as one message are renewed and settled together, each still
  under its own lease token (``renew_all``, ``mark_all_sent``, ``mark_all_failed``).
* A row holds its event (:data:`~alerts.event.AlertEvent`) as JSON; a claimer gets it back
  typed. A row whose payload is not such an event is dead as soon as it is claimed,
  with the reason, instead of failing every send.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from random import Random
from typing import Any, Literal

from sqlalchemy import CursorResult, Select, and_, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from alerts.event import AlertEvent, MatchEvent, event_from_json
from monitor.db.models import OutboxAlert, Watchlist
from monitor.db.session import Database
from monitor.errors import DeliveryError

PENDING, SENT, DEAD = "pending", "sent", "dead"
STATUSES = (PENDING, SENT, DEAD)

# The ceiling of the wait after the 1st, 2nd, ... failed attempt; the last repeats.
BACKOFF_CEILINGS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=24),
)
MIN_BACKOFF = timedelta(seconds=1)
MAX_ERROR_LENGTH = 2000

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True)
class ClaimedAlert:
    """A snapshot of one claimed outbox row: all a channel needs, detached from the DB."""

    id: int
    alert_id: str
    channel: str
    event: AlertEvent
    attempts: int
    lease_token: str
    # When its match was made, the start of its delivery latency (None: a test alert).
    created_at: datetime | None = None
    # Not held by the channel's quiet hours.
    urgent: bool = False


def new_alert_id(now: datetime) -> str:
    """``msg_`` + a 26-character ULID: millisecond time, then 80 random bits.

    Time-first ids sort roughly by creation, which makes receivers' logs easy to read.
    """
    value = (int(now.timestamp() * 1000) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_CROCKFORD[digit])
    return "msg_" + "".join(reversed(chars))


_INSERT = insert(OutboxAlert.__table__)


@dataclass(frozen=True)
class QueuedAlert:
    """What :func:`enqueue` wrote for one channel."""

    alert_id: str
    channel: str
    event: MatchEvent
    status: str = PENDING
    attempts: int = 0


def enqueue(
    connection: Connection,
    *,
    match_id: int,
    channels: list[str],
    event: MatchEvent,
    now: datetime,
    watchlist_id: int | None = None,
    urgent: bool = False,
) -> list[QueuedAlert]:
    """Add one pending row per channel to the caller's transaction.

    Each row gets its own stable ``alert_id`` (the ``webhook-id``), also the ``id`` of
    its copy of the event. Nothing is committed here: the caller commits the match and its
    alerts together. One multi-row INSERT: this is on ingest's hot path.
    """
    queued = []
    for channel in dict.fromkeys(channels):
        alert_id = new_alert_id(now)
        queued.append(QueuedAlert(alert_id, channel, event.with_id(alert_id)))
    if queued:
        connection.execute(
            _INSERT,
            [
                {
                    "alert_id": alert.alert_id,
                    "kind": "match",
                    "match_id": match_id,
                    "watchlist_id": watchlist_id,
                    "urgent": urgent,
                    "channel": alert.channel,
                    "payload": alert.event.to_json(),
                    "status": PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for alert in queued
            ],
        )
    return queued


def claim_due(
    db: Database,
    *,
    now: datetime,
    limit: int,
    lease: timedelta,
    ignore_backoff: bool = False,
    channels: Collection[str] | None = None,
    urgent_only: bool = False,
) -> list[ClaimedAlert]:
    """Lease up to ``limit`` due pending rows, oldest first, in one short transaction.

    A row is due when its ``next_attempt_at`` has come (unless ``ignore_backoff``), it is
    not leased, and no earlier pending row of its channel is leased or still waiting for
    its retry (so a later alert never overtakes an earlier one). ``channels`` restricts
    the claim to those channels. ``urgent_only`` (a channel's quiet hours) claims only
    urgent rows, in their own order: the others wait, and do not hold them up. Rows
    locked by a concurrent claimer are skipped
    (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serialises writers anyway). A row
    whose payload is not a readable event is made dead here, with the reason, and not
    returned: no attempt could ever send it.
    """
    query = _due_query(now, ignore_backoff, channels, urgent_only).limit(limit)
    with db.transaction() as session:
        rows = session.scalars(query.with_for_update(skip_locked=True, of=OutboxAlert)).all()
        claimed = []
        for row in rows:
            try:
                event = event_from_json(row.payload)
            except ValueError as exc:
                row.status = DEAD
                row.last_error = f"unreadable payload: {exc}"[:MAX_ERROR_LENGTH]
                continue
            row.claimed_until = now + lease
            row.lease_token = str(uuid.uuid4())
            claimed.append(
                ClaimedAlert(
                    id=row.id,
                    alert_id=row.alert_id,
                    channel=row.channel,
                    event=event,
                    attempts=row.attempts,
                    lease_token=row.lease_token,
                    created_at=row.created_at,
                    urgent=row.urgent,
                )
            )
        return claimed


def _due_query(
    now: datetime, ignore_backoff: bool, channels: Collection[str] | None, urgent_only: bool
) -> Select[OutboxAlert]:
    # Per channel, the first pending row that is leased or backing off: nothing after it
    # may go. One aggregate over the waiting rows (few), instead of a check per row
    # against every earlier row (quadratic in a backlog). A row never tried whose time
    # has not come (a story's follow-up, sent after its delay) is scheduled, not backing
    # off: it blocks nothing, and ``ignore_backoff`` does not send it early.
    later = OutboxAlert.next_attempt_at > now
    scheduled = and_(OutboxAlert.attempts == 0, later)
    waiting = OutboxAlert.claimed_until > now
    if not ignore_backoff:
        waiting = or_(waiting, and_(OutboxAlert.attempts > 0, later))
    if urgent_only:
        waiting = and_(waiting, OutboxAlert.urgent.is_(True))
    blockers = (
        select(OutboxAlert.channel, func.min(OutboxAlert.id).label("first_waiting"))
        .where(OutboxAlert.status == PENDING, waiting)
        .group_by(OutboxAlert.channel)
        .subquery()
    )
    query = (
        select(OutboxAlert)
        .outerjoin(blockers, blockers.c.channel == OutboxAlert.channel)
        .where(
            OutboxAlert.status == PENDING,
            or_(OutboxAlert.claimed_until.is_(None), OutboxAlert.claimed_until <= now),
            or_(blockers.c.first_waiting.is_(None), OutboxAlert.id < blockers.c.first_waiting),
        )
    )
    query = query.where(~scheduled if ignore_backoff else OutboxAlert.next_attempt_at <= now)
    if channels is not None:
        query = query.where(OutboxAlert.channel.in_(list(channels)))
    if urgent_only:
        query = query.where(OutboxAlert.urgent.is_(True))
    return query.order_by(OutboxAlert.id)


def _owned(claimed: ClaimedAlert) -> Any:
    return and_(
        OutboxAlert.id == claimed.id,
        OutboxAlert.lease_token == claimed.lease_token,
        OutboxAlert.status == PENDING,
    )


def _apply(db: Database, claimed: ClaimedAlert, **values: Any) -> bool:
    return _apply_all(db, [(claimed, values)]) == [True]


def _apply_all(
    db: Database, changes: Sequence[tuple[ClaimedAlert, Mapping[str, Any]]]
) -> list[bool]:
    """Update each claimed row it still owns, all in one transaction; which were owned."""
    owned = []
    with db.transaction() as session:
        for claimed, values in changes:
            statement = (
                update(OutboxAlert)
                .where(_owned(claimed))
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            result = session.execute(statement)
            assert isinstance(result, CursorResult)  # an UPDATE's; typed as a plain Result
            owned.append(result.rowcount == 1)
    return owned


def renew(db: Database, claimed: ClaimedAlert, now: datetime, lease: timedelta) -> bool:
    """Extend the lease just before a send; False if the row is no longer ours.

    A row may wait in a claimed batch behind slow sends of its channel; renewing right
    before its own send means the lease always outlasts the send that follows.
    """
    return _apply(db, claimed, claimed_until=now + lease)


def renew_all(
    db: Database, claimed: Sequence[ClaimedAlert], now: datetime, lease: timedelta
) -> list[bool]:
    """:func:`renew` for the alerts of one packed message, in one transaction."""
    return _apply_all(db, [(alert, {"claimed_until": now + lease}) for alert in claimed])


def _sent_values(now: datetime) -> dict[str, Any]:
    return {
        "status": SENT,
        "sent_at": now,
        "attempts": OutboxAlert.attempts + 1,
        "claimed_until": None,
        "lease_token": None,
        "last_error": None,
    }


def mark_sent(db: Database, claimed: ClaimedAlert, now: datetime) -> bool:
    """Record a delivery; False (and nothing changed) if the lease was lost."""
    return _apply(db, claimed, **_sent_values(now))


def mark_all_sent(db: Database, claimed: Sequence[ClaimedAlert], now: datetime) -> list[bool]:
    """Record the delivery of one message carrying several alerts, in one transaction.

    Each row is settled only if its lease is still ours; the list says which were.
    """
    return _apply_all(db, [(alert, _sent_values(now)) for alert in claimed])


def mark_failed(
    db: Database,
    claimed: ClaimedAlert,
    error: DeliveryError,
    now: datetime,
    next_attempt_at: datetime | None,
) -> bool:
    """Record a failed attempt: retry at ``next_attempt_at``, or dead when it is None.

    The error text is kept either way. False (and nothing changed) if the lease was lost.
    """
    return _apply(db, claimed, **_failed_values(error, next_attempt_at))


def mark_all_failed(
    db: Database,
    claimed: Sequence[ClaimedAlert],
    error: DeliveryError,
    now: datetime,
    next_attempts: Sequence[datetime | None],
) -> list[bool]:
    """Record the failed attempt of one message carrying several alerts, in one
    transaction: each retries at its ``next_attempts`` entry, or is dead for None.

    Each row is settled only if its lease is still ours; the list says which were.
    """
    if len(next_attempts) != len(claimed):
        raise ValueError("one next attempt time (or None) per alert")
    return _apply_all(
        db,
        [
            (alert, _failed_values(error, retry_at))
            for alert, retry_at in zip(claimed, next_attempts, strict=True)
        ],
    )


def _failed_values(error: DeliveryError, next_attempt_at: datetime | None) -> dict[str, Any]:
    values: dict[str, Any] = {
        "attempts": OutboxAlert.attempts + 1,
        "claimed_until": None,
        "lease_token": None,
        "last_error": str(error)[:MAX_ERROR_LENGTH],
    }
    if next_attempt_at is None:
        values["status"] = DEAD
    else:
        values["next_attempt_at"] = next_attempt_at
    return values


def release(db: Database, claimed: list[ClaimedAlert]) -> int:
    """Give claimed rows back unattempted (no attempt counted); returns how many."""
    released = 0
    for alert in claimed:
        released += _apply(db, alert, claimed_until=None, lease_token=None)
    return released


def hold_unconfigured(db: Database, configured: Collection[str], now: datetime) -> int:
    """Note on pending rows of channels this process cannot send to why they wait.

    They stay pending (no attempt counted) and go out once a process with that channel
    configured runs. Returns how many rows are held.
    """
    with db.transaction() as session:
        query = (
            select(OutboxAlert.channel, func.count(OutboxAlert.id))
            .where(OutboxAlert.status == PENDING, OutboxAlert.channel.not_in(list(configured)))
            .group_by(OutboxAlert.channel)
        )
        held: dict[str, int] = {channel: number for channel, number in session.execute(query)}
        for channel in held:
            message = f"channel {channel!r} is not configured or not active"
            session.execute(
                update(OutboxAlert)
                .where(
                    OutboxAlert.status == PENDING,
                    OutboxAlert.channel == channel,
                    # Not a row another instance (configured differently) is sending.
                    or_(OutboxAlert.claimed_until.is_(None), OutboxAlert.claimed_until <= now),
                    or_(OutboxAlert.last_error.is_(None), OutboxAlert.last_error != message),
                )
                .values(last_error=message)
                .execution_options(synchronize_session=False)
            )
        return sum(held.values())


def backoff_delay(attempts: int, rng: Random) -> timedelta:
    """Full jitter: a uniform wait up to the ceiling for the ``attempts``-th failure."""
    ceiling = BACKOFF_CEILINGS[min(max(attempts, 1), len(BACKOFF_CEILINGS)) - 1]
    return max(MIN_BACKOFF, ceiling * rng.random())


def next_attempt_time(
    attempts: int,
    error: DeliveryError,
    now: datetime,
    *,
    max_attempts: int,
    rng: Random,
) -> datetime | None:
    """When to try again after the ``attempts``-th failed attempt; None means dead.

    Permanent errors and rows that used up ``max_attempts`` are dead. Otherwise the wait
    is the jittered backoff or the receiver's Retry-After, whichever is longer (a
    Retry-After is capped at the longest backoff step, so a hostile receiver cannot park
    an alert forever).
    """
    if error.permanent or attempts >= max_attempts:
        return None
    delay = backoff_delay(attempts, rng)
    if error.retry_after is not None:
        asked = timedelta(seconds=max(0.0, error.retry_after))
        delay = max(delay, min(asked, BACKOFF_CEILINGS[-1]))
    return now + delay


def requeue_dead(db: Database, now: datetime, ids: list[int] | None = None) -> int:
    """Put dead rows (all, or those outbox ids) back to pending with fresh attempts.

    The last error is kept until the next attempt replaces it. Returns how many rows.
    """
    statement = update(OutboxAlert).where(OutboxAlert.status == DEAD)
    if ids is not None:
        statement = statement.where(OutboxAlert.id.in_(ids))
    statement = statement.values(
        status=PENDING, attempts=0, next_attempt_at=now, claimed_until=None, lease_token=None
    ).execution_options(synchronize_session=False)
    with db.transaction() as session:
        result = session.execute(statement)
        assert isinstance(result, CursorResult)  # an UPDATE's; typed as a plain Result
        return result.rowcount


def counts(db: Database) -> dict[str, int]:
    """How many outbox rows are in each status (every status present, zeros included)."""
    with db.transaction() as session:
        rows = session.execute(
            select(OutboxAlert.status, func.count(OutboxAlert.id)).group_by(OutboxAlert.status)
        )
        found: dict[str, int] = {status: number for status, number in rows}
    return {status: found.get(status, 0) for status in STATUSES} | found


# "failed": pending again after a failed attempt, waiting for its retry; "pending": every
# alert not yet sent nor given up (failed ones included).
AlertFilter = Literal["pending", "sent", "failed", "dead"]


@dataclass(frozen=True)
class AlertRecord:
    """One outbox row as a person inspects it (``rasid alerts list``)."""

    id: int
    alert_id: str
    channel: str
    watchlist: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    kind: str = "match"  # or "digest", "follow_up"


def list_alerts(
    db: Database,
    *,
    only: AlertFilter | None = None,
    ids: Collection[int] | None = None,
    limit: int | None = None,
    before: int | None = None,
) -> list[AlertRecord]:
    """Outbox rows, newest first: all of them, those in one state (``only``), or those
    outbox ids; at most ``limit``, older than id ``before`` (the page's cursor)."""
    query = (
        select(
            OutboxAlert.id,
            OutboxAlert.alert_id,
            OutboxAlert.channel,
            func.coalesce(Watchlist.name, "").label("watchlist"),
            OutboxAlert.status,
            OutboxAlert.attempts,
            OutboxAlert.last_error,
            OutboxAlert.created_at,
            OutboxAlert.next_attempt_at,
            OutboxAlert.sent_at,
            OutboxAlert.kind,
        )
        .outerjoin(Watchlist, Watchlist.id == OutboxAlert.watchlist_id)
        .order_by(OutboxAlert.id.desc())
    )
    if only == "failed":
        query = query.where(OutboxAlert.status == PENDING, OutboxAlert.attempts > 0)
    elif only is not None:
        query = query.where(OutboxAlert.status == only)
    if before is not None:
        query = query.where(OutboxAlert.id < before)
    if ids is not None:
        query = query.where(OutboxAlert.id.in_(list(ids)))
    if limit is not None:
        query = query.limit(limit)
    with db.transaction() as session:
        return [AlertRecord(**row._mapping) for row in session.execute(query)]


# -- rows kept once per key: digests and follow-ups -------------------------------------


def enqueue_once(
    connection: Connection,
    *,
    kind: str,
    dedupe_key: str,
    channel: str,
    event: AlertEvent,
    now: datetime,
    due: datetime | None = None,
    watchlist_id: int | None = None,
    urgent: bool = False,
) -> str | None:
    """Add one pending row (of ``kind``, no match) to the caller's transaction unless a
    row with ``dedupe_key`` exists, whatever its status; the new row's alert id, or None.

    ``due`` (default ``now``) is when it may first be sent. Two instances adding the same
    key at once add one row: the loser's insert does nothing (``ON CONFLICT``).
    """
    from sqlalchemy.dialects import postgresql, sqlite

    table = OutboxAlert.__table__
    postgres = connection.dialect.name == "postgresql"
    statement = (
        (postgresql.insert(table) if postgres else sqlite.insert(table))
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(table.c.id)
    )
    alert_id = new_alert_id(now)
    inserted = connection.execute(
        statement,
        {
            "alert_id": alert_id,
            "kind": kind,
            "match_id": None,
            "watchlist_id": watchlist_id,
            "urgent": urgent,
            "dedupe_key": dedupe_key,
            "channel": channel,
            "payload": event.with_id(alert_id).to_json(),
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": due or now,
            "created_at": now,
        },
    ).first()
    return alert_id if inserted is not None else None


@dataclass(frozen=True)
class KeyedAlert:
    """A pending row found by its dedupe key, not leased: its event may still change."""

    id: int
    alert_id: str
    event: AlertEvent


def _unleased(now: datetime) -> Any:
    return and_(
        OutboxAlert.status == PENDING,
        or_(OutboxAlert.claimed_until.is_(None), OutboxAlert.claimed_until <= now),
    )


def find_unsent(connection: Connection, dedupe_key: str, now: datetime) -> KeyedAlert | None:
    """The row with ``dedupe_key`` if it is pending and not leased, locked against a
    concurrent change until the caller's transaction ends; None otherwise (no such row,
    sent, dead, being sent, or an unreadable payload)."""
    query = (
        select(OutboxAlert.id, OutboxAlert.alert_id, OutboxAlert.payload)
        .where(OutboxAlert.dedupe_key == dedupe_key, _unleased(now))
        .with_for_update()
    )
    row = connection.execute(query).first()
    if row is None:
        return None
    try:
        event = event_from_json(row.payload)
    except ValueError:
        return None
    return KeyedAlert(row.id, row.alert_id, event)


def replace_event(connection: Connection, row_id: int, event: AlertEvent, now: datetime) -> bool:
    """Replace the event of a pending, unleased row (keeping its alert id) in the caller's
    transaction; False (nothing changed) if it was claimed or settled meanwhile."""
    statement = (
        update(OutboxAlert)
        .where(OutboxAlert.id == row_id, _unleased(now))
        .values(payload=event.to_json())
        .execution_options(synchronize_session=False)
    )
    result = connection.execute(statement)
    assert isinstance(result, CursorResult)  # an UPDATE's; typed as a plain Result
    return result.rowcount == 1
