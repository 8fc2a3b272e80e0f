"""Articles per second through parse -> extract -> dedup -> store -> match, end to end.

A local site (in its own process, so its CPU is not counted) serves feeds of 50 items
each; every item links to a distinct article page built from the real Arabic fixture
pages. rasid's service polls them all once (`run --once` semantics, in this process,
real Scrapy on the asyncio reactor, SQLite) and stores, deduplicates and matches every
article. Reported: articles per wall-clock second and per CPU-second of the rasid
process ("per core"). Target (issue 2): >= 80 articles/s per core.

    .venv/bin/python bench/pipeline_throughput.py [--feeds 20] [--per-feed 50]
"""

from __future__ import annotations

import argparse
import html
import io
import multiprocessing
import os
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from tests.support.http import LocalServer, Recorded, Reply

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
PAGES = [
    "real/cnn-arabic_2013-08-03_syria-clashes.article.html",
    "real/assabah-tn_164913.article.html",
    "real/jawharafm_79209.article.html",
]


def _seed_page() -> str:
    lines = (FIXTURES / "seed" / "ain-al-asad-drones.txt").read_text(encoding="utf-8").splitlines()
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines[1:] if line.strip())
    return (
        '<!DOCTYPE html><html lang="ar"><head><meta charset="utf-8"><title>'
        f"{html.escape(lines[0])}</title></head><body><nav><a href='/'>الرئيسية</a></nav>"
        f"<article><h1>{html.escape(lines[0])}</h1>{body}</article>"
        "<footer>جميع الحقوق محفوظة</footer></body></html>"
    )


def _serve(port_queue: multiprocessing.Queue, feeds: int, per_feed: int) -> None:
    templates = [(FIXTURES / p).read_text(encoding="utf-8") for p in PAGES] + [_seed_page()]
    published = format_datetime(datetime.now(UTC) - timedelta(minutes=30))

    server = LocalServer(record=False)
    port = server.port

    def answer(request: Recorded) -> Reply:
        if request.path.startswith("/feed/"):
            feed = int(request.path.split("/")[2])
            items = "".join(
                f"<item><title>خبر {feed}-{i}</title>"
                f"<link>http://127.0.0.1:{port}/article/{feed}/{i}</link>"
                f"<guid>a-{feed}-{i}</guid><pubDate>{published}</pubDate>"
                f"<description>ملخص الخبر {i}</description></item>"
                for i in range(per_feed)
            )
            body = (
                f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                f"<title>موقع {feed}</title>{items}</channel></rss>"
            )
            return Reply(body=body, content_type="application/rss+xml; charset=utf-8")
        if request.path.startswith("/article/"):
            _, _, feed, number = request.path.split("/")
            index = int(feed) * per_feed + int(number)
            page = templates[index % len(templates)]
            marker = f"<p>رقم المقال {index} في هذا الاختبار.</p></body>"
            return Reply(body=page.replace("</body>", marker, 1))
        return Reply(404, b"not found", content_type="text/plain")

    server.fallback = answer
    port_queue.put(port)
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=20)
    parser.add_argument("--per-feed", type=int, default=50)
    args = parser.parse_args()

    ports: multiprocessing.Queue = multiprocessing.Queue()
    site = multiprocessing.Process(
        target=_serve, args=(ports, args.feeds, args.per_feed), daemon=True
    )
    site.start()
    port = ports.get(timeout=30)

    from crawler.runner import run_in_reactor
    from monitor.config import settings_from_mapping
    from monitor.service import Service

    with tempfile.TemporaryDirectory() as folder:
        settings = settings_from_mapping(
            {
                "database": {"url": f"sqlite:///{folder}/bench.db"},
                "crawl": {"allow_private_networks": True, "concurrent_requests_per_domain": 16},
                "sources": [
                    {"name": f"feed-{n}", "url": f"http://127.0.0.1:{port}/feed/{n}"}
                    for n in range(args.feeds)
                ],
                "channels": [{"name": "console", "kind": "console"}],
                "watchlists": [
                    {"name": "drones", "queries": ["طائرة مسيرة"]},
                    {"name": "ain", "queries": ["عين الأسد"]},
                ],
            },
            Path(folder) / "settings.toml",
            env={},
        )
        service = Service(settings, alert_stream=io.StringIO())
        service.prepare()
        cpu_before = time.process_time()
        wall_before = time.perf_counter()
        summary = run_in_reactor(service.run_once)
        wall = time.perf_counter() - wall_before
        cpu = time.process_time() - cpu_before
        service.close()
    site.terminate()

    articles = summary.new_articles
    expected = args.feeds * args.per_feed
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\nEnd-to-end ingest from a local site ({args.feeds} feeds x {args.per_feed} items, "
        f"{os.cpu_count()} cores)"
    )
    print(f"{'articles stored':<34}{articles:>10} (expected {expected})")
    print(f"{'matches / alerts queued':<34}{summary.matches:>10} / {summary.alerts_enqueued}")
    print(f"{'wall time':<34}{wall:>10.2f} s")
    print(f"{'CPU time of the rasid process':<34}{cpu:>10.2f} s")
    print(f"{'articles per wall second':<34}{articles / wall:>10.1f}")
    print(
        f"{'articles per CPU second (per core)':<34}{articles / cpu:>10.1f}"
        f"   = {articles / cpu / 80:.2f}x the 80/s target"
    )
    print(f"{'peak RSS':<34}{peak_mb:>10.0f} MB")
    print("\nrerun: .venv/bin/python bench/pipeline_throughput.py")


if __name__ == "__main__":
    main()
