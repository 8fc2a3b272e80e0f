"""Shared fixtures: a real database (SQLite and PostgreSQL), a fake clock, local servers.

PostgreSQL tests need a server at $RASID_TEST_POSTGRES_URL (default: local trust auth).
Where there is none they are skipped with the reason, unless $RASID_REQUIRE_POSTGRES=1
(set by .ci/run), which turns a missing server into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from monitor.clock import FakeClock
from monitor.db.session import Database
from tests.support.http import LocalServer, local_server

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED = PROJECT_ROOT.parent / "shared"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
POSTGRES_URL = os.environ.get(
    "RASID_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("RASID_REQUIRE_POSTGRES") == "1"

_postgres_problem: str | None = None
_postgres_checked = False


def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can (checked once per session)."""
    global _postgres_checked, _postgres_problem
    if not _postgres_checked:
        _postgres_checked = True
        try:
            engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
            with engine.connect() as connection:
                connection.execute(text("select 1"))
            engine.dispose()
        except Exception as exc:  # noqa: BLE001 - any failure means "no usable server"
            _postgres_problem = f"PostgreSQL unavailable at {POSTGRES_URL}: {exc}"
    return _postgres_problem


CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("RASID_REQUIRE_BROWSER") == "1"


def browser_problem() -> str | None:
    """Why the browser tests cannot run, or None when Debian's Chromium is there."""
    if CHROMIUM.exists():
        return None
    return "Debian's chromium is not installed (apt-get install chromium chromium-driver)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests/e2e; skip the tests whose server or browser is missing, with the
    reason, unless CI requires it ($RASID_REQUIRE_POSTGRES, $RASID_REQUIRE_BROWSER set
    by .ci/run), where a missing one fails the run instead."""
    e2e = PROJECT_ROOT / "tests" / "e2e"
    for item in items:
        if item.path.is_relative_to(e2e):
            item.add_marker(pytest.mark.e2e)
    needs = [
        ("postgres", postgres_problem, REQUIRE_POSTGRES, "RASID_REQUIRE_POSTGRES"),
        ("browser", browser_problem, REQUIRE_BROWSER, "RASID_REQUIRE_BROWSER"),
    ]
    for marker, problem_of, required, variable in needs:
        marked = [item for item in items if marker in item.keywords]
        problem = problem_of() if marked else None
        if problem is None:
            continue
        if required:
            raise pytest.UsageError(f"{variable}=1 but {problem}")
        for item in marked:
            item.add_marker(pytest.mark.skip(reason=problem))


def _postgres_schema_url() -> Iterator[str]:
    """A fresh schema per test, selected through search_path, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using it runs twice: on a SQLite file and on a PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'rasid.db'}"
    else:
        yield from _postgres_schema_url()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL schema only (tests of what several instances share)."""
    yield from _postgres_schema_url()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with local_server() as running:
        yield running


@pytest.fixture
def receiver() -> Iterator[LocalServer]:
    """A second local server, used as the alert receiver."""
    with local_server() as running:
        yield running
