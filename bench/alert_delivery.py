"""Alerts per second delivered to a local receiver, per channel kind.

Each kind gets a database of its own holding ``--alerts`` pending alerts, inserted as
ingest inserts them (an article, its match and the outbox row, one article per alert,
the seed article's title, snippet and highlights), then the real async dispatcher
(``Dispatcher.dispatch_due``, one round after another until nothing is left) delivers
them: a signed webhook and Slack to a local HTTP receiver, Apprise through json:// to the
same receiver, email through Apprise's mailto:// to a local SMTP server (aiosmtpd), the
console to a null stream. Channel rates are off (``rate = 0``) for this measurement.

Then Slack at its default pace (1 message/s, bursts of 3): 60 alerts queued at once, and
60 arriving over 10 s with a dispatch round every second, to show how few messages they
make.

CPU is this process's user + system time (``os.times``), and the receivers run in it as
threads (the HTTP server, aiosmtpd's loop), so it includes their share: an upper bound
on rasid's own. Issue 16 sets no target for this figure.

    .venv/bin/python bench/alert_delivery.py [--alerts 500] [--database URL]

``--database`` takes a PostgreSQL URL (127.0.0.1); each run uses a schema of its own,
dropped afterwards. Without it, SQLite files in a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import os
import socket
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, insert, text

from alerts import outbox
from alerts.channels import build_channels
from alerts.dispatch import Dispatcher, DispatchSummary
from alerts.event import Highlight, MatchedArticle, MatchEvent
from alerts.samples import SAMPLE_QUERY, SEED_FORMS, SEED_SNIPPET, SEED_TITLE
from monitor.clock import Clock, SystemClock
from monitor.config import Settings, settings_from_mapping
from monitor.db.models import Article, Match, Watchlist
from monitor.db.session import Database
from monitor.netguard import NetworkPolicy
from tests.support.http import LocalServer, Recorded, Reply

LOCAL = NetworkPolicy(allow_private_networks=True)
KINDS = ("webhook", "slack", "apprise", "email", "console")


def cpu_seconds() -> float:
    """User + system time of this process, all threads."""
    times = os.times()
    return times.user + times.system


# -- databases ------------------------------------------------------------------------------


@contextmanager
def fresh_database(url: str | None, folder: Path, name: str) -> Iterator[Database]:
    """A migrated, empty database: a SQLite file in ``folder``, or a new schema of the
    PostgreSQL database ``url`` (selected by search_path, dropped afterwards)."""
    if url is None:
        db = Database(f"sqlite:///{folder / name}.db")
        db.migrate()
        try:
            yield db
        finally:
            db.dispose()
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in url else "?"
    db = Database(f"{url}{separator}options=-csearch_path%3D{schema}")
    try:
        db.migrate()
        yield db
    finally:
        db.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def schema_url(db: Database) -> str:
    """The URL a subprocess opens ``db`` with (password included)."""
    return db.engine.url.render_as_string(hide_password=False)


def match_event(number: int, url: str, published_at: datetime | None) -> MatchEvent:
    """A match as ingest builds it, for the seed article's text (each alert its own URL)."""
    return MatchEvent(
        watchlist="drones",
        article=MatchedArticle(
            url=url, title=f"{SEED_TITLE} {number}", source="wire", published_at=published_at
        ),
        highlights=tuple(Highlight(SAMPLE_QUERY, form, "body") for form in SEED_FORMS),
        snippet=SEED_SNIPPET,
    )


def add_alerts(
    db: Database,
    channels: list[str],
    count: int,
    now: datetime,
    *,
    url_of: Any = None,
    first: int = 0,
    watchlist: str = "drones",
) -> None:
    """``count`` matched articles of ``watchlist`` (made if missing), each with a pending
    outbox row per channel, created at ``now``: as ingest leaves them."""
    url_of = url_of or (lambda number: f"https://news.example/ar/{number}")
    with db.connection() as connection:
        watchlist_id = connection.scalar(
            text("SELECT id FROM watchlists WHERE name = :name"), {"name": watchlist}
        )
        if watchlist_id is None:
            watchlist_id = connection.scalar(
                insert(Watchlist.__table__).returning(Watchlist.__table__.c.id),
                {"name": watchlist, "created_at": now, "updated_at": now},
            )
        for number in range(first, first + count):
            url = url_of(number)
            article_id = connection.scalar(
                insert(Article.__table__).returning(Article.__table__.c.id),
                {
                    "url": url,
                    "title": f"{SEED_TITLE} {number}",
                    "content_hash": f"{number:064d}",
                    "fetched_at": now,
                    "published_at": now,
                },
            )
            match_id = connection.scalar(
                insert(Match.__table__).returning(Match.__table__.c.id),
                {
                    "article_id": article_id,
                    "watchlist_id": watchlist_id,
                    "highlights": [],
                    "alerted": True,
                    "created_at": now,
                },
            )
            outbox.enqueue(
                connection,
                match_id=match_id,
                channels=channels,
                event=match_event(number, url, now),
                now=now,
                watchlist_id=watchlist_id,
            )


# -- receivers ------------------------------------------------------------------------------


def keep_nagle(server: LocalServer) -> None:
    """Answer as http.server does by default: headers, then the body after the client's
    delayed ACK (Nagle's rule, 40 ms on Linux on a kept-alive connection). The tests'
    server turns it off, as receivers in the field answer in one write; ``--nagle``
    shows what it cost (every webhook or Slack send took 44 ms: 22 alerts/s)."""
    handler = server._server.RequestHandlerClass  # LocalServer's own handler class
    handler.disable_nagle_algorithm = False  # type: ignore[attr-defined]


class Receiver:
    """A local HTTP receiver answering 200 to every POST, counting them by path, with
    the arrival time of each."""

    def __init__(self, *, nodelay: bool = True) -> None:
        self.counts: Counter[str] = Counter()
        self.arrivals: dict[str, list[float]] = {}
        self.bodies: dict[str, list[bytes]] = {}
        self.keep_bodies = False
        self._lock = threading.Lock()
        self.server = LocalServer(fallback=self._answer, record=False)
        if not nodelay:
            keep_nagle(self.server)
        self.server.start()

    def _answer(self, request: Recorded) -> Reply:
        arrived = time.perf_counter()
        with self._lock:
            self.counts[request.path] += 1
            self.arrivals.setdefault(request.path, []).append(arrived)
            if self.keep_bodies:
                self.bodies.setdefault(request.path, []).append(request.body)
        return Reply(body=b"ok", content_type="text/plain")

    def url(self, path: str) -> str:
        return self.server.url(path)

    def stop(self) -> None:
        self.server.stop()


class SmtpInbox:
    """aiosmtpd on 127.0.0.1 accepting every message; counts them and their bytes."""

    def __init__(self) -> None:
        self.messages = 0
        self.sizes: list[int] = []
        self.contents: list[bytes] = []
        self.keep = False
        with socket.socket() as probe:  # aiosmtpd checks its port by connecting: not 0
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages += 1
        self.sizes.append(len(envelope.content))
        if self.keep:
            self.contents.append(envelope.content)
        return "250 OK"

    def url(self) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=rasid@example.org&to=analyst@example.org"

    def stop(self) -> None:
        self.controller.stop()


class NullStream:
    """Where the console channel writes: counts writes, keeps nothing."""

    def __init__(self) -> None:
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return len(text)

    def flush(self) -> None:
        pass


def webhook_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def channel_entry(kind: str, receiver: Receiver, inbox: SmtpInbox, **pace: Any) -> dict[str, Any]:
    """The [[channels]] entry of ``kind``, named after it, pointing at the local receivers."""
    entry: dict[str, Any] = {"name": kind, "kind": kind, **pace}
    if kind == "webhook":
        entry |= {"url": receiver.url("/webhook"), "secret": webhook_secret()}
    elif kind == "slack":
        entry["url"] = receiver.url("/slack")
    elif kind == "apprise":
        entry["url"] = f"json://127.0.0.1:{receiver.server.port}/apprise"
    elif kind == "email":
        entry["url"] = inbox.url()
    return entry


def bench_settings(folder: Path, **mapping: Any) -> Settings:
    """Settings of ``mapping`` (settings.toml's tables), local networks allowed."""
    return settings_from_mapping(
        {"crawl": {"allow_private_networks": True}, **mapping},
        folder / "settings.toml",
        env={},
    )


# -- measuring ------------------------------------------------------------------------------


@dataclass
class Delivery:
    label: str
    alerts: int
    messages: int
    wall: float
    cpu: float
    summary: DispatchSummary


async def drain(dispatcher: Dispatcher) -> DispatchSummary:
    """Dispatch rounds until a round sends nothing."""
    total = DispatchSummary()
    while True:
        summary = await dispatcher.dispatch_due()
        total.add(summary)
        if summary.sent == 0:
            return total


def deliver_kind(
    kind: str, count: int, database: str | None, folder: Path, receiver: Receiver, inbox: SmtpInbox
) -> Delivery:
    clock: Clock = SystemClock()
    settings = bench_settings(folder, channels=[channel_entry(kind, receiver, inbox, rate=0)])
    stream = NullStream()
    channels = build_channels(settings, LOCAL, clock, stream=stream)  # type: ignore[arg-type]
    with fresh_database(database, folder, f"delivery-{kind}") as db:
        add_alerts(db, [kind], count, clock.now())
        dispatcher = Dispatcher(db, channels, settings.alerts, clock)
        before = dict(receiver.counts), inbox.messages
        cpu, wall = cpu_seconds(), time.perf_counter()
        summary = asyncio.run(drain(dispatcher))
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    received = {
        "webhook": lambda: receiver.counts["/webhook"] - before[0].get("/webhook", 0),
        "slack": lambda: receiver.counts["/slack"] - before[0].get("/slack", 0),
        "apprise": lambda: receiver.counts["/apprise"] - before[0].get("/apprise", 0),
        "email": lambda: inbox.messages - before[1],
        "console": lambda: stream.writes,
    }[kind]()
    return Delivery(kind, summary.sent, received, wall, cpu, summary)


def slack_paced_at_once(
    database: str | None, folder: Path, receiver: Receiver, inbox: SmtpInbox
) -> Delivery:
    """60 alerts queued before one round, at Slack's default pace."""
    clock = SystemClock()
    entry = channel_entry("slack", receiver, inbox) | {
        "name": "slack-paced",
        "url": receiver.url("/paced"),
    }
    settings = bench_settings(folder, channels=[entry])
    channels = build_channels(settings, LOCAL, clock)
    with fresh_database(database, folder, "slack-paced") as db:
        add_alerts(db, ["slack-paced"], 60, clock.now())
        dispatcher = Dispatcher(db, channels, settings.alerts, clock)
        before = receiver.counts["/paced"]
        cpu, wall = cpu_seconds(), time.perf_counter()
        summary = asyncio.run(drain(dispatcher))
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    return Delivery(
        "slack, default pace: 60 queued at once",
        summary.sent,
        receiver.counts["/paced"] - before,
        wall,
        cpu,
        summary,
    )


def slack_paced_over_time(
    database: str | None, folder: Path, receiver: Receiver, inbox: SmtpInbox
) -> tuple[Delivery, float]:
    """60 alerts arriving over 10 s (6 a second), a dispatch round every second, at
    Slack's default pace; also the shortest gap between two messages after the burst."""
    clock = SystemClock()
    entry = channel_entry("slack", receiver, inbox) | {
        "name": "slack-trickle",
        "url": receiver.url("/trickle"),
    }
    settings = bench_settings(folder, channels=[entry], alerts={"dispatch_interval": "1s"})
    channels = build_channels(settings, LOCAL, clock)
    with fresh_database(database, folder, "slack-trickle") as db:
        dispatcher = Dispatcher(db, channels, settings.alerts, clock)

        def arrive() -> None:
            for second in range(10):
                add_alerts(db, ["slack-trickle"], 6, clock.now(), first=second * 6)
                time.sleep(1.0)

        producer = threading.Thread(target=arrive)

        async def rounds() -> DispatchSummary:
            total = DispatchSummary()
            while producer.is_alive() or total.sent < 60:
                total.add(await dispatcher.dispatch_due())
                await asyncio.sleep(1.0)
            return total

        cpu, wall = cpu_seconds(), time.perf_counter()
        producer.start()
        summary = asyncio.run(rounds())
        producer.join()
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    arrivals = receiver.arrivals.get("/trickle", [])
    gaps = [b - a for a, b in itertools.pairwise(arrivals[2:])]
    label = "slack, default pace: 60 over 10 s, a round a second"
    return Delivery(label, summary.sent, len(arrivals), wall, cpu, summary), min(gaps or [0.0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=500, help="alerts per channel kind")
    parser.add_argument("--database", help="a PostgreSQL URL (default: SQLite files)")
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated kinds")
    parser.add_argument("--no-paced", action="store_true", help="skip the paced Slack rows")
    parser.add_argument(
        "--nagle", action="store_true", help="leave the receiver's Nagle rule on (44 ms a send)"
    )
    args = parser.parse_args()
    receiver, inbox = Receiver(nodelay=not args.nagle), SmtpInbox()
    rows: list[Delivery] = []
    min_gap = None
    try:
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            for kind in args.kinds.split(","):
                rows.append(deliver_kind(kind, args.alerts, args.database, folder, receiver, inbox))
            if not args.no_paced:
                rows.append(slack_paced_at_once(args.database, folder, receiver, inbox))
                paced, min_gap = slack_paced_over_time(args.database, folder, receiver, inbox)
                rows.append(paced)
    finally:
        receiver.stop()
        inbox.stop()
    engine = "PostgreSQL" if args.database else "SQLite"
    print(f"\nAlerts delivered per channel kind ({engine}; rates off unless said)")
    print(
        f"{'channel':<52}{'alerts':>7}{'messages':>10}{'wall s':>9}{'alerts/s':>10}"
        f"{'CPU s':>8}{'alerts/CPU-s':>14}"
    )
    for row in rows:
        problems = row.summary.failed + row.summary.dead + row.summary.skipped
        print(
            f"{row.label:<52}{row.alerts:>7}{row.messages:>10}{row.wall:>9.2f}"
            f"{row.alerts / row.wall:>10.1f}{row.cpu:>8.2f}{row.alerts / max(row.cpu, 1e-9):>14.1f}"
            + (f"   ({problems} failed/dead/skipped)" if problems else "")
        )
    if min_gap is not None:
        print(f"shortest gap between Slack messages after the burst of 3: {min_gap:.2f} s")
    print("\nCPU: this process, receivers included (they run in it as threads). No target set.")
    rerun = "\nrerun: .venv/bin/python bench/alert_delivery.py"
    rerun += f" --alerts {args.alerts}" if args.alerts != 500 else ""
    print(rerun + (" --database URL" if args.database else ""))


if __name__ == "__main__":
    main()
