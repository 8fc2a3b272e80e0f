"""A morning digest of 2,000 matches: built, queued and sent to Slack, a webhook and email.

The database holds one watchlist (``drones``) with three digest routes (``0 7 * * *``,
Asia/Baghdad) to a Slack channel, a signed webhook and an email channel, and the 2,000
matches of the last day, over ``--stories`` stories (600; a few big ones, most of one to
three articles) from 8 outlets, seeded by bulk inserts. The clock is a fake one, set just
after the fire time, so the run is the scheduled path the service's digest job takes:

1. queue: ``queue_due_digests`` (each route: move its mark, read and group the matches,
   write the outbox row, in one transaction; three routes, three transactions);
2. send: one dispatch round (``Dispatcher.dispatch_due``, channels concurrently, at their
   default paces) rendering and delivering the three digests to local receivers: Slack
   and the webhook on a local HTTP server, email through Apprise's mailto:// to aiosmtpd.

Each phase's wall time and CPU time (this process; the receivers run in it as threads)
are printed, and for each channel the wall and CPU time of its send (the sending thread's
own CPU, receivers excluded). Target (issue 16): a digest of 2,000 matches rendered and
sent <= 2 s; the ratio is given for the three digests together and for each one (its
third of the queueing plus its send).

    .venv/bin/python bench/digest.py [--matches 2000] [--stories 600] [--database URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alert_delivery import (
    LOCAL,
    Receiver,
    SmtpInbox,
    bench_settings,
    cpu_seconds,
    fresh_database,
    webhook_secret,
)
from sqlalchemy import insert, select

from alerts.channels import Channel, Pace, build_channels
from alerts.dispatch import Dispatcher
from alerts.outbox import ClaimedAlert
from monitor.clock import FakeClock
from monitor.db.models import Article, Match, OutboxAlert, Source, Watchlist
from monitor.db.session import Database
from monitor.digests import queue_due_digests
from monitor.sources import sync_sources
from monitor.watchlists import sync_watchlists

OUTLETS = 8
ZONE = "Asia/Baghdad"
# 07:00 in Baghdad (UTC+3) on the day before the digest and on its day.
LAST_FIRE = datetime(2026, 12, 4, 4, 0, tzinfo=UTC)
FIRE = datetime(2026, 12, 5, 4, 0, tzinfo=UTC)
TARGET = 2.0


def settings_mapping(receiver: Receiver, inbox: SmtpInbox) -> dict[str, Any]:
    routes = [
        {"channel": name, "mode": "digest", "schedule": "0 7 * * *", "time_zone": ZONE}
        for name in ("slack", "hook", "mail")
    ]
    return {
        "sources": [
            {"name": f"outlet-{n}", "url": f"https://outlet-{n}.example/feed"}
            for n in range(OUTLETS)
        ],
        "channels": [
            {"name": "slack", "kind": "slack", "url": receiver.url("/slack")},
            {
                "name": "hook",
                "kind": "webhook",
                "url": receiver.url("/webhook"),
                "secret": webhook_secret(),
            },
            {"name": "mail", "kind": "email", "url": inbox.url()},
        ],
        "watchlists": [{"name": "drones", "queries": ["طائرة مسيرة"], "routes": routes}],
    }


def story_sizes(matches: int, stories: int, rng: random.Random) -> list[int]:
    """Articles per story: every story one, the rest drawn with Zipf-like weights (a
    few stories every outlet carries, most carried by one to three)."""
    sizes = [1] * stories
    weights = [1 / (rank + 1) ** 0.8 for rank in range(stories)]
    for story in rng.choices(range(stories), weights=weights, k=matches - stories):
        sizes[story] += 1
    return sizes


def seed(db: Database, matches: int, stories: int) -> None:
    """``matches`` articles, each matched once by ``drones`` after the last digest,
    grouped in ``stories`` stories (the founder's id as the others' story_id)."""
    rng = random.Random(16)
    with db.connection() as connection:
        sources = [
            connection.scalar(select(Source.id).where(Source.name == f"outlet-{n}"))
            for n in range(OUTLETS)
        ]
        watchlist_id = connection.scalar(select(Watchlist.id).where(Watchlist.name == "drones"))
        articles, found = [], []
        number = 0
        for story, size in enumerate(story_sizes(matches, stories, rng)):
            founder = number + 1
            for member in range(size):
                number += 1
                source = sources[(story + member) % OUTLETS] if member < OUTLETS else None
                articles.append(
                    {
                        "id": number,
                        "source_id": source or rng.choice(sources),
                        "url": f"https://outlet.example/news/{story}/{number}",
                        "title": f"طائرة مسيرة تستهدف موقعا في الحادثة رقم {story} ({member})",
                        "content_hash": f"{number:064d}",
                        "story_id": None if member == 0 else founder,
                    }
                )
        # Matches arrive through the day in random order of stories, as news does.
        order = list(range(len(articles)))
        rng.shuffle(order)
        step = (FIRE - LAST_FIRE) / (len(order) + 1)
        for position, index in enumerate(order):
            at = LAST_FIRE + step * (position + 1)
            articles[index] |= {"fetched_at": at, "published_at": at - timedelta(minutes=5)}
            found.append(
                {
                    "id": position + 1,
                    "article_id": articles[index]["id"],
                    "watchlist_id": watchlist_id,
                    "highlights": [{"query": "طائرة مسيرة", "text": "طائرة مسيرة"}],
                    "alerted": True,
                    "created_at": at,
                }
            )
        connection.execute(insert(Article.__table__), articles)
        connection.execute(insert(Match.__table__), found)


@dataclass
class TimedChannel:
    """A channel, its sends timed (wall, and the sending thread's CPU)."""

    inner: Channel
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def deadline(self) -> timedelta:
        return self.inner.deadline

    @property
    def packs(self) -> bool:
        return self.inner.packs

    @property
    def pace(self) -> Pace:
        return self.inner.pace

    def send(self, alerts: Sequence[ClaimedAlert]) -> str:
        cpu, wall = time.thread_time(), time.perf_counter()
        try:
            return self.inner.send(alerts)
        finally:
            self.walls.append(time.perf_counter() - wall)
            self.cpus.append(time.thread_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matches", type=int, default=2000)
    parser.add_argument("--stories", type=int, default=600)
    parser.add_argument("--database", help="a PostgreSQL URL (default: a SQLite file)")
    parser.add_argument("--profile", action="store_true", help="cProfile both phases")
    args = parser.parse_args()
    receiver, inbox = Receiver(), SmtpInbox()
    receiver.keep_bodies = inbox.keep = True
    clock = FakeClock(LAST_FIRE)
    try:
        with (
            tempfile.TemporaryDirectory() as name,
            fresh_database(args.database, Path(name), "digest") as db,
        ):
            settings = bench_settings(Path(name), **settings_mapping(receiver, inbox))
            with db.transaction() as session:
                sync_sources(session, settings, clock.now())
                sync_watchlists(session, settings, clock.now())  # marks at LAST_FIRE
            seed(db, args.matches, args.stories)
            channels = {
                name: TimedChannel(channel)
                for name, channel in build_channels(settings, LOCAL, clock).items()
            }
            dispatcher = Dispatcher(db, channels, settings.alerts, clock)
            clock.set(FIRE + timedelta(seconds=2))
            profiler = None
            if args.profile:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            cpu, wall = cpu_seconds(), time.perf_counter()
            queued = queue_due_digests(db, clock, max_article_age=settings.alerts.max_article_age)
            queue_wall, queue_cpu = time.perf_counter() - wall, cpu_seconds() - cpu
            cpu, wall = cpu_seconds(), time.perf_counter()
            summary = asyncio.run(dispatcher.dispatch_due())
            send_wall, send_cpu = time.perf_counter() - wall, cpu_seconds() - cpu
            if profiler is not None:
                import pstats

                profiler.disable()
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
            with db.connection() as connection:
                row = connection.execute(
                    select(OutboxAlert.payload).where(OutboxAlert.channel == "hook")
                ).scalar_one()
                payload_stories = len(row["stories"])
                payload_matches = row["matches"]
    finally:
        receiver.stop()
        inbox.stop()
    slack = json.loads(receiver.bodies["/slack"][0]) if receiver.bodies.get("/slack") else {}
    print(
        f"\nDigest of {payload_matches:,} matches in {payload_stories} stories from {OUTLETS} "
        f"outlets, to three channels ({'PostgreSQL' if args.database else 'SQLite'})"
    )
    print(f"{'phase':<46}{'wall s':>8}{'CPU s':>8}")
    print(
        f"{f'queue: {queued} digests, one transaction each':<46}{queue_wall:>8.3f}{queue_cpu:>8.3f}"
    )
    print(
        f"{f'send: one dispatch round, {summary.sent} sent':<46}{send_wall:>8.3f}{send_cpu:>8.3f}"
    )
    total = queue_wall + send_wall
    print(f"{'both':<46}{total:>8.3f}{queue_cpu + send_cpu:>8.3f}   = {total / TARGET:.2f}x of 2 s")
    print(
        f"\n{'each channel (its send, its thread)':<46}{'wall s':>8}{'CPU s':>8}{'+ queue/3':>11}"
    )
    sizes = {
        "slack": f"{len(receiver.bodies.get('/slack', [b''])[0]):,} bytes, "
        f"{len(slack.get('blocks', []))} blocks",
        "hook": f"{len(receiver.bodies.get('/webhook', [b''])[0]):,} bytes of JSON",
        "mail": f"{inbox.sizes[0] if inbox.sizes else 0:,} bytes of email",
    }
    for name, channel in channels.items():
        if not channel.walls:
            print(f"{name:<46}  nothing sent")
            continue
        each = queue_wall / 3 + channel.walls[0]
        print(
            f"{name:<46}{channel.walls[0]:>8.3f}{channel.cpus[0]:>8.3f}{each:>11.3f}"
            f"   = {each / TARGET:.2f}x of 2 s; {sizes[name]}"
        )
    if summary.failed or summary.dead:
        print(f"not delivered: {summary.failed} failed, {summary.dead} dead")
    print("\nCPU s of a phase: this process, receivers included (threads of it).")
    rerun = "\nrerun: .venv/bin/python bench/digest.py"
    print(rerun + (" --database URL" if args.database else ""))


if __name__ == "__main__":
    main()
