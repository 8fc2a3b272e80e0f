"""Work that must run once across instances: PostgreSQL advisory locks.

Several ``rasid run`` processes may share one PostgreSQL. Claimed work (sources,
frontier entries, alerts) is split between them by row leases; work that is not a row
(queuing due digests, pruning by retention, indexing the archive, deciding which story an
article joins) must not run in two instances at once. An advisory lock is the tool for
that: it names a piece of work rather than a row, is held by a connection, and is let go
by PostgreSQL itself when that connection ends, so an instance killed with ``kill -9``
never leaves it taken.

Keys are derived from the database, the schema and the name of the work, so two
rasid databases (or two test schemas) on one server never wait for each other.

SQLite needs none of this: one instance runs on a file (``InstanceLock``) and SQLite
writes one transaction at a time. Both functions are then no-ops that say "go ahead".
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text

if TYPE_CHECKING:
    from monitor.db.session import Database

_WHERE = text("SELECT current_database() || '.' || current_schema()")
_WHERE_INFO = "rasid.lock_where"
_TRY = text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")
_XACT = text("SELECT pg_advisory_xact_lock(:key)")


def lock_key(connection: Connection, name: str) -> int:
    """The advisory lock key of ``name`` in this connection's database and schema: the
    first 8 bytes of a BLAKE2b digest, as the signed 64-bit integer PostgreSQL takes."""
    # Asked once per pooled connection: every article store takes a lock by it.
    where: str | None = connection.info.get(_WHERE_INFO)
    if where is None:
        where = str(connection.execute(_WHERE).scalar_one())
        connection.info[_WHERE_INFO] = where
    digest = hashlib.blake2b(f"rasid:{where}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def run_alone(db: Database, name: str) -> Iterator[bool]:
    """Yield True when this process may do ``name`` now, False when another instance is
    doing it (the caller skips its turn; the next tick tries again).

    The lock is held by a connection of its own for the whole block and released at its
    end, or by PostgreSQL when the process dies. The work inside uses its own
    transactions: the lock only says who works.
    """
    if db.is_sqlite:
        yield True
        return
    with db.engine.connect() as connection:
        key = lock_key(connection, name)
        taken = bool(connection.execute(_TRY, {"key": key}).scalar_one())
        connection.commit()
        try:
            yield taken
        finally:
            if taken:
                connection.execute(_UNLOCK, {"key": key})
                connection.commit()


def hold_for_transaction(connection: Connection, name: str) -> None:
    """Wait for ``name``'s lock and hold it until this connection's transaction ends:
    the transactions of all instances that take it run one after another."""
    if connection.dialect.name == "sqlite":
        return
    connection.execute(_XACT, {"key": lock_key(connection, name)})
