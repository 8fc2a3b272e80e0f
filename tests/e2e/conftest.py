"""End-to-end harness: the real ``rasid`` command against a local news site and receiver.

Each run is a subprocess (the Twisted reactor runs once per process, as in production),
with a settings file written for the test: its sources point at the local site, its
webhook channel at the local receiver, its database at the test's SQLite file or
PostgreSQL schema.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support.http import LocalServer, Recorded, Reply
from tests.support.site import Story, article_page, rss, seed_story

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
QUIET_PARAGRAPHS = [
    "ارتفعت أسعار النفط في الأسواق العالمية مع تراجع المخزونات الأميركية.",
    "وقال محللون إن الطلب على الخام سيبقى قويا خلال الأشهر المقبلة في ظل تعافي الاقتصاد.",
    "وتراقب الأسواق اجتماع منظمة أوبك المقبل لتحديد مستويات الإنتاج للربع القادم.",
]


@dataclass
class Rasid:
    """Runs the real command with a settings file of the test's own."""

    config: Path

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "monitor", "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=clean_env(),
            cwd=self.config.parent,
            check=False,
        )

    def status(self) -> dict:
        result = self.run("status", "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def source_status(self, name: str) -> dict:
        return next(s for s in self.status()["sources"] if s["name"] == name)


def start_service(rasid: Rasid) -> subprocess.Popen[str]:
    """``rasid run`` in the background, as a user or systemd starts it."""
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(rasid.config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
        cwd=rasid.config.parent,
    )


def stop_service(process: subprocess.Popen[str]) -> tuple[int, str]:
    """SIGTERM, then the exit code and what it logged."""
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=30)
    return process.returncode, err


def kill_service(process: subprocess.Popen[str]) -> None:
    """kill -9: no handler runs, nothing is flushed or released."""
    process.kill()
    process.communicate(timeout=30)


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def count_rows(database_url: str, table: str, where: str = "") -> int:
    """Rows of a table, read the way an operator would, beside the running service."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            query = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
            return connection.execute(text(query)).scalar_one()
    finally:
        engine.dispose()


class Gate:
    """Holds requests until opened: pages that are still downloading when a test kills
    the process."""

    def __init__(self) -> None:
        self._open = threading.Event()

    def hold(self, reply: Reply) -> Callable[[Recorded], Reply]:
        def held(_request: Recorded) -> Reply:
            self._open.wait(timeout=60)
            return reply

        return held

    def open(self) -> None:
        self._open.set()


def clean_env() -> dict[str, str]:
    """The environment without the user's rasid variables (tests define their own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RASID_")}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    env["COLUMNS"] = "300"  # tables print whole rows, so tests can read them
    return env


def settings_text(
    *,
    database_url: str,
    sources: dict[str, str],
    webhook_url: str | None,
    watchlists: dict[str, list[str]] | None = None,
    crawl: dict[str, object] | None = None,
    alerts: dict[str, object] | None = None,
    interval: str = "1m",
    web: dict[str, object] | None = None,
) -> str:
    watchlists = watchlists or {"drones": ["طائرة مسيرة"], "ain-al-asad": ["عين الأسد"]}
    # AutoThrottle's first delay would only slow a loopback test down.
    crawl = {
        "allow_private_networks": True,
        "timeout": "5s",
        "autothrottle": False,
        **(crawl or {}),
    }
    alerts = {"max_article_age": "48h", "dispatch_interval": "1s", **(alerts or {})}
    parts = [
        f"[database]\nurl = {json.dumps(database_url)}\n",
        _table("crawl", crawl),
        _table("alerts", alerts),
        # Any free port: tests run side by side, and 8080 may be the developer's own.
        _table("web", {"listen": "127.0.0.1:0", **(web or {})}),
    ]
    for name, url in sources.items():
        parts.append(f'[[sources]]\nname = "{name}"\nurl = "{url}"\ninterval = "{interval}"\n')
    if webhook_url:
        parts.append(
            f'[[channels]]\nname = "hook"\nkind = "webhook"\nurl = "{webhook_url}"\n'
            f'secret = "{SECRET}"\n'
        )
    for name, queries in watchlists.items():
        listed = json.dumps(queries, ensure_ascii=False)
        parts.append(f'[[watchlists]]\nname = "{name}"\nqueries = {listed}\n')
    return "\n".join(parts)


def _table(name: str, values: dict[str, object]) -> str:
    # JSON strings, numbers and booleans are valid TOML values.
    lines = "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())
    return f"[{name}]\n{lines}"


@dataclass
class NewsSite:
    """A local site with one main feed, whose stories can be changed between runs."""

    server: LocalServer
    stories: list[Story]

    @property
    def feed_url(self) -> str:
        return self.server.url("/feeds/main.xml")

    def publish(self, *stories: Story) -> None:
        for story in stories:
            self.stories.insert(0, story)
            self.server.route(f"/news/{story.slug}", Reply(body=article_page(story)))
        self.server.route(
            "/feeds/main.xml",
            Reply(
                body=rss("الموقع", self.server.url("").rstrip("/"), self.stories),
                content_type="application/rss+xml; charset=utf-8",
            ),
        )


def recent(hours: float = 1) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(hours=hours)


@pytest.fixture
def news_site(server: LocalServer) -> NewsSite:
    """The seed article (drones, Ain al-Asad) and a quiet oil-price story whose sidebar
    names both watchlist terms: only the seed article may alert."""
    site = NewsSite(server, [])
    quiet = Story("oil-prices", "أسعار النفط ترتفع", QUIET_PARAGRAPHS, recent(2), "النفط")
    site.publish(quiet, seed_story(recent(1)))
    return site


@pytest.fixture
def rasid_factory(tmp_path: Path, database_url: str) -> Callable[..., Rasid]:
    def make(**kwargs: object) -> Rasid:
        config = tmp_path / "settings.toml"
        config.write_text(settings_text(database_url=database_url, **kwargs), encoding="utf-8")
        return Rasid(config)

    return make


def accepting(receiver: LocalServer, path: str = "/hook") -> str:
    receiver.route(path, Reply(200, "ok", content_type="text/plain"))
    return receiver.url(path)


def posted_json(requests: list[Recorded]) -> list[dict]:
    return [json.loads(r.body) for r in requests if r.method == "POST"]
