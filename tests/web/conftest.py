"""A web application over a real database (SQLite and PostgreSQL), driven in process.

``site`` is a :class:`Site`: the ASGI application, its service layer and a client per
person. Tests sign people in through the real sign-in form, so the session cookie and
its CSRF token are the ones a browser would hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from monitor.app import App
from monitor.clock import FakeClock
from monitor.config import load_settings
from monitor.web import create_app
from monitor.web.context import WebContext

PASSWORD = "correct horse battery"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def settings_text(database_url: str, extra: str = "") -> str:
    return (
        f'[database]\nurl = "{database_url}"\n'
        "[crawl]\nallow_private_networks = true\n"
        '[[channels]]\nname = "ops"\nkind = "webhook"\n'
        'url = "https://hooks.example.net/T000/B000/sekr1tpath"\n'
        'secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"\n'
        '[[watchlists]]\nname = "from-file"\nqueries = ["عين الأسد"]\n' + extra
    )


@dataclass
class Site:
    app: App
    context: WebContext
    asgi: object
    config: Path
    clients: list[TestClient] = field(default_factory=list)

    def client(self, *, host: str = "127.0.0.1:8080") -> TestClient:
        client = TestClient(
            self.asgi,  # type: ignore[arg-type]
            base_url=f"http://{host}",
            client=("127.0.0.1", 50000),
            follow_redirects=False,
        )
        self.clients.append(client)
        return client

    def add_user(self, name: str, role: str) -> None:
        self.app.add_user(name, role, PASSWORD)

    def signed_in(self, name: str, role: str = "admin") -> TestClient:
        """A client signed in as a new user ``name`` with ``role``."""
        self.add_user(name, role)
        client = self.client()
        token = csrf_of(client, "/login")
        answer = client.post(
            "/login", data={"name": name, "password": PASSWORD, "csrf_token": token}
        )
        assert answer.status_code == 303, answer.text
        return client


def csrf_of(client: TestClient, path: str = "/") -> str:
    """The CSRF token in the form of the page at ``path``."""
    page = client.get(path)
    found = CSRF_INPUT.search(page.text)
    assert found, f"no CSRF field on {path}: {page.status_code}"
    return found.group(1)


def make_site(config: Path, clock: FakeClock) -> Iterator[Site]:
    settings = load_settings(config, env={})
    app = App(settings, clock=clock)
    context = WebContext(app=app, settings=settings, clock=clock)
    site = Site(app, context, create_app(context), config)
    try:
        yield site
    finally:
        for client in site.clients:
            client.close()
        app.close()


@pytest.fixture
def site(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[Site]:
    """The web application on SQLite and on PostgreSQL."""
    config = tmp_path / "settings.toml"
    config.write_text(settings_text(database_url), encoding="utf-8")
    yield from make_site(config, clock)


@pytest.fixture
def sqlite_site(tmp_path: Path, clock: FakeClock) -> Iterator[Site]:
    """The web application on SQLite only, for tests about the web rather than storage."""
    config = tmp_path / "settings.toml"
    config.write_text(settings_text(f"sqlite:///{tmp_path / 'rasid.db'}"), encoding="utf-8")
    yield from make_site(config, clock)
