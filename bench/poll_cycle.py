"""One poll cycle over 2,000 feeds: wall time, peak memory, unchanged polls per second.

A local site (its own process, so its CPU is not counted) serves 2,000 realistic Arabic
RSS feeds of 50 items (titles and summaries from the real fixture texts, ~25 KB each),
with ETags. rasid starts in the steady state of a service that has polled them before:
each source knows its feed's ETag and body hash, and the 50 items are known articles.
Then, through the running service's path (the spider open, as under `rasid run`; poll
ticks claim every source -> Scrapy -> parse -> ingest; a cycle ends when the spider is
idle with every poll recorded):

  cycle 1  10% of the feeds have two new articles (their pages are fetched, extracted,
           stored, matched); the other 90% answer 304 Not Modified;
  cycle 2  every feed unchanged: 304 each (the ETag path);
  cycle 3  every feed unchanged from a server that sends no validators: the same bytes
           again, stopped by the body hash before any parse;
  and for comparison one `run --once` cycle, all unchanged (the ETags were forgotten in
  cycle 3, so the body hash stops them), which starts and stops a crawler of its own.

All feeds live on one host (127.0.0.1), so the benchmark raises the per-host concurrency
to the global limit and turns AutoThrottle off: on the real web 2,000 feeds are spread
over hundreds of hosts, each with its own politeness slot. robots.txt is obeyed (the site
has none: one 404 for the host), with no download delay (the default). Targets (issue 4):
the whole cycle <= 15 s, peak memory <= 300 MB; (issue 17) >= 1,500 unchanged polls per
CPU-second of the rasid process (user + sys, all its threads; the site's process is not
counted), in cycles 2 and 3 and under `run --once`.

With ``--web`` the web page and the API are served from the service's loop, as under
`rasid run`, while a reader in another process signs in and reads /matches and /metrics
once a second (issue 14: they must add no measurable cost; bench/web.py runs both ways
side by side).

    .venv/bin/python bench/poll_cycle.py [--feeds 2000] [--web]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import html
import io
import multiprocessing
import pstats
import resource
import tempfile
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from tests.support.http import LocalServer, Recorded, Reply

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
PER_FEED = 50
CHANGED_SHARE = 10  # one feed in ten has new articles in cycle 1
UNCHANGED_TARGET = 1500  # unchanged polls per CPU-second (issue 17)
WEB_PASSWORD = "bench password"  # a throwaway account in a temporary database

Cycle = tuple[float, float, dict[str, int]]  # wall s, CPU s, how the polls ended


def _cpu() -> float:
    """CPU seconds (user + sys) this process has used so far, all its threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _sentences() -> list[str]:
    texts = [
        (FIXTURES / "seed" / "ain-al-asad-drones.txt").read_text(encoding="utf-8"),
        (FIXTURES / "real" / "cnn-arabic_2013-08-03_syria-clashes.expected.txt").read_text(
            encoding="utf-8"
        ),
        (FIXTURES / "real" / "ant_SK-economy-1-20180218.txt").read_text(encoding="utf-8"),
    ]
    return [line.strip() for text in texts for line in text.splitlines() if len(line) > 40]


def _feed(feed: int, generation: int, port: int, sentences: list[str]) -> bytes:
    """Feed ``feed`` at ``generation`` (1: the known items; 2: two new ones on top)."""
    numbers = list(range(PER_FEED))
    if generation == 2:
        numbers = [PER_FEED + 1, PER_FEED, *numbers[:-2]]
    # The same date in both processes, so the steady state's body hashes match.
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    published = format_datetime(today)
    items = "".join(
        f"<item><title>{html.escape(sentences[(feed + n) % len(sentences)][:90])}</title>"
        f"<link>http://127.0.0.1:{port}/article/{feed}/{n}</link>"
        f"<guid isPermaLink='false'>a-{feed}-{n}</guid><pubDate>{published}</pubDate>"
        f"<description>{html.escape(sentences[(feed * 7 + n) % len(sentences)][:300])}"
        "</description></item>"
        for n in numbers
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>موقع {feed}</title><link>http://127.0.0.1:{port}/</link>"
        f"<description>أخبار</description>{items}</channel></rss>"
    ).encode()


def _serve(ports: multiprocessing.Queue, state: object, feeds: int) -> None:
    sentences = _sentences()
    page_template = (
        FIXTURES / "real" / "cnn-arabic_2013-08-03_syria-clashes.article.html"
    ).read_text(encoding="utf-8")
    cache: dict[tuple[int, int], bytes] = {}

    server = LocalServer(record=False)
    port = server.port

    def answer(request: Recorded) -> Reply:
        cycle, validators = state.value // 10, state.value % 10  # type: ignore[attr-defined]
        if request.path.startswith("/feed/"):
            feed = int(request.path.split("/")[2])
            generation = 2 if cycle >= 1 and feed % CHANGED_SHARE == 0 else 1
            etag = f'"g{generation}-{feed}"'
            headers = {"ETag": etag} if validators else {}
            if validators and request.headers.get("if-none-match") == etag:
                return Reply(304, b"", headers, content_type=None)
            key = (feed, generation)
            if key not in cache:
                cache[key] = _feed(feed, generation, port, sentences)
            return Reply(200, cache[key], headers, "application/rss+xml; charset=utf-8")
        if request.path.startswith("/article/"):
            marker = f"<p>رقم المقال {request.path} في هذا الاختبار.</p></body>"
            return Reply(body=page_template.replace("</body>", marker, 1))
        return Reply(404, b"not found", content_type="text/plain")

    server.fallback = answer
    ports.put(port)
    server.serve_forever()


def _steady_state(service: object, port: int, feeds: int) -> None:
    """What earlier polls left: every item known, every feed's ETag and body hash."""
    from sqlalchemy import insert, select, update

    from monitor.db.models import Article, DedupKey, Source
    from monitor.dedup import canonical_url, dedup_keys

    sentences = _sentences()
    db = service.db  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    with db.connection() as connection:
        known = connection.execute(
            insert(Article).returning(Article.id),
            {"url": "http://127.0.0.1/known", "content_hash": "0" * 64, "fetched_at": now},
        ).scalar_one()
        sources = dict(connection.execute(select(Source.name, Source.id)).all())
        for feed in range(feeds):
            url = f"http://127.0.0.1:{port}/feed/{feed}"
            rows = [
                {"key": key, "kind": kind, "article_id": known}
                for n in range(PER_FEED)
                for kind, key in dedup_keys(
                    url=canonical_url(f"http://127.0.0.1:{port}/article/{feed}/{n}"),
                    guid=f"a-{feed}-{n}",
                    content_hash="",
                    feed_url=url,
                )
                if kind in ("url", "guid")
            ]
            connection.execute(insert(DedupKey).prefix_with("OR IGNORE"), rows)
            body = _feed(feed, 1, port, sentences)
            connection.execute(
                update(Source)
                .where(Source.id == sources[f"feed-{feed}"])
                .values(etag=f'"g1-{feed}"', body_hash=hashlib.sha256(body).hexdigest())
            )


async def _cycles(
    service: object, state: object, profile: cProfile.Profile | None = None
) -> list[Cycle]:
    """The three cycles through the running service's path: the spider is open (as under
    `rasid run`), every source is made due, poll ticks claim them (claim -> Scrapy ->
    parse -> ingest) and the cycle ends when the spider is idle with every poll recorded.
    Then one `run --once` cycle, all unchanged, which also starts and stops a crawler.
    ``profile`` (when given) profiles the two unchanged cycles of the running service."""
    from sqlalchemy import update

    from monitor.db.models import Source
    from monitor.service import RunSummary

    db = service.db  # type: ignore[attr-defined]
    crawler = await service.start_crawler()  # type: ignore[attr-defined]
    results = []
    for value in (11, 21, 30):  # cycle * 10 + whether the server sends validators
        state.value = value  # type: ignore[attr-defined]
        due = {"next_poll_at": datetime.now(UTC), "claimed_until": None}
        if value == 30:  # forget the ETags: only body hashes can stop a parse now
            due["etag"] = None
        with db.connection() as connection:
            connection.execute(update(Source).values(**due))
        service.summary = RunSummary()  # type: ignore[attr-defined]
        before = crawler.feed_counts()
        profiling = profile is not None and value != 11
        if profiling:
            profile.enable()  # type: ignore[union-attr]
        cpu, wall = _cpu(), time.perf_counter()
        while await service.poll_tick():  # type: ignore[attr-defined]
            pass  # a tick claims at most 1,000 sources
        while not service.crawl_idle():  # type: ignore[attr-defined]
            await asyncio.sleep(0.005)
        elapsed, used = time.perf_counter() - wall, _cpu() - cpu
        if profiling:
            profile.disable()  # type: ignore[union-attr]
        counts = {k: v - before.get(k, 0) for k, v in crawler.feed_counts().items()}
        counts["polls"] = service.summary.polled  # type: ignore[attr-defined]
        counts["new"] = service.summary.new_articles  # type: ignore[attr-defined]
        counts["errors"] = len(service.summary.errors)  # type: ignore[attr-defined]
        _show_errors(service.summary.errors)  # type: ignore[attr-defined]
        results.append((elapsed, used, counts))
    await crawler.stop()

    state.value = 21
    service.summary = RunSummary()  # type: ignore[attr-defined]
    cpu, wall = _cpu(), time.perf_counter()
    summary = await service.run_once()  # type: ignore[attr-defined]
    counts = {
        "polls": summary.polled,
        "not_modified": summary.answered_304,
        "same_body": summary.same_body,
        "parsed": summary.parsed,
        "new": summary.new_articles,
        "errors": len(summary.errors),
    }
    _show_errors(summary.errors)
    results.append((time.perf_counter() - wall, _cpu() - cpu, counts))
    return results


async def _cycles_served(service: object, state: object, reads: object) -> list[Cycle]:
    """:func:`_cycles` with the web served from this loop and read once a second."""
    from monitor.app import App
    from monitor.web.context import WebContext
    from monitor.web.server import WebServer

    app = App(service.settings, clock=service.clock)  # type: ignore[attr-defined]
    if not app.count_users():
        app.add_user("bench", "admin", WEB_PASSWORD)
    context = WebContext(app, app.settings, app.clock, service=service)  # type: ignore[arg-type]
    server = WebServer(context)
    address = await server.start()
    spawn = multiprocessing.get_context("spawn")
    ready, stop = spawn.Event(), spawn.Event()
    reader = spawn.Process(target=_read_web, args=(address, ready, stop, reads), daemon=True)
    reader.start()
    await asyncio.to_thread(ready.wait, 60)  # signed in (argon2) before the clock starts
    try:
        return await _cycles(service, state)
    finally:
        stop.set()
        await asyncio.to_thread(reader.join, 10)
        await server.stop()
        app.close()


def _read_web(address: str, ready: object, stop: object, reads: object) -> None:
    """Sign in through the form, then read /matches and /metrics once a second."""
    import re

    import httpx

    with httpx.Client(base_url=address, timeout=30) as client:
        form = client.get("/login").text
        found = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert found, "no CSRF field on /login"
        signed = client.post(
            "/login", data={"name": "bench", "password": WEB_PASSWORD, "csrf_token": found[1]}
        )
        assert signed.status_code == 303, signed.text
        ready.set()  # type: ignore[attr-defined]
        while not stop.is_set():  # type: ignore[attr-defined]
            began = time.monotonic()
            for path in ("/matches", "/metrics"):
                client.get(path).raise_for_status()
            reads.value += 1  # type: ignore[attr-defined]
            stop.wait(max(0.0, 1.0 - (time.monotonic() - began)))  # type: ignore[attr-defined]


def _show_errors(errors: dict[str, str]) -> None:
    for name, error in list(errors.items())[:3]:
        print(f"  error: {name}: {error}")


def measure(
    feeds: int, *, web: bool = False, profile: cProfile.Profile | None = None
) -> tuple[list[Cycle], float, int]:
    """The cycles, peak RSS in MB, and how many times the web reader read /matches and
    /metrics (``web``: the page and the API served from the service's loop, as under
    `rasid run`, with a reader in its own process, so its CPU is not counted;
    ``profile``: cProfile over the unchanged cycles 2 and 3)."""
    state = multiprocessing.Value("i", 1)  # cycle * 10 + validators
    ports: multiprocessing.Queue = multiprocessing.Queue()
    site = multiprocessing.Process(target=_serve, args=(ports, state, feeds), daemon=True)
    site.start()
    port = ports.get(timeout=30)

    from monitor.config import settings_from_mapping
    from monitor.service import Service

    with tempfile.TemporaryDirectory() as folder:
        settings = settings_from_mapping(
            {
                "database": {"url": f"sqlite:///{folder}/bench.db"},
                "crawl": {
                    "allow_private_networks": True,
                    "concurrent_requests": 64,
                    "concurrent_requests_per_domain": 64,
                    "autothrottle": False,
                },
                "sources": [
                    {"name": f"feed-{n}", "url": f"http://127.0.0.1:{port}/feed/{n}"}
                    for n in range(feeds)
                ],
                "channels": [{"name": "console", "kind": "console"}],
                "watchlists": [
                    {"name": "drones", "queries": ["طائرة مسيرة"]},
                    {"name": "syria", "queries": ["ريف دمشق"]},
                ],
                "web": {"listen": "127.0.0.1:0", "enabled": web},
            },
            Path(folder) / "settings.toml",
            env={},
        )
        service = Service(settings, alert_stream=io.StringIO())
        service.prepare()
        _steady_state(service, port, feeds)

        from crawler.runner import run_in_reactor

        reads = multiprocessing.get_context("spawn").Value("i", 0)  # shared with the reader
        if web:
            results = run_in_reactor(lambda: _cycles_served(service, state, reads))
        else:
            results = run_in_reactor(lambda: _cycles(service, state, profile))
        service.close()
    site.terminate()
    return results, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, reads.value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument(
        "--web", action="store_true", help="serve the web page, read /matches and /metrics 1/s"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile cycles 2 and 3 (cProfile; their CPU figures then include its cost)",
    )
    args = parser.parse_args()

    profile = cProfile.Profile() if args.profile else None
    results, peak, reads = measure(args.feeds, web=args.web, profile=profile)
    changed = args.feeds // CHANGED_SHARE
    print(f"\nPoll cycles over {args.feeds} local feeds of {PER_FEED} items")
    print(
        f"{'cycle':<34} {'wall s':>7} {'CPU s':>6} {'polls':>6} {'304':>5} {'same':>5} "
        f"{'parsed':>6} {'new':>4} {'errors':>6} {'unchanged/CPU-s':>15}  vs target"
    )
    labels = (
        f"1: {changed} changed, rest 304",
        "2: all 304",
        "3: all same bytes (no validators)",
        "run --once, unchanged (+ crawler)",
    )
    for label, (wall, cpu, counts) in zip(labels, results, strict=True):
        unchanged = counts.get("not_modified", 0) + counts.get("same_body", 0)
        rate = unchanged / cpu if cpu else 0.0
        versus = f"cycle {wall / 15:.2f}x of 15 s"
        if counts.get("parsed", 0) == 0:
            versus += f"; {rate / UNCHANGED_TARGET:.2f}x of {UNCHANGED_TARGET:,}/CPU-s"
        print(
            f"{label:<34} {wall:7.2f} {cpu:6.2f} {counts.get('polls', 0):6} "
            f"{counts.get('not_modified', 0):5} {counts.get('same_body', 0):5} "
            f"{counts.get('parsed', 0):6} {counts.get('new', 0):4} {counts.get('errors', 0):6} "
            f"{rate:15.0f}  {versus}"
        )
    print(f"new articles in cycle 1: expected {2 * changed}")
    print(f"peak RSS: {peak:.0f} MB = {peak / 300:.2f}x the 300 MB budget")
    if args.web:
        print(f"web served: /matches and /metrics read {reads} times each")
    if profile is not None:
        print("\nprofile of cycles 2 and 3 (the running service's unchanged polls):")
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
    print(f"\nrerun: .venv/bin/python bench/poll_cycle.py{' --web' if args.web else ''}")


if __name__ == "__main__":
    main()
