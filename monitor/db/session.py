"""Engines, sessions and the schema migrations run at start.

SQLite is set up for a service that writes from one process while the CLI reads: WAL (a
reader never blocks the writer), a busy timeout, ``synchronous=NORMAL`` (survives kill -9)
and ``BEGIN IMMEDIATE`` for every transaction. pysqlite's default deferred BEGIN takes the
write lock only at the first write, and a transaction that read first then gets
SQLITE_BUSY at once, ignoring the busy timeout.

A database that cannot be reached or written (a full disk, a read-only or vanished file,
PostgreSQL restarting) makes a transaction raise
:class:`~monitor.errors.DatabaseUnavailable` with a short reason (monitor/db/faults.py);
constraint violations and programming errors pass through unchanged. A SQLite file
deleted under a running service is noticed before the next transaction: SQLite would
otherwise go on writing to the deleted file, and lose it all at exit.

At start the schema's revision is read with plain SQL; Alembic, slow to import, is
loaded only for a database behind the newest migration (docs/benchmarks.md).
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DataError,
    DBAPIError,
    IntegrityError,
    NotSupportedError,
    ProgrammingError,
)
from sqlalchemy.orm import Session, sessionmaker

from monitor.db.faults import describe
from monitor.errors import ConfigError, DatabaseUnavailable, InstanceLockedError

if TYPE_CHECKING:
    from alembic.config import Config

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_CHECKPOINT_PAGES = 10_000
SQLITE_WAL_LIMIT_BYTES = 64 * 1024 * 1024


class Database:
    """One engine and its session factory; the only shared state of the process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        database = self.engine.url.database or ""
        file_backed = self.is_sqlite and database and not database.startswith(":")
        self._file = Path(database) if file_backed else None
        self._identity: tuple[int, int] | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session inside one transaction: committed on success, rolled back on error."""
        with self._faults_told(), self._sessions.begin() as session:
            yield session

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A Core connection inside one transaction, for hot paths that need no ORM."""
        with self._faults_told(), self.engine.begin() as connection:
            yield connection

    @contextmanager
    def _faults_told(self) -> Iterator[None]:
        """A fault of the database itself becomes DatabaseUnavailable with its reason;
        what is the caller's (a constraint, bad SQL) passes through unchanged."""
        self._check_file()
        try:
            yield
        except DBAPIError as exc:
            if not _is_fault(exc):
                raise
            raise DatabaseUnavailable(describe(exc)) from exc

    def _check_file(self) -> None:
        """Refuse to go on with a SQLite file that was deleted since it was opened; adopt
        one put back in its place (a restored backup) with fresh connections."""
        if self._file is None:
            return
        try:
            found = self._file.stat()
        except FileNotFoundError:
            if self._identity is None:
                return  # not created yet: the first connection creates it
            self.engine.dispose()
            raise DatabaseUnavailable(
                f"the database file {self._file} was deleted while rasid was running; "
                "put it back (or restart rasid to begin a new one)"
            ) from None
        identity = (found.st_dev, found.st_ino)
        if self._identity is not None and identity != self._identity:
            self.engine.dispose()  # pooled connections still write to the old file
        self._identity = identity

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (idempotent). Instances that
        start together on one PostgreSQL migrate one after the other: the second finds
        the schema done."""
        try:
            with self.connection() as connection:
                head = head_revision()
                if head is not None and schema_revision(connection) == head:
                    return
                from alembic import command

                from monitor.db.locks import hold_for_transaction

                hold_for_transaction(connection, "migrate")
                if head is not None and schema_revision(connection) == head:
                    return

                config = alembic_config()
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except DatabaseUnavailable as exc:
            raise DatabaseUnavailable(f"cannot open the database {self.safe_url}: {exc}") from None

    @property
    def safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()


def _is_fault(error: DBAPIError) -> bool:
    """A fault of the database itself, not of the caller (a constraint, bad SQL)."""
    return not isinstance(error, IntegrityError | ProgrammingError | DataError | NotSupportedError)


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "monitor.db:migrations")
    return config


MIGRATIONS = Path(__file__).resolve().parent / "migrations" / "versions"
_REVISION_LINE = re.compile(r"^(down_revision|revision)\s*=\s*(.*)$", re.MULTILINE)
_QUOTED = re.compile(r"[\"']([^\"']+)[\"']")


@cache
def head_revision() -> str | None:
    """The newest migration's revision, read from the migration files' ``revision =``
    and ``down_revision =`` lines (without Alembic); None when there is not exactly one
    head, which leaves the decision to Alembic."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in MIGRATIONS.glob("*.py"):
        for name, value in _REVISION_LINE.findall(path.read_text(encoding="utf-8")):
            found = _QUOTED.findall(value)
            (revisions if name == "revision" else parents).update(found)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def schema_revision(connection: Connection) -> str | None:
    """The revision the database's schema is at; None for a database never migrated."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    return str(rows[0][0]) if len(rows) == 1 else None


def make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"database.url: not a database URL: {url!r}") from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and not database.startswith(":"):
            folder = Path(database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"database.url: cannot create the folder {str(folder)!r} for the SQLite "
                    f"database ({exc.strerror or exc})"
                ) from None
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.get_driver_name() not in ("psycopg", ""):
            raise ConfigError(
                f"database.url: use the psycopg 3 driver (postgresql+psycopg://...), "
                f"not {parsed.drivername}"
            )
        return create_engine(
            parsed.set(drivername="postgresql+psycopg"), pool_pre_ping=True, pool_size=10
        )
    raise ConfigError(
        f"database.url: unsupported database {parsed.get_backend_name()!r}; "
        "use sqlite:///path.db or postgresql+psycopg://user@host/db"
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy's "begin" event below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        # A checkpoint (WAL copied into the database, two fsyncs) every ~40 MB of WAL
        # instead of every 4 MB: a tenth of the fsyncs under a burst of articles, 11%
        # more stored per second (docs/benchmarks.md); the file is cut back afterwards.
        cursor.execute(f"PRAGMA wal_autocheckpoint = {SQLITE_CHECKPOINT_PAGES}")
        cursor.execute(f"PRAGMA journal_size_limit = {SQLITE_WAL_LIMIT_BYTES}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class InstanceLock:
    """Refuses a second ``rasid run`` on the same SQLite file (PostgreSQL coordinates
    several instances itself, through row leases)."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        if not self._database.is_sqlite:
            return
        path = self._database.engine.url.database
        if not path or path.startswith(":"):
            return
        # The real file, so a symlink (or another spelling of the path) to the same
        # database meets the same lock.
        path = str(Path(path).resolve())
        lock_path = Path(path + ".lock")
        handle = lock_path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise InstanceLockedError(
                f"another rasid run is already using {path} (lock file {lock_path}); "
                "stop it first, or use PostgreSQL to run several instances"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
