"""Instructions per article of matching, counted by valgrind's callgrind: the same
figure on every run, however busy the machine.

Shared machines change speed by 1.5-2x from one minute to the next, which hides any
change of the engine smaller than that in ``matching_throughput.py``. Instruction counts
do not move; run this on two commits to compare them. Counted for the same articles and
index as the throughput benchmark: *cold*, the articles' words new to the word caches
(normalized and stemmed inside the count), and *warm*, the same articles again.

Needs valgrind, gcc and valgrind's headers (``valgrind/callgrind.h``) to switch the
count on and off around the matching loop only.

    .venv/bin/python bench/matching_instructions.py [--sizes 10,10000,100000] [--articles 300]
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import pickle
import re
import subprocess
import sys
import tempfile
from pathlib import Path

# This checkout's code, whichever one the virtualenv was installed from (to compare commits).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import articles, queries, split, watchlist_entries

from monitor.matching.index import WatchlistIndex

# Callgrind's client requests are macros: a two-function library gives them to ctypes.
_SWITCH_SOURCE = """
#include <valgrind/callgrind.h>
void count_on(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; }
void count_off(void) { CALLGRIND_STOP_INSTRUMENTATION; CALLGRIND_DUMP_STATS; }
"""
_TOTAL = re.compile(r"^totals:\s+(\d+)", re.MULTILINE)
WARM_UP_ARTICLES = 300


def counted_loop(entries_path: Path, switch_path: Path, count: int) -> None:
    """Runs inside valgrind: build the index, warm its caches, count two loops."""
    with entries_path.open("rb") as handle:
        index = WatchlistIndex(pickle.load(handle))  # written by this script's parent
    gc.freeze()  # as the service does after every recompile
    matching, held_out = split(articles()[0])
    for title, body in held_out[:WARM_UP_ARTICLES]:
        index.match_fields({"title": title, "body": body})
    switch = ctypes.CDLL(str(switch_path))
    for _ in ("cold", "warm"):
        switch.count_on()
        for title, body in matching[:count]:
            index.match_fields({"title": title, "body": body})
        switch.count_off()


def count_instructions(texts: list[str], count: int, folder: Path, switch_path: Path) -> list[int]:
    """Instructions of the cold and the warm loop over ``count`` articles."""
    size = len(texts)  # names the files of this size's run
    entries_path = folder / f"entries-{size}.pickle"
    sys.setrecursionlimit(100_000)  # deep query trees
    with entries_path.open("wb") as handle:
        pickle.dump(watchlist_entries(texts), handle)
    out = folder / f"callgrind-{size}.out"
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--child",
            str(entries_path),
            str(switch_path),
            str(count),
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},  # the same set and dict layouts each run
    )
    dumps = sorted(folder.glob(f"callgrind-{size}.out.*"), key=lambda path: int(path.suffix[1:]))
    totals = [_TOTAL.search(path.read_text()) for path in dumps]
    if len(totals) != 2 or None in totals:
        raise SystemExit(f"callgrind wrote no counts for {size} queries: {dumps}")
    return [int(total.group(1)) for total in totals]  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10,10000,100000")
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        entries, switch, count = options.child
        counted_loop(Path(entries), Path(switch), int(count))
        return
    _, held_out = split(articles()[0])
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        source = folder / "switch.c"
        source.write_text(_SWITCH_SOURCE)
        switch_path = folder / "switch.so"
        subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", switch_path, source], check=True)
        print(f"instructions per article matched ({options.articles} articles, millions)")
        print(f"{'queries':>8} {'cold':>8} {'warm':>8}")
        for size in (int(size) for size in options.sizes.split(",")):
            texts = queries(held_out, size)
            cold, warm = count_instructions(texts, options.articles, folder, switch_path)
            per_article = [total / options.articles / 1e6 for total in (cold, warm)]
            print(f"{size:>8} {per_article[0]:>8.3f} {per_article[1]:>8.3f}")


if __name__ == "__main__":
    main()
