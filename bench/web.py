"""The web page and the API over 100,000 stored articles and 20,000 matches (issue 14).

Targets: the matches page and the API's matches list p95 <= 150 ms; the live preview
over the last 5,000 articles <= 1 s; the page and the API add no measurable cost to the
poll cycle.

The database is seeded with bulk inserts, not the ingest pipeline: ``--articles`` real
Arabic articles (the ANT sample of bench/corpus.py, each copy made distinct by a marker
word; one story in a hundred is the seed drone article) from 40 sources over the last 30
days, in stories of three outlets (three articles in five belong to one), and among the
newest one big story of ``--big-story`` articles (the drone article, as a major event is
carried by every outlet, again with each update); each article's terms in the archive's
full-text index, as ingest leaves them; ``--matches`` matches over 20 watchlists, each
with the highlights the matcher gives for that text (query, words, field, offsets), as
ingest stores them; every article of the big story is matched. ``--reuse`` keeps the
SQLite file in the temporary folder and uses it again.

The application is served by ``WebServer`` (uvicorn) in its own process on a free port
of 127.0.0.1, as ``rasid web`` serves it; a client in this process (httpx, one
keep-alive connection) signs in through the /login form for the page and sends an API
token to /api/v1. Each request is timed ``--requests`` times after a warm-up (the
preview ``--preview-requests`` times): the page and the API unfiltered, by watchlist
(the most and the least matched), by source, the next page by its cursor and a page half-way
back in the history; the preview of "طائرة مسيرة" (and of a common word) over the newest
5,000 articles, through the API and through the editor's page fragment.

Then bench/poll_cycle.py's measurement runs ``--rounds`` times each way, alternating
(off, served, served, off, ...), each in its own process: without the web, and with the
page and API served from the service's loop and read once a second (/matches, /metrics).

    .venv/bin/python bench/web.py [--reuse] [--database-url URL] [--big-story 300]
        [--requests 200] [--preview-requests 50] [--feeds 2000] [--rounds 2] [--no-poll-cycle]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from corpus import FIXTURES, articles
from sqlalchemy import func, insert, select, text

from monitor.archive import search_terms
from monitor.config import settings_from_mapping
from monitor.db.models import Article, Match, Source, Watchlist
from monitor.matching import compile_watchlists

SOURCES = 40
WATCHLISTS = {
    "drones": "طائرة مسيرة",
    "un": "الأمم المتحدة",
    "trump": "ترامب",
    "russia": "روسيا",
    "saudi": "السعودية",
    "iran": "إيران",
    "energy": "النفط OR الغاز",
    "football": "كرة القدم",
    "eu": "الاتحاد الأوروبي",
    "egypt": "مصر",
    "syria": "سوريا",
    "iraq": "العراق",
    "palestine": "فلسطين OR غزة",
    "elections": "الانتخابات",
    "central-banks": "البنك المركزي",
    "police": "الشرطة",
    "north-korea": "كوريا الشمالية",
    "refugees": "اللاجئين",
    "china": "الصين",
    "tunisia": "تونس",
}
STORY = 3  # articles per story in each block of five: three outlets, then two alone
BLOCK = 5
DAYS = 30
BATCH = 5_000
LIST_TARGET = 0.150
PREVIEW_TARGET = 1.0
PASSWORD = "bench password"  # a throwaway account in a bench database
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
CACHE = Path(tempfile.gettempdir()) / "rasid-bench-web"


def settings_mapping(database_url: str) -> dict[str, Any]:
    return {
        "database": {"url": database_url},
        "web": {"listen": "127.0.0.1:0"},
        "sources": [
            {"name": f"outlet-{n:02d}", "url": f"https://outlet{n:02d}.example/rss"}
            for n in range(SOURCES)
        ],
        "watchlists": [{"name": name, "queries": [query]} for name, query in WATCHLISTS.items()],
    }


# -- seeding ----------------------------------------------------------------------------


def _bases() -> list[tuple[str, str]]:
    """(title, body) of the distinct texts, the seed drone article last."""
    pairs, origin = articles()
    print(f"corpus: {origin}")
    seed = (FIXTURES / "seed" / "ain-al-asad-drones.txt").read_text(encoding="utf-8").strip()
    title, _, body = seed.partition("\n")
    pairs = [(title or body[:80], body) for title, body in pairs]
    return [*pairs, (title.strip(), body.strip())]


def seed(db: Any, count: int, matches: int, big_story: int) -> None:
    """Fill ``db`` (migrated, sources and watchlists synced) with ``count`` articles,
    their archive terms and ``matches`` matches, in bulk; ``big_story`` of the newest
    articles' stories are one story (the drone article), each of them matched."""
    rng = random.Random(14)
    bases = _bases()
    drone = len(bases) - 1
    began = time.perf_counter()
    terms = [search_terms(title, body) for title, body in bases]
    index = compile_watchlists({name: [query] for name, query in WATCHLISTS.items()})
    found = [index.match_fields({"title": title, "body": body}) for title, body in bases]
    print(f"  terms and matches of {len(bases)} texts: {time.perf_counter() - began:.1f} s")

    with db.connection() as connection:
        sources = [
            connection.execute(
                select(Source.id).where(Source.name == f"outlet-{n:02d}")
            ).scalar_one()
            for n in range(SOURCES)
        ]
        watchlists = dict(connection.execute(select(Watchlist.name, Watchlist.id)).all())
        dialect = connection.dialect.name
    if dialect == "sqlite":
        index_sql = "INSERT INTO article_terms (rowid, terms) VALUES (:id, :terms)"
    else:
        index_sql = (
            "INSERT INTO article_terms (article_id, terms) "
            "VALUES (:id, strip(to_tsvector('simple', :terms)))"
        )

    now = datetime.now(UTC).replace(microsecond=0)
    start, step = now - timedelta(days=DAYS), timedelta(days=DAYS) / count
    chosen: list[int] = []  # each article's text
    for number in range(count):
        if number % BLOCK in range(1, STORY):
            chosen.append(chosen[number - number % BLOCK])
        else:
            chosen.append(drone if rng.random() < 0.01 else rng.randrange(len(bases) - 1))
    # The big story: the story members of every other block among the newest articles.
    big = [n for n in range(count - 2 * BLOCK * big_story, count) if n % (2 * BLOCK) < STORY]
    big = big[-big_story:] if big_story else []
    story = {number: big[0] + 1 for number in big[1:]}
    for number in big:
        chosen[number] = drone
    forced = [(number, "drones") for number in big]
    taken = set(forced)
    candidates = [
        (number, name)
        for number, base in enumerate(chosen)
        for name in sorted(found[base])
        if (number, name) not in taken
    ]
    picked = sorted(forced + rng.sample(candidates, min(matches - len(forced), len(candidates))))

    began = time.perf_counter()
    at = 0
    for first in range(0, count, BATCH):
        rows, term_rows, match_rows = [], [], []
        for number in range(first, min(first + BATCH, count)):
            title, body = bases[chosen[number]]
            marker = f"نسخة{number}"
            fetched = start + step * number
            position = number % BLOCK
            rows.append(
                {
                    "id": number + 1,
                    "source_id": sources[(number // BLOCK * 7 + position * 13) % SOURCES],
                    "url": f"https://outlet.example/{fetched:%Y/%m/%d}/{number}",
                    "title": title,
                    "body": f"{body}\n{marker}",
                    "summary": "",
                    "language": "ar",
                    "extraction": "page",
                    "content_hash": f"{number:064x}",
                    "published_at": fetched - timedelta(minutes=10),
                    "fetched_at": fetched,
                    "story_id": story.get(
                        number, number - position + 1 if 0 < position < STORY else None
                    ),
                }
            )
            term_rows.append({"id": number + 1, "terms": f"{terms[chosen[number]]} {marker}"})
            while at < len(picked) and picked[at][0] == number:
                name = picked[at][1]
                match_rows.append(
                    {
                        "article_id": number + 1,
                        "watchlist_id": watchlists[name],
                        "highlights": [
                            {
                                "query": hit.query,
                                "text": hit.text,
                                "field": hit.field,
                                "start": hit.start,
                                "end": hit.end,
                            }
                            for hit in found[chosen[number]][name]
                        ],
                        "alerted": True,
                        "created_at": fetched + timedelta(seconds=30),
                    }
                )
                at += 1
        with db.connection() as connection:
            connection.execute(insert(Article.__table__), rows)
            connection.execute(text(index_sql), term_rows)
            if match_rows:
                connection.execute(insert(Match.__table__), match_rows)
    print(f"  stored {count:,} articles, {at:,} matches in {time.perf_counter() - began:.0f} s")
    if dialect != "sqlite":
        with db.connection() as connection:
            connection.execute(text("ANALYZE"))


# -- serving ----------------------------------------------------------------------------


def _serve(mapping: dict[str, Any], folder: str, addresses: Any, stop: Any) -> None:
    """``rasid web`` in this process: the application on a free port of 127.0.0.1."""
    from monitor.app import App
    from monitor.web.context import WebContext
    from monitor.web.server import WebServer

    settings = settings_from_mapping(mapping, Path(folder) / "settings.toml", env={})
    app = App(settings)

    async def main() -> None:
        server = WebServer(WebContext(app, settings, app.clock))
        addresses.put(await server.start())
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await server.stop()

    try:
        asyncio.run(main())
    finally:
        app.close()


def _timed(send: Callable[[], httpx.Response], times: int, warm: int) -> list[float]:
    for _ in range(warm):
        send().raise_for_status()
    seconds = []
    for _ in range(times):
        began = time.perf_counter()
        answer = send()
        seconds.append(time.perf_counter() - began)
        answer.raise_for_status()
    return seconds


def _row(label: str, seconds: list[float], target: float) -> tuple[str, float, float, float]:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
    p50 = statistics.median(ordered)
    print(
        f"{label:<48} {len(ordered):>4} {p50 * 1000:8.1f} {p95 * 1000:8.1f} "
        f"{ordered[-1] * 1000:8.1f}  {p95 / target:.2f}x of {target * 1000:.0f} ms"
    )
    return label, p50, p95, ordered[-1]


def measure_web(
    address: str, token: str, options: argparse.Namespace, deep: int, watchlists: list[str]
) -> None:
    page = httpx.Client(base_url=address, timeout=60, follow_redirects=False)
    api = httpx.Client(base_url=address, timeout=60, headers={"Authorization": f"Bearer {token}"})
    with page, api:
        found = CSRF_INPUT.search(page.get("/login").text)
        assert found, "no CSRF field on /login"
        signed = page.post(
            "/login", data={"name": "bench", "password": PASSWORD, "csrf_token": found[1]}
        )
        assert signed.status_code == 303, signed.text
        editor = CSRF_INPUT.search(page.get("/watchlists/new").text)
        assert editor, "no CSRF field on /watchlists/new"
        csrf = editor[1]
        second = api.get("/api/v1/matches", params={"limit": 50}).json()["next"]
        cursor = int(str(httpx.URL(second).params["before"]))

        lists = [
            ("", {}),
            (f"?watchlist={watchlists[0]} (most)", {"watchlist": watchlists[0]}),
            (f"?watchlist={watchlists[-1]} (least)", {"watchlist": watchlists[-1]}),
            ("?source=outlet-07", {"source": "outlet-07"}),
            ("?before=<page 2 cursor>", {"before": cursor}),
            (f"?before={deep} (half-way back)", {"before": deep}),
        ]
        print(
            f"\n{'request':<48} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  p95 vs target"
        )
        times, warm = options.requests, 10
        for label, params in lists:
            _row(
                f"page /matches{label}",
                _timed(lambda p=params: page.get("/matches", params=p), times, warm),
                LIST_TARGET,
            )
        for label, params in lists:
            _row(
                f"API /api/v1/matches{label}",
                _timed(
                    lambda p=params: api.get("/api/v1/matches", params={"limit": 50, **p}),
                    times,
                    warm,
                ),
                LIST_TARGET,
            )
        times, warm = options.preview_requests, 3
        for query in ("طائرة مسيرة", "روسيا"):
            answer = api.post("/api/v1/queries/preview", json={"query": query, "recent": 5000})
            result = answer.json()
            print(
                f"  preview {query!r}: {result['searched']} articles searched, "
                f"{result['matched']} matched, {len(result['forms'])} surface forms"
            )
            _row(
                f"API preview {query!r}",
                _timed(
                    lambda q=query: api.post(
                        "/api/v1/queries/preview", json={"query": q, "recent": 5000}
                    ),
                    times,
                    warm,
                ),
                PREVIEW_TARGET,
            )
            _row(
                f"page /watchlists/preview {query!r}",
                _timed(
                    lambda q=query: page.post(
                        "/watchlists/preview", data={"queries": q, "csrf_token": csrf}
                    ),
                    times,
                    warm,
                ),
                PREVIEW_TARGET,
            )


# -- the poll cycle with and without the web ------------------------------------------


def _poll_variant(feeds: int, web: bool, results: Any) -> None:
    import poll_cycle

    # Its peak memory is left out: a spawned process's maximum RSS starts from its parent's.
    cycles, _, reads = poll_cycle.measure(feeds, web=web)
    results.put(([(wall, cpu) for wall, cpu, _ in cycles], reads))


def measure_poll_cycle(feeds: int, rounds: int) -> None:
    spawn = multiprocessing.get_context("spawn")
    order = [
        web
        for number in range(rounds)
        for web in ((False, True) if number % 2 == 0 else (True, False))
    ]
    runs: dict[bool, list[list[tuple[float, float]]]] = {False: [], True: []}
    reads = 0
    for web in order:
        queue = spawn.Queue()
        process = spawn.Process(target=_poll_variant, args=(feeds, web, queue))
        process.start()
        cycles, count = queue.get(timeout=900)
        process.join()
        runs[web].append(cycles)
        reads += count
        total = sum(cpu for _, cpu in cycles)
        way = "served" if web else "off"
        print(f"  poll cycles, web {way}: {total:.2f} CPU s")
    labels = ("1: 10% changed", "2: all 304", "3: all same bytes", "run --once")
    print(
        f"\nPoll cycle over {feeds} feeds, CPU s (median of {rounds} each; web served: "
        f"/matches and /metrics read {reads // rounds} times a run)"
    )
    print(f"{'cycle':<22} {'web off':>8} {'served':>8}  served/off")
    for at, label in enumerate(labels):
        off = statistics.median(run[at][1] for run in runs[False])
        on = statistics.median(run[at][1] for run in runs[True])
        print(f"{label:<22} {off:8.2f} {on:8.2f}  {on / off:.2f}x")
    off = statistics.median(sum(cpu for _, cpu in run) for run in runs[False])
    on = statistics.median(sum(cpu for _, cpu in run) for run in runs[True])
    each = " / ".join(
        f"{sum(c for _, c in a):.2f} vs {sum(c for _, c in b):.2f}"
        for a, b in zip(runs[False], runs[True], strict=True)
    )
    print(f"{'all four':<22} {off:8.2f} {on:8.2f}  {on / off:.2f}x")
    print(f"all four, off vs served, round by round: {each}")


# -- main -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--matches", type=int, default=20_000)
    parser.add_argument(
        "--big-story", type=int, default=300, help="articles in the newest, biggest story"
    )
    parser.add_argument("--database-url", help="a PostgreSQL database to seed (emptied first)")
    parser.add_argument("--reuse", action="store_true", help=f"keep the SQLite file in {CACHE}")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--preview-requests", type=int, default=50)
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-poll-cycle", action="store_true")
    options = parser.parse_args()

    from monitor.app import App
    from monitor.errors import Conflict

    with tempfile.TemporaryDirectory() as scratch:
        if options.database_url:
            url = options.database_url
        elif options.reuse:
            CACHE.mkdir(exist_ok=True)
            name = f"web-{options.articles}-{options.matches}-{options.big_story}.db"
            url = f"sqlite:///{CACHE}/{name}"
        else:
            url = f"sqlite:///{scratch}/web.db"
        mapping = settings_mapping(url)
        settings = settings_from_mapping(mapping, Path(scratch) / "settings.toml", env={})
        with App(settings) as app:
            with app.db.connection() as connection:
                stored = connection.execute(select(func.count(Article.id))).scalar_one()
                found = connection.execute(select(func.count(Match.id))).scalar_one()
            kept = options.reuse or options.database_url
            if not kept or (stored, found) != (options.articles, options.matches):
                if stored:
                    raise SystemExit(f"{app.db.safe_url} holds other articles: give an empty one")
                print(f"seeding {app.db.safe_url}")
                seed(app.db, options.articles, options.matches, options.big_story)
            else:
                print(f"reusing {app.db.safe_url}")
            with app.db.connection() as connection:
                stored = connection.execute(select(func.count(Article.id))).scalar_one()
                found = connection.execute(select(func.count(Match.id))).scalar_one()
                deep = connection.execute(select(func.max(Match.id))).scalar_one() // 2
                counted = connection.execute(
                    select(Watchlist.name)
                    .join(Match, Match.watchlist_id == Watchlist.id)
                    .group_by(Watchlist.name)
                    .order_by(func.count(Match.id).desc())
                ).scalars()
                watchlists = list(counted)
            try:
                app.add_user("bench", "admin", PASSWORD)
            except Conflict:
                app.set_password("bench", PASSWORD)
            token = app.create_token("bench", f"bench {time.time():.0f}").secret
        print(f"{stored:,} articles, {found:,} matches, {len(WATCHLISTS)} watchlists, ", end="")
        print(f"{SOURCES} sources")

        spawn = multiprocessing.get_context("spawn")
        addresses, stop = spawn.Queue(), spawn.Event()
        server = spawn.Process(target=_serve, args=(mapping, scratch, addresses, stop))
        server.start()
        try:
            address = addresses.get(timeout=120)
            print(f"served by uvicorn (WebServer) at {address}, in its own process")
            measure_web(address, token, options, deep, watchlists)
        finally:
            stop.set()
            server.join(30)

    if not options.no_poll_cycle:
        measure_poll_cycle(options.feeds, options.rounds)
    print("\nrerun: .venv/bin/python bench/web.py --reuse")


if __name__ == "__main__":
    main()
