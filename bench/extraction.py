"""Main-text extraction time per page (target: median <= 10 ms), trafilatura tuned for
precision with comments off, on the real Arabic article pages in tests/fixtures.

Two figures per page: with metadata (title, author, date: only needed when the feed
lacks a title or date) and without (the usual case: feed or sitemap dates are preferred,
page-guessed dates were wrong on all three fixture pages).

    .venv/bin/python bench/extraction.py [--rounds 50]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from crawler.extract import extract_article

PAGES = sorted((Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "real").glob("*.html"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=50)
    options = parser.parse_args()
    every: dict[bool, list[float]] = {True: [], False: []}
    for page in PAGES:
        html = page.read_text(encoding="utf-8", errors="replace")
        extract_article(html, url="https://news.example/a", metadata=True)  # warm up
        for metadata in (True, False):
            times = []
            for _ in range(options.rounds):
                began = time.perf_counter()
                extract_article(html, url="https://news.example/a", metadata=metadata)
                times.append((time.perf_counter() - began) * 1000)
            every[metadata] += times
            label = "with metadata" if metadata else "text only"
            print(f"{page.name:<50} {label:<14} median {statistics.median(times):6.2f} ms")
    for metadata, times in every.items():
        median = statistics.median(times)
        label = "with metadata" if metadata else "text only"
        print(
            f"all pages, {label:<14} median {median:6.2f} ms = {median / 10:.2f}x the 10 ms target"
        )


if __name__ == "__main__":
    main()
