"""Matching speed of two commits, compared article by article in one process.

On a shared machine, speed swings 1.5-2x from one minute to the next, so two runs of
``matching_throughput.py`` cannot tell a 3% change from noise, and instruction counts
(``matching_instructions.py``) miss what costs most at 100,000 queries: reads that miss
the processor's caches. This loads the engine of each commit side by side, builds both
indexes over the same queries, and times each article with one engine and then the
other (alternating which goes first), from the same cold start as the throughput
benchmark. Both see the same machine at the same moment, so the ratio holds still while
the speeds swing.

    .venv/bin/python bench/matching_ab.py BASE [OTHER] [--size 100000] [--rounds 3] [--rare 0.02]

``BASE`` and ``OTHER`` are git revisions (``OTHER`` defaults to the working tree). A
ratio above 1 means ``OTHER`` is faster. Run it with the same revision twice to see the
harness's own bias (about 0.5% here).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import articles, megabytes, queries, split, watchlist_entries

ROOT = Path(__file__).resolve().parents[1]
_IMPORT = re.compile(r"\b(from|import) monitor\b")


def engine_copy(revision: str | None, folder: Path, package: str) -> None:
    """The ``monitor`` package of ``revision`` (None: the working tree) copied into
    ``folder`` as ``package``, its own imports renamed to match."""
    target = folder / package
    if revision is None:
        shutil.copytree(ROOT / "monitor", target)
    else:
        archive = subprocess.run(
            ["git", "archive", revision, "monitor"], cwd=ROOT, check=True, capture_output=True
        ).stdout
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(folder / "unpacked", filter="data")
        (folder / "unpacked" / "monitor").rename(target)
    for path in target.rglob("*.py"):
        path.write_text(_IMPORT.sub(rf"\1 {package}", path.read_text(encoding="utf-8")))


def build_index(engine: str, texts: list[str]) -> tuple[Any, list[Callable[[], None]]]:
    """The index of ``engine`` over ``texts`` (as the other benchmarks spread them), and
    what empties its word caches for a cold start."""
    index_module = importlib.import_module(f"{engine}.matching.index")
    index = index_module.WatchlistIndex(watchlist_entries(texts, engine))
    normalize = importlib.import_module(f"{engine}.arabic.normalize")
    stem = importlib.import_module(f"{engine}.arabic.stem")
    return index, [normalize.normalize_word.cache_clear, stem.cache_clear, index.forget_words]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("base")
    parser.add_argument("other", nargs="?")
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rare", type=float, default=0.02, help="as in matching_throughput.py")
    options = parser.parse_args()
    sys.setrecursionlimit(100_000)  # deep query trees
    pairs, held_out = split(articles()[0])
    texts = queries(held_out, options.size, rare=options.rare)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        engine_copy(options.base, folder, "engine_a")
        engine_copy(options.other, folder, "engine_b")
        sys.path.insert(0, str(folder))
        sides = [build_index(package, texts) for package in ("engine_a", "engine_b")]
    gc.unfreeze()
    gc.collect()
    gc.freeze()  # as the service does after a recompile
    size_mb = megabytes(pairs)
    ratios = []
    print(f"{options.size} queries; A = {options.base}, B = {options.other or 'working tree'}")
    for number in range(options.rounds):
        for _, forget in sides:
            for clear in forget:
                clear()
        gc.collect()
        for index, _ in sides:  # yesterday's news in the word caches, as the service has
            for title, body in held_out:
                index.match_fields({"title": title, "body": body})
        spent = [0.0, 0.0]
        for article, (title, body) in enumerate(pairs):
            for side in (0, 1) if article % 2 == 0 else (1, 0):
                began = time.perf_counter()
                sides[side][0].match_fields({"title": title, "body": body})
                spent[side] += time.perf_counter() - began
        ratios.append(spent[0] / spent[1])
        print(
            f"round {number}: A {size_mb / spent[0]:.2f} MB/s, B {size_mb / spent[1]:.2f} MB/s, "
            f"B/A {ratios[-1]:.3f}"
        )
    print(f"B/A (median round): {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
