"""Load and soak: `rasid run` on 5,000 changing local feeds and 1,000 queries for 10 minutes.

What runs, each in a process of its own so that only rasid's processes are measured:

- a site (a small asyncio HTTP/1.1 server on 127.0.0.1) serving ``--feeds`` RSS feeds of
  15 items, with ETags, and an article page for every item. It publishes new items at a
  steady ``--rate`` per second across all feeds: some alone, some as re-edited copies of
  one story on 2-4 feeds a few seconds apart (their own title tag, lead and a few words
  changed: rasid's story index joins them). A share of stories (``--match-share``)
  carries a sentence that some watchlist query matches;
- a webhook receiver (the same server) recording every delivery's ``webhook-id`` for
  three channels;
- ``--instances`` `rasid run` processes (the venv's console script), all on one settings
  file: the feeds as sources with a pinned ``--interval``, ``--queries`` queries in 100
  watchlists routed to the channels, the web page off.

The texts are the fixtures' real Arabic (tests/fixtures): the queries are the evaluation
sets' queries and 3-word phrases from half of the real sentences; rasid's own matcher
sorts every sentence into "matches a query" (story hits) or "matches none" (background),
so that only stories given a hit sentence match. Before rasid starts, the database is
put in the steady state of a service that has polled the feeds before: the 15 items of
each feed are known articles, each feed's ETag is known, and the sources' next polls are
spread over one interval.

Every ``--sample`` seconds: each rasid process's RSS (VmRSS) and CPU time, the due-source
backlog (due, enabled, unclaimed sources: SQL), the polls done (sources whose
``last_polled_at`` moved), articles stored and alerts delivered. ``--kill-at`` kills one
instance with SIGKILL mid-soak (``--restart-after``: starts it again later). At the end
the site stops publishing, rasid drains (every published item stored, the frontier and
the outbox empty), each instance gets SIGTERM, and the receiver's record is held against
the outbox: every ``sent`` row received exactly once, no row left pending or dead, no
published item missing.

    .venv/bin/python bench/soak.py [--minutes 10] [--feeds 5000] [--queries 1000]
        [--database sqlite|postgres] [--instances 2] [--kill-at 5] [--restart-after 2]
        [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import multiprocessing
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
POSTGRES = os.environ.get(
    "RASID_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PER_FEED = 15  # items in a feed; the oldest falls off when a new one comes
CHANNELS = ("desk", "wire", "ops")
QUERIES_PER_WATCHLIST = 10
TAGS = ("عاجل", "تقرير", "متابعة", "خاص", "بالصور")
EDIT_WORD = "كذلك"  # the word a re-edit puts in place of others
_SENTENCE_END = re.compile(r"(?<=[.!؟])\s+")


# -- the texts ---------------------------------------------------------------------------------


@dataclass
class Corpus:
    """What the site writes with, and the watchlists that read it."""

    queries: list[str]
    hits: list[str]  # sentences some query matches
    background: list[str]  # sentences no query matches
    words: list[str]  # single words no query matches


def _sentences(text: str) -> list[str]:
    found = []
    for line in text.splitlines():
        found += [s.strip() for s in _SENTENCE_END.split(line) if len(s.strip()) > 30]
    return found


def _alpha(sentence: str) -> list[str]:
    return [w for w in (t.strip(".,،:؛!؟\"'()«»") for t in sentence.split()) if w.isalpha()]


def build_corpus(queries: int, seed: int = 17) -> Corpus:
    """The queries and the sentences, sorted by rasid's own matcher (see the docstring)."""
    from monitor.errors import QuerySyntaxError
    from monitor.matching import compile_watchlists, parse_query

    def valid(query: str) -> bool:
        try:
            parse_query(query)
        except QuerySyntaxError:
            return False  # only common words: rasid refuses it, and so would a user
        return True

    texts = [
        (FIXTURES / "seed" / "ain-al-asad-drones.txt").read_text(encoding="utf-8"),
        (FIXTURES / "real" / "cnn-arabic_2013-08-03_syria-clashes.expected.txt").read_text(
            encoding="utf-8"
        ),
        *(p.read_text(encoding="utf-8") for p in sorted((FIXTURES / "real").glob("ant_*.txt"))),
        (FIXTURES / "real" / "jawharafm_79209.ant-doc.txt").read_text(encoding="utf-8"),
    ]
    real = [s for text in texts for s in _sentences(text) if "<" not in s and "http" not in s]
    cases = [
        json.loads(line)
        for path in sorted((FIXTURES / "eval").glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    rng = random.Random(seed)
    rng.shuffle(real)
    half = len(real) // 2
    chosen = [q for q in dict.fromkeys(case["query"] for case in cases) if valid(q)]
    chosen = chosen[: queries // 5]
    phrases = []
    for sentence in real[:half]:
        words = _alpha(sentence)
        phrases += [" ".join(words[i : i + 3]) for i in range(0, len(words) - 2, 2)]
    rng.shuffle(phrases)
    for phrase in phrases:  # phrases of real sentences: they make the hit sentences
        if len(chosen) >= queries // 2:
            break
        if phrase not in chosen and valid(phrase) and EDIT_WORD not in phrase:
            chosen.append(phrase)
    # The rest are like the names most watchlists hold: three words of the vocabulary
    # that no text here puts together, so they seldom or never match.
    rare = sorted({w for s in real for w in _alpha(s) if len(w) > 3})
    while len(chosen) < queries:
        name = " ".join(rng.sample(rare, 3))
        if name not in chosen and valid(name):
            chosen.append(name)
    index = compile_watchlists({"all": chosen})
    candidates = list(dict.fromkeys(real + [case["text"] for case in cases]))
    hits = [s for s in candidates if index.match(s)]
    background = [s for s in candidates if not index.match(s)]
    vocabulary = sorted({w for s in candidates for w in _alpha(s) if len(w) > 1})
    words = [w for w in vocabulary if not index.match(w)]
    return Corpus(chosen, hits, background, words)


def watchlists(queries: list[str]) -> list[dict[str, Any]]:
    """Watchlists of ten queries each; every one routed to a channel, every fourth to two."""
    found = []
    for number, start in enumerate(range(0, len(queries), QUERIES_PER_WATCHLIST)):
        channels = [CHANNELS[number % len(CHANNELS)]]
        if number % 4 == 0:
            channels.append(CHANNELS[(number + 1) % len(CHANNELS)])
        found.append(
            {
                "name": f"w{number:03}",
                "queries": queries[start : start + QUERIES_PER_WATCHLIST],
                "channels": channels,
            }
        )
    return found


# -- the site and the receiver ----------------------------------------------------------------


@dataclass
class Item:
    feed: int
    number: int
    story: int
    copy: int
    hit: bool
    title: str
    paragraphs: list[str]
    published: str  # RFC 822
    at: float  # time.time() of publication


def story_text(corpus: Corpus, story: int, copy: int, hit: bool) -> tuple[str, list[str]]:
    """A story's text in the words of copy ``copy``: copies share the body, each with its
    own tag, lead and a few words changed (a re-edit, not a duplicate)."""
    rng = random.Random(story)
    title = rng.choice(corpus.background)[:90]
    lead = rng.choice(corpus.background)
    paragraphs = [rng.choices(corpus.words, k=35) for _ in range(4)]
    hit_sentence = rng.choice(corpus.hits) if hit else None
    if copy:
        edit = random.Random(story * 31 + copy)
        for words in paragraphs:
            for _ in range(2):
                words[edit.randrange(len(words))] = EDIT_WORD
        title = f"{TAGS[copy % len(TAGS)]}: {title}"
        lead = f"(وكالات {copy}) {lead}"
    texts = [lead, *(" ".join(words) + "." for words in paragraphs)]
    if hit_sentence:
        texts.insert(2, hit_sentence)
    return title, texts


class Site:
    """The feeds, their pages and the webhook receiver, in one asyncio process."""

    def __init__(self, corpus: Corpus, feeds: int, rate: float, match_share: float, log: Path):
        self.corpus, self.feeds, self.rate, self.match_share = corpus, feeds, rate, match_share
        self.versions = [0] * feeds
        self.items: dict[int, list[Item]] = {}  # new items per feed, oldest first
        self.pages: dict[tuple[int, int], Item] = {}
        self.bodies: dict[int, bytes] = {}
        self.counters = [PER_FEED] * feeds
        self.pending: list[tuple[float, Item]] = []
        self.published: list[Item] = []
        self.publishing = True
        self.port = 0
        self.log = log.open("a", encoding="utf-8")
        self.rng = random.Random(5)
        self.stories = 0
        old = datetime.now(UTC) - timedelta(days=3)
        self.old_date = format_datetime(old.replace(microsecond=0))

    # publishing

    def _new_story(self, now: float) -> int:
        copies = 1 if self.rng.random() < 0.6 else self.rng.randint(2, 4)
        hit = self.rng.random() < self.match_share
        story = self.stories
        self.stories += 1
        delay = 0.0
        for copy, feed in enumerate(self.rng.sample(range(self.feeds), copies)):
            title, paragraphs = story_text(self.corpus, story, copy, hit)
            number = self.counters[feed]
            self.counters[feed] += 1
            item = Item(feed, number, story, copy, hit, title, paragraphs, "", 0.0)
            self.pending.append((now + delay, item))
            delay += self.rng.uniform(3, 20)
        return copies

    def _publish(self, item: Item, now: float) -> None:
        item.at = now
        item.published = format_datetime(datetime.now(UTC).replace(microsecond=0))
        self.items.setdefault(item.feed, []).append(item)
        self.pages[(item.feed, item.number)] = item
        self.versions[item.feed] += 1
        self.bodies.pop(item.feed, None)
        self.published.append(item)

    async def publisher(self) -> None:
        credit, last = 0.0, time.monotonic()
        while True:
            await asyncio.sleep(0.1)
            now = time.monotonic()
            if self.publishing:
                credit += (now - last) * self.rate
                while credit >= 1:
                    credit -= self._new_story(now)
            last = now
            # Once stopped, a story's copies still to come are published at once.
            due = [entry for entry in self.pending if entry[0] <= now or not self.publishing]
            self.pending = [entry for entry in self.pending if entry not in due]
            for _, item in sorted(due, key=lambda entry: entry[0]):
                self._publish(item, time.time())

    # answering

    def feed(self, feed: int) -> bytes:
        body = self.bodies.get(feed)
        if body is not None:
            return body
        port = self.port
        new = self.items.get(feed, [])[-PER_FEED:]
        entries = [
            (
                f"n-{i.feed}-{i.number}",
                i.number,
                html.escape(i.title),
                i.published,
                html.escape(i.paragraphs[0][:200]),
            )
            for i in reversed(new)
        ]
        for number in range(PER_FEED - 1, PER_FEED - 1 - (PER_FEED - len(new)), -1):
            entries.append(
                (
                    f"i-{feed}-{number}",
                    number,
                    f"خبر سابق {feed} رقم {number}",
                    self.old_date,
                    "ملخص خبر سابق من أرشيف الموقع",
                )
            )
        items = "".join(
            f"<item><title>{title}</title>"
            f"<link>http://127.0.0.1:{port}/a/{feed}/{number}</link>"
            f"<guid isPermaLink='false'>{guid}</guid><pubDate>{date}</pubDate>"
            f"<description>{summary}</description></item>"
            for guid, number, title, date, summary in entries
        )
        body = (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>موقع {feed}</title><link>http://127.0.0.1:{port}/</link>"
            f"<description>أخبار الموقع {feed}</description>{items}</channel></rss>"
        ).encode()
        self.bodies[feed] = body
        return body

    def page(self, feed: int, number: int) -> bytes:
        item = self.pages.get((feed, number))
        if item is None:
            title, paragraphs = f"خبر سابق {feed} رقم {number}", ["ملخص خبر سابق"]
        else:
            title, paragraphs = item.title, item.paragraphs
        body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
        return (
            '<!DOCTYPE html><html lang="ar" dir="rtl"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)} - موقع {feed}</title></head><body>"
            "<header><nav><a href='/'>الرئيسية</a> <a href='/s'>محليات</a> "
            "<a href='/e'>رياضة</a></nav></header><main><article>"
            f"<h1>{html.escape(title)}</h1><time>{item.published if item else ''}</time>"
            f"{body}</article><aside><h2>الأكثر قراءة</h2><ul><li>خبر</li><li>خبر آخر</li>"
            "</ul></aside></main><footer>جميع الحقوق محفوظة</footer></body></html>"
        ).encode()

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple:
        parts = path.split("/")
        if method == "POST" and parts[1] == "hook":
            event = json.loads(body)
            article = event.get("article") or {}
            self.log.write(
                "\t".join(
                    [
                        f"{time.time():.3f}",
                        parts[2],
                        headers.get("webhook-id", ""),
                        str(event.get("event")),
                        str(event.get("watchlist")),
                        str(article.get("url")),
                    ]
                )
                + "\n"
            )
            self.log.flush()
            return 200, b"ok", "text/plain", {}
        if parts[1] == "feed":
            feed = int(parts[2])
            etag = f'"{feed}-{self.versions[feed]}"'
            if headers.get("if-none-match") == etag:
                return 304, b"", None, {"ETag": etag}
            return 200, self.feed(feed), "application/rss+xml; charset=utf-8", {"ETag": etag}
        if parts[1] == "a":
            return 200, self.page(int(parts[2]), int(parts[3])), "text/html; charset=utf-8", {}
        if path == "/control/stop":
            self.publishing = False
            return 200, b"stopping", "text/plain", {}
        if path == "/control/published":
            rows = [[i.feed, i.number, i.story, i.copy, i.hit, i.at] for i in self.published]
            done = not self.publishing and not self.pending
            state = {"done": done, "items": rows}
            return 200, json.dumps(state).encode(), "application/json", {}
        return 404, b"not found", "text/plain", {}


async def _connection(site: Site, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
    """HTTP/1.1 with keep-alive and Content-Length bodies: all rasid and Scrapy send."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            body = await reader.readexactly(length) if length else b""
            try:
                status, payload, kind, extra = site.answer(
                    method, target.split("?")[0], headers, body
                )
            except Exception as error:  # noqa: BLE001 - a bench server answers 500
                status, payload, kind, extra = 500, repr(error).encode(), "text/plain", {}
            reason = {200: "OK", 304: "Not Modified", 404: "Not Found"}.get(status, "Error")
            out = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(payload)}"]
            if kind:
                out.append(f"Content-Type: {kind}")
            out += [f"{k}: {v}" for k, v in extra.items()]
            writer.write(("\r\n".join(out) + "\r\n\r\n").encode() + payload)
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                break
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


def serve_site(ports: Any, corpus: Corpus, feeds: int, rate: float, share: float, log: str):
    """The site process: binds 127.0.0.1, reports its port, serves until terminated."""
    site = Site(corpus, feeds, rate, share, Path(log))

    async def main() -> None:
        server = await asyncio.start_server(
            lambda r, w: _connection(site, r, w), "127.0.0.1", 0, backlog=2048
        )
        site.port = server.sockets[0].getsockname()[1]
        ports.put(site.port)
        publisher = asyncio.create_task(site.publisher())
        async with server:
            await server.serve_forever()
        publisher.cancel()

    asyncio.run(main())


# -- rasid and its database -----------------------------------------------------------------


def settings_text(database: str, port: int, feeds: int, interval: int, lists: list) -> str:
    lines = [
        'log_level = "INFO"',
        "[database]",
        f'url = "{database}"',
        "[crawl]",
        "allow_private_networks = true",
        # All feeds share one host here; on the web they spread over hundreds of sites.
        "concurrent_requests = 32",
        "concurrent_requests_per_domain = 32",
        "autothrottle = false",
        'poll_tick = "1s"',
        "[web]",
        "enabled = false",
    ]
    for name in CHANNELS:
        lines += [
            "[[channels]]",
            f'name = "{name}"',
            'kind = "webhook"',
            f'url = "http://127.0.0.1:{port}/hook/{name}"',
        ]
    for watchlist in lists:
        lines += [
            "[[watchlists]]",
            f'name = "{watchlist["name"]}"',
            f"queries = {json.dumps(watchlist['queries'], ensure_ascii=False)}",
            f"channels = {json.dumps(watchlist['channels'])}",
        ]
    for feed in range(feeds):
        lines += [
            "[[sources]]",
            f'name = "feed-{feed}"',
            f'url = "http://127.0.0.1:{port}/feed/{feed}"',
            f'interval = "{interval}s"',
        ]
    return "\n".join(lines) + "\n"


def steady_state(db: Any, settings: Any, port: int, feeds: int, interval: int) -> None:
    """Sources synced, every feed's first 15 items known, its ETag known, and next polls
    spread evenly over one interval: a service that has run for a while."""
    from sqlalchemy import bindparam, insert, select, update

    from monitor.db.models import Article, DedupKey, Source
    from monitor.dedup import canonical_url, dedup_keys
    from monitor.sources import sync_sources
    from monitor.watchlists import sync_watchlists

    now = datetime.now(UTC)
    with db.transaction() as session:
        sync_sources(session, settings, now)
        sync_watchlists(session, settings, now)
    with db.connection() as connection:
        known = connection.execute(
            insert(Article).returning(Article.id),
            {"url": "http://127.0.0.1/known", "content_hash": "0" * 64, "fetched_at": now},
        ).scalar_one()
        ids = dict(connection.execute(select(Source.name, Source.id)).all())
        rows = []
        for feed in range(feeds):
            url = f"http://127.0.0.1:{port}/feed/{feed}"
            for number in range(PER_FEED):
                link = canonical_url(f"http://127.0.0.1:{port}/a/{feed}/{number}")
                keys = dedup_keys(
                    url=link, guid=f"i-{feed}-{number}", content_hash="", feed_url=url
                )
                rows += [
                    {"key": k, "kind": kind, "article_id": known}
                    for kind, k in keys
                    if kind in ("url", "guid")
                ]
            if len(rows) > 20_000 or feed == feeds - 1:
                connection.execute(insert(DedupKey), rows)
                rows = []
        connection.execute(
            update(Source)
            .where(Source.id == bindparam("sid"))
            .values(etag=bindparam("tag"), next_poll_at=bindparam("due")),
            [
                {
                    "sid": ids[f"feed-{feed}"],
                    "tag": f'"{feed}-0"',
                    "due": now + timedelta(seconds=interval * feed / feeds),
                }
                for feed in range(feeds)
            ],
        )


def rasid_command(config: Path) -> list[str]:
    return [str(Path(sys.executable).parent / "rasid"), "--config", str(config), "run"]


def start_rasid(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RASID_")}
    return subprocess.Popen(
        rasid_command(config),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
        cwd=config.parent,
    )


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_s(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Sample:
    t: float  # seconds since the soak began
    rss_mb: list[float | None]
    cpu_s: list[float | None]
    backlog: int
    polls: int  # sources polled since the previous sample
    articles: int
    frontier: int
    outbox_pending: int
    outbox_sent: int
    received: int
    load1: float
    site_cpu_s: float | None  # the site and receiver's process, for comparison


class Probe:
    """Read-only counts from the database, for samples and the final accounting."""

    def __init__(self, url: str) -> None:
        from monitor.db.session import Database

        self.db = Database(url)
        self.last = datetime.now(UTC)

    def counts(self, *, sampling: bool = True) -> dict[str, int]:
        from sqlalchemy import func, or_, select

        from monitor.db.models import Article, FrontierEntry, OutboxAlert, Source

        now = datetime.now(UTC)
        with self.db.connection() as c:
            backlog = c.execute(
                select(func.count()).where(
                    Source.enabled,
                    Source.paused_at.is_(None),
                    Source.next_poll_at < now,
                    or_(Source.claimed_until.is_(None), Source.claimed_until < now),
                )
            ).scalar_one()
            polls = c.execute(
                select(func.count()).where(Source.last_polled_at > self.last)
            ).scalar_one()
            articles = c.execute(select(func.count()).where(Article.guid.like("n-%"))).scalar_one()
            frontier = c.execute(select(func.count()).select_from(FrontierEntry)).scalar_one()
            status = dict(
                c.execute(
                    select(OutboxAlert.status, func.count()).group_by(OutboxAlert.status)
                ).all()
            )
        if sampling:
            self.last = now
        return {
            "backlog": backlog,
            "polls": polls,
            "articles": articles,
            "frontier": frontier,
            "outbox_pending": status.get("pending", 0),
            "outbox_sent": status.get("sent", 0),
            "outbox_dead": status.get("dead", 0),
        }

    def outbox(self) -> list[dict[str, Any]]:
        from sqlalchemy import select

        from monitor.db.models import OutboxAlert

        with self.db.connection() as c:
            rows = c.execute(
                select(
                    OutboxAlert.alert_id,
                    OutboxAlert.kind,
                    OutboxAlert.channel,
                    OutboxAlert.status,
                    OutboxAlert.attempts,
                    OutboxAlert.last_error,
                    OutboxAlert.payload,
                )
            ).all()
        return [row._asdict() for row in rows]

    def stored_guids(self) -> set[str]:
        from sqlalchemy import select

        from monitor.db.models import Article

        with self.db.connection() as c:
            return set(c.scalars(select(Article.guid).where(Article.guid.like("n-%"))))

    def frontier_rows(self) -> list[dict[str, Any]]:
        from sqlalchemy import select

        from monitor.db.models import FrontierEntry

        with self.db.connection() as c:
            rows = c.execute(
                select(
                    FrontierEntry.guid,
                    FrontierEntry.state,
                    FrontierEntry.attempts,
                    FrontierEntry.last_error,
                )
            ).all()
        return [row._asdict() for row in rows]

    def matches(self) -> tuple[int, int]:
        """Matches, and the articles with at least one."""
        from sqlalchemy import distinct, func, select

        from monitor.db.models import Match

        with self.db.connection() as c:
            return (
                c.execute(select(func.count()).select_from(Match)).scalar_one(),
                c.execute(select(func.count(distinct(Match.article_id)))).scalar_one(),
            )

    def articles_of(self, alert_ids: list[str]) -> list[dict[str, Any]]:
        """For an alert: its article as stored, with the story rasid put it in."""
        from sqlalchemy import select

        from monitor.db.models import Article, Match, OutboxAlert

        with self.db.connection() as c:
            rows = c.execute(
                select(
                    OutboxAlert.alert_id,
                    OutboxAlert.created_at,
                    Article.id,
                    Article.url,
                    Article.story_id,
                    Article.extraction,
                    Article.fetched_at,
                )
                .join(Match, Match.id == OutboxAlert.match_id)
                .join(Article, Article.id == Match.article_id)
                .where(OutboxAlert.alert_id.in_(alert_ids))
            ).all()
        return [
            {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r._asdict().items()}
            for r in rows
        ]


def received(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    return [line.split("\t") for line in log.read_text(encoding="utf-8").splitlines() if line]


def fetch_json(port: int, path: str) -> Any:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as reply:
        return json.loads(reply.read())


@contextmanager
def database(kind: str, folder: Path) -> Iterator[Any]:
    sys.path.insert(0, str(ROOT / "bench"))
    from alert_delivery import fresh_database

    with fresh_database(POSTGRES if kind == "postgres" else None, folder, "soak") as db:
        yield db


# -- the soak ---------------------------------------------------------------------------------


@dataclass
class Instance:
    number: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    pids: list[int] = field(default_factory=list)
    killed_at: float | None = None
    restarted_at: float | None = None
    stop_seconds: float | None = None
    exit_code: int | None = None
    cpu_before_kill: float = 0.0


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of y over x, or None with fewer than 3 points."""
    if len(points) < 3:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else None


def soak(args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, Any]:
    from monitor.config import load_settings

    if args.database == "sqlite" and args.instances > 1:
        raise SystemExit("SQLite allows one `rasid run` per file: use --database postgres")
    began_setup = time.monotonic()
    corpus = build_corpus(args.queries)
    lists = watchlists(corpus.queries)
    say(
        f"corpus: {len(corpus.queries)} queries in {len(lists)} watchlists, "
        f"{len(corpus.hits)} hit and {len(corpus.background)} background sentences, "
        f"{len(corpus.words)} words"
    )
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="rasid-soak-") as name:
        folder = Path(name)
        hooks = folder / "received.tsv"
        ports = spawn.Queue()
        site = spawn.Process(
            target=serve_site,
            args=(ports, corpus, args.feeds, args.rate, args.match_share, str(hooks)),
            daemon=True,
        )
        site.start()
        port = ports.get(timeout=60)
        instances = [Instance(n, folder / f"rasid-{n}.log") for n in range(args.instances)]
        try:
            with database(args.database, folder) as db:
                from alert_delivery import schema_url

                url = schema_url(db)
                config = folder / "settings.toml"
                config.write_text(
                    settings_text(url, port, args.feeds, args.interval, lists), encoding="utf-8"
                )
                settings = load_settings(config, env={})
                steady_state(db, settings, port, args.feeds, args.interval)
                db.dispose()
                say(f"setup {time.monotonic() - began_setup:.0f} s; starting rasid")
                return _run(args, say, url, config, hooks, port, instances, site.pid)
        finally:
            for instance in instances:
                if instance.process and instance.process.poll() is None:
                    instance.process.kill()
                    instance.process.wait()
            site.terminate()
            site.join(10)
            if args.keep_logs:
                kept = Path(args.keep_logs)
                kept.mkdir(parents=True, exist_ok=True)
                for instance in instances:
                    (kept / instance.log.name).write_bytes(instance.log.read_bytes())


def _run(
    args: argparse.Namespace,
    say: Callable[[str], None],
    url: str,
    config: Path,
    hooks: Path,
    port: int,
    instances: list[Instance],
    site_pid: int,
) -> dict[str, Any]:
    probe = Probe(url)
    started = time.monotonic()
    for instance in instances:
        instance.process = start_rasid(config, instance.log)
        instance.pids.append(instance.process.pid)
    samples: list[Sample] = []
    soak_end = started + args.minutes * 60
    kill_time = started + args.kill_at * 60 if args.kill_at is not None else None
    restart_time = (
        kill_time + args.restart_after * 60
        if kill_time is not None and args.restart_after is not None
        else None
    )
    victim = instances[-1]
    cpu_base = 0.0

    def cpu_total() -> float:
        return sum(cpu_s(i.process.pid) or 0.0 for i in instances if i.process) + sum(
            i.cpu_before_kill for i in instances
        )

    def sample() -> Sample:
        counts = probe.counts()
        now = time.monotonic() - started
        s = Sample(
            t=round(now, 1),
            rss_mb=[
                rss_mb(i.process.pid) if i.process and i.process.poll() is None else None
                for i in instances
            ],
            cpu_s=[cpu_s(i.process.pid) if i.process else None for i in instances],
            backlog=counts["backlog"],
            polls=counts["polls"],
            articles=counts["articles"],
            frontier=counts["frontier"],
            outbox_pending=counts["outbox_pending"],
            outbox_sent=counts["outbox_sent"],
            received=len(received(hooks)),
            load1=os.getloadavg()[0],
            site_cpu_s=cpu_s(site_pid),
        )
        samples.append(s)
        rss = " ".join(f"{r:.0f}" if r else "-" for r in s.rss_mb)
        say(
            f"t={s.t:6.0f}s rss={rss} MB backlog={s.backlog} polls={s.polls} "
            f"articles={s.articles} frontier={s.frontier} pending={s.outbox_pending} "
            f"sent={s.outbox_sent} received={s.received} load={s.load1:.1f} "
            f"site CPU={s.site_cpu_s or 0:.0f}s"
        )
        return s

    for instance in instances:
        if instance.process.poll() is not None:
            raise SystemExit(f"rasid exited at once: {instance.log.read_text()[-2000:]}")
    next_sample = started + args.sample
    while time.monotonic() < soak_end:
        time.sleep(min(1.0, max(0.0, next_sample - time.monotonic())))
        now = time.monotonic()
        if kill_time is not None and victim.killed_at is None and now >= kill_time:
            victim.cpu_before_kill = cpu_s(victim.process.pid) or 0.0
            victim.process.send_signal(signal.SIGKILL)
            victim.process.wait()
            victim.killed_at = now - started
            say(f"kill -9 instance {victim.number} (pid {victim.process.pid})")
        if (
            restart_time is not None
            and victim.restarted_at is None
            and victim.killed_at is not None
            and now >= restart_time
        ):
            victim.process = start_rasid(config, victim.log)
            victim.pids.append(victim.process.pid)
            victim.restarted_at = now - started
            say(f"restarted instance {victim.number} (pid {victim.process.pid})")
        if now >= next_sample:
            sample()
            next_sample += args.sample
        for instance in instances:
            if instance.process.poll() is not None and instance.killed_at is None:
                raise SystemExit(
                    f"rasid {instance.number} exited: {instance.log.read_text()[-3000:]}"
                )
    soak_seconds = time.monotonic() - started
    cpu_soak = cpu_total() - cpu_base

    # Drain: no more publishing; wait until every published item is stored and every
    # alert is out (or the drain deadline passes).
    fetch_json_post(port, "/control/stop")
    while not fetch_json(port, "/control/published")["done"]:
        time.sleep(0.2)
    state = fetch_json(port, "/control/published")
    items = state["items"]
    guids = {f"n-{feed}-{number}" for feed, number, *_ in items}
    drain_began = time.monotonic()
    deadline = drain_began + args.interval + args.drain
    drained = False
    while time.monotonic() < deadline:
        time.sleep(2)
        counts = probe.counts(sampling=False)
        got = len(received(hooks))
        if (
            counts["articles"] >= len(guids)
            and counts["frontier"] == 0
            and counts["outbox_pending"] == 0
            and got >= counts["outbox_sent"]
        ):
            drained = True
            break
    drain_seconds = time.monotonic() - drain_began
    sample()

    stops = []
    for instance in instances:
        if instance.process.poll() is not None:
            continue
        before = time.monotonic()
        instance.process.send_signal(signal.SIGTERM)
        try:
            instance.exit_code = instance.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            instance.process.kill()
            instance.exit_code = instance.process.wait()
        instance.stop_seconds = time.monotonic() - before
        stops.append(instance.stop_seconds)

    return account(
        args,
        probe,
        samples,
        items,
        guids,
        hooks,
        instances,
        {
            "soak_seconds": soak_seconds,
            "drain_seconds": drain_seconds,
            "drained": drained,
            "cpu_s": cpu_soak,
        },
    )


def fetch_json_post(port: int, path: str) -> None:
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=30) as reply:
        reply.read()


def account(
    args: argparse.Namespace,
    probe: Probe,
    samples: list[Sample],
    items: list[list[Any]],
    guids: set[str],
    hooks: Path,
    instances: list[Instance],
    times: dict[str, Any],
) -> dict[str, Any]:
    """The receiver's record against the outbox and the published items."""
    outbox = probe.outbox()
    deliveries = received(hooks)
    by_id = Counter(d[2] for d in deliveries)
    rows = {row["alert_id"]: row for row in outbox}
    sent = {a for a, row in rows.items() if row["status"] == "sent"}
    duplicates = {a: n for a, n in by_id.items() if n > 1}
    lost = sorted(sent - set(by_id))
    unknown = sorted(set(by_id) - set(rows))
    unsettled = [
        {k: row[k] for k in ("alert_id", "kind", "channel", "status", "attempts", "last_error")}
        for row in outbox
        if row["status"] != "sent"
    ]
    stored = probe.stored_guids()
    missing = sorted(guids - stored)
    story_of = {(feed, number): story for feed, number, story, *_ in items}
    hit_stories = {story for _f, _n, story, _c, hit, _t in items if hit}
    # One alert per (story, watchlist, channel): two alert ids for one published story
    # are a duplicate the receiver cannot drop by its webhook-id.
    per_story: dict[tuple[int, str, str], set[str]] = defaultdict(set)
    alerted_stories = set()
    for _t, channel, alert_id, event, watchlist, link in deliveries:
        if event != "match":
            continue
        parts = link.rstrip("/").split("/")
        story = story_of.get((int(parts[-2]), int(parts[-1])))
        if story is None:
            continue
        per_story[(story, watchlist, channel)].add(alert_id)
        alerted_stories.add(story)
    story_duplicates = {
        f"story {s} / {w} / {c}": probe.articles_of(sorted(ids))
        for (s, w, c), ids in per_story.items()
        if len(ids) > 1
    }
    end = times["soak_seconds"]
    half = [s for s in samples if end / 2 <= s.t <= end + 1]
    memory = []
    for n, instance in enumerate(instances):
        points = [
            (s.t / 60, s.rss_mb[n])
            for s in half
            if s.rss_mb[n] is not None
            and (instance.restarted_at is None or s.t > instance.restarted_at + 30)
        ]
        values = [s.rss_mb[n] for s in samples if s.rss_mb[n] is not None]
        memory.append(
            {
                "instance": n,
                "first_mb": values[0] if values else None,
                "last_mb": values[-1] if values else None,
                "peak_mb": max(values) if values else None,
                "slope_mb_per_min_second_half": slope(points),
            }
        )
    soak_samples = [s for s in samples if s.t <= times["soak_seconds"] + 1]
    polls = sum(s.polls for s in soak_samples)
    articles = soak_samples[-1].articles if soak_samples else 0
    backlog_half = [(s.t / 60, float(s.backlog)) for s in half]
    published_in_soak = len(items)
    matches, matched = probe.matches()
    return {
        "command": "",
        "instances": [
            {
                "number": i.number,
                "pids": i.pids,
                "killed_at_s": i.killed_at,
                "restarted_at_s": i.restarted_at,
                "stop_s": i.stop_seconds,
                "exit_code": i.exit_code,
                "log_errors": _log_lines(i.log),
            }
            for i in instances
        ],
        **times,
        "published_items": published_in_soak,
        "stories": len({story for _f, _n, story, *_ in items}),
        "hit_stories": len(hit_stories),
        "hit_stories_alerted": len(hit_stories & alerted_stories),
        "articles_stored": len(stored & guids),
        "missing_items": missing[:50],
        "missing_count": len(missing),
        "frontier_left": probe.frontier_rows()[:20],
        "matches": matches,
        "articles_matched": matched,
        "polls": polls,
        "polls_per_s": polls / times["soak_seconds"],
        "articles_per_s": articles / times["soak_seconds"],
        "cpu_s_per_poll_ms": 1000 * times["cpu_s"] / polls if polls else None,
        "cpu_share_of_a_core": times["cpu_s"] / times["soak_seconds"],
        "backlog_max": max((s.backlog for s in soak_samples), default=0),
        "backlog_mean_second_half": (
            sum(b for _, b in backlog_half) / len(backlog_half) if backlog_half else None
        ),
        "backlog_slope_per_min_second_half": slope(backlog_half),
        "memory": memory,
        "outbox_rows": len(rows),
        "outbox_by_status": dict(Counter(row["status"] for row in outbox)),
        "outbox_by_kind": dict(Counter(row["kind"] for row in outbox)),
        "deliveries": len(deliveries),
        "distinct_delivered": len(by_id),
        "duplicates": {
            a: {
                "count": n,
                "kind": rows.get(a, {}).get("kind"),
                "channel": rows.get(a, {}).get("channel"),
            }
            for a, n in duplicates.items()
        },
        "lost": lost,
        "unknown": unknown,
        "unsettled": unsettled[:50],
        "unsettled_count": len(unsettled),
        "story_duplicates": story_duplicates,
        "load1_mean": sum(s.load1 for s in samples) / len(samples) if samples else None,
        "samples": [asdict(s) for s in samples],
    }


def _log_lines(log: Path) -> dict[str, Any]:
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    lines = text.splitlines()
    errors = [line for line in lines if " ERROR " in line or "Traceback" in line]
    warnings = [line for line in lines if " WARNING " in line]
    return {
        "lines": len(lines),
        "errors": len(errors),
        "warnings": len(warnings),
        "first_errors": errors[:5],
        "first_warnings": warnings[:5],
        "last_lines": lines[-5:],
    }


def print_report(args: argparse.Namespace, r: dict[str, Any]) -> None:
    db = "PostgreSQL" if args.database == "postgres" else "SQLite"
    print(
        f"\nSoak: {args.instances} x `rasid run` on {db}, {args.feeds:,} feeds every "
        f"{args.interval} s, {args.queries:,} queries, {args.rate}/s new items, "
        f"{r['soak_seconds'] / 60:.1f} min ({os.cpu_count()} cores, mean load "
        f"{r['load1_mean']:.2f})"
    )
    print("memory (RSS MB over time, per instance):")
    step = max(1, len(r["samples"]) // 12)
    for s in r["samples"][::step] + r["samples"][-1:]:
        rss = "  ".join(f"{m:6.0f}" if m else "     -" for m in s["rss_mb"])
        print(
            f"  t={s['t']:6.0f}s  {rss}   backlog {s['backlog']:5}  polls {s['polls']:5}  "
            f"articles {s['articles']:5}  received {s['received']:5}"
        )
    for m in r["memory"]:
        slope_text = (
            "n/a"
            if m["slope_mb_per_min_second_half"] is None
            else f"{m['slope_mb_per_min_second_half']:+.2f} MB/min"
        )
        print(
            f"instance {m['instance']}: RSS {m['first_mb'] or 0:.0f} -> {m['last_mb'] or 0:.0f} "
            f"MB (peak {m['peak_mb'] or 0:.0f}); slope over the second half {slope_text}"
        )
    backlog_slope = r["backlog_slope_per_min_second_half"]
    print(
        f"backlog: max {r['backlog_max']}, mean over the second half "
        f"{r['backlog_mean_second_half'] or 0:.1f}, slope "
        f"{'n/a' if backlog_slope is None else f'{backlog_slope:+.1f}/min'}"
    )
    print(
        f"polls: {r['polls']:,} = {r['polls_per_s']:.1f}/s (offered "
        f"{args.feeds / args.interval:.1f}/s); rasid CPU {r['cpu_s']:.0f} s = "
        f"{r['cpu_share_of_a_core']:.2f} of a core"
    )
    print(
        f"items published {r['published_items']:,} in {r['stories']:,} stories "
        f"({r['hit_stories']} meant to match, {r['hit_stories_alerted']} alerted); "
        f"stored {r['articles_stored']:,} ({r['articles_per_s']:.2f}/s), missing "
        f"{r['missing_count']}; matches {r['matches']:,} on {r['articles_matched']:,} articles"
    )
    print(
        f"drain: {r['drain_seconds']:.0f} s ({'complete' if r['drained'] else 'NOT complete'});"
        f" frontier left {len(r['frontier_left'])}"
    )
    print(
        f"outbox {r['outbox_rows']:,} rows {r['outbox_by_status']}; receiver "
        f"{r['deliveries']:,} deliveries of {r['distinct_delivered']:,} ids"
    )
    print(
        f"lost (sent, never received): {len(r['lost'])}; duplicated (same id twice): "
        f"{len(r['duplicates'])}; unknown ids: {len(r['unknown'])}; unsettled rows: "
        f"{r['unsettled_count']}; one story alerted twice (distinct ids): "
        f"{len(r['story_duplicates'])}"
    )
    for label, value in (
        ("duplicated", r["duplicates"]),
        ("lost", r["lost"]),
        ("unsettled", r["unsettled"]),
        ("story duplicates", r["story_duplicates"]),
        ("missing items", r["missing_items"]),
    ):
        if value:
            shown = list(value.items())[:10] if isinstance(value, dict) else value[:10]
            print(f"  {label}: {shown}")
    for i in r["instances"]:
        killed = f", killed at {i['killed_at_s']:.0f} s" if i["killed_at_s"] else ""
        restarted = f", restarted at {i['restarted_at_s']:.0f} s" if i["restarted_at_s"] else ""
        stop = "not running at the end"
        if i["stop_s"] is not None:
            stop = f"stopped by SIGTERM in {i['stop_s']:.2f} s, exit {i['exit_code']}"
        print(
            f"instance {i['number']}: {stop}{killed}{restarted}; log: "
            f"{i['log_errors']['errors']} errors, {i['log_errors']['warnings']} warnings"
        )
        for line in i["log_errors"]["first_errors"][:3]:
            print(f"    {line[:200]}")
    print(f"\nrerun: {r['command']}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--feeds", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=3.0, help="new items per second")
    parser.add_argument(
        "--match-share",
        type=float,
        default=0.2,
        help="share of stories given a sentence a query matches",
    )
    parser.add_argument("--interval", type=int, default=120, help="each feed's poll interval, s")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--kill-at", type=float, help="kill -9 the last instance at MINUTES")
    parser.add_argument("--restart-after", type=float, help="restart it MINUTES after the kill")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between samples")
    parser.add_argument(
        "--drain",
        type=float,
        default=120.0,
        help="seconds allowed for the drain beyond one interval",
    )
    parser.add_argument("--json", help="also write the report as JSON to this file")
    parser.add_argument("--keep-logs", help="copy rasid's logs into this folder")
    parser.add_argument("--quiet", action="store_true", help="no line per sample")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    say = (lambda _text: None) if args.quiet else (lambda text: print(text, flush=True))
    report = soak(args, say)
    report["command"] = " ".join(
        shlex.quote(a) for a in [".venv/bin/python", "bench/soak.py", *sys.argv[1:]]
    )
    print_report(args, report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, ensure_ascii=False, indent=1))
    clean = (
        report["drained"]
        and not report["lost"]
        and not report["duplicates"]
        and not report["unknown"]
        and not report["unsettled_count"]
        and not report["missing_count"]
        and not report["story_duplicates"]
    )
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
