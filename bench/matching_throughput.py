"""Matching throughput in MB/s of Arabic text per core, against 10 ... 100,000 queries.

For each watchlist size the one compiled index (``compile_watchlists``) matches every
article's title and body. Its word caches are first warmed on other articles (as in a
service that has run for a while); every word new to them is normalized and stemmed
inside the timing. Beside it, the naive
baseline: a loop that runs each query on its own over the text. The naive loop's cost
is linear in the number of queries by construction, so above 1,000 queries it is timed
on the first 1,000 and scaled (said in the output).

Targets (issue 3): >= 5 MB/s per core at 10,000 queries, >= 2 MB/s at 100,000, and the
cost at 10,000 queries <= 3x the cost at 10. Also reported: compile time and the compiled
index's memory (tracemalloc) at each size.

Each size is timed in ``--rounds`` rounds from the same state; MB/s is the best round
(as ``timeit`` reports: slower rounds measure other tenants of a shared machine, not the
code) and the median is shown beside it. Targets and ratios use the best.

    .venv/bin/python bench/matching_throughput.py [--sizes 10,1000,10000,100000]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import articles, megabytes, queries, split, watchlist_entries

from monitor.arabic.normalize import normalize_word
from monitor.arabic.stem import cache_clear as stem_cache_clear
from monitor.errors import QuerySyntaxError
from monitor.matching import compile_query
from monitor.matching.index import WatchlistIndex
from monitor.watchlists import keep_out_of_collector

NAIVE_QUERY_CAP = 1_000
NAIVE_ARTICLE_CAP = 200


def cold() -> None:
    normalize_word.cache_clear()
    stem_cache_clear()
    gc.collect()


def compile_index(texts: list[str]) -> tuple[WatchlistIndex, float, float, int]:
    """The index, its compile seconds, its memory in MB, and how many queries parsed."""
    cold()
    tracemalloc.start()
    began = time.perf_counter()
    entries = watchlist_entries(texts)
    index = WatchlistIndex(entries)
    seconds = time.perf_counter() - began
    memory = tracemalloc.get_traced_memory()[0] / 1e6
    tracemalloc.stop()
    keep_out_of_collector()  # as the service does after every recompile
    return index, seconds, memory, len(entries)


def indexed_seconds(
    index: WatchlistIndex,
    pairs: list[tuple[str, str]],
    warm_up: list[tuple[str, str]],
    rounds: int,
) -> tuple[list[float], int]:
    """CPU seconds of each round matching ``pairs``, and the matches of one round.

    Each round starts from the same state: the word caches emptied, then filled by
    ``warm_up`` (the usual news vocabulary, as in a service that ran for a day), so
    words new to them are normalized and stemmed inside every round's timing."""
    times = []
    for _ in range(rounds):
        cold()
        index.forget_words()
        for title, body in warm_up:
            index.match_fields({"title": title, "body": body})
        matched = 0
        began = time.process_time()
        for title, body in pairs:
            matched += len(index.match_fields({"title": title, "body": body}))
        times.append(time.process_time() - began)
    return times, matched


def naive_seconds(texts: list[str], pairs: list[tuple[str, str]]) -> tuple[float, int, int]:
    """CPU seconds for the whole corpus, scaled from what was timed."""
    compiled = []
    for query in texts[:NAIVE_QUERY_CAP]:
        try:
            compiled.append(compile_query(query))
        except QuerySyntaxError:
            continue
    sample = pairs[:NAIVE_ARTICLE_CAP]
    cold()
    began = time.process_time()
    for title, body in sample:
        for query in compiled:
            query.search_fields({"title": title, "body": body})
    spent = time.process_time() - began
    scale = (len(texts) / len(texts[:NAIVE_QUERY_CAP])) * (megabytes(pairs) / megabytes(sample))
    return spent * scale, len(compiled), len(sample)


def reference_seconds() -> float:
    """CPU seconds of a fixed pure-Python loop (dict and string work, like matching): the
    same figure on two machines says how their MB/s compare."""
    began = time.process_time()
    counts: dict[str, int] = {}
    for number in range(2_000_000):
        key = str(number % 1000)
        counts[key] = counts.get(key, 0) + 1
    return time.process_time() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10,1000,10000,100000")
    parser.add_argument("--no-naive", action="store_true", help="Skip the naive baseline.")
    parser.add_argument(
        "--rare",
        type=float,
        default=0.02,
        help="Query words occur in at most this share of articles (0.02 specific, 0.2 broad).",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="Timed rounds per size; the best is reported (shared machines are noisy).",
    )
    options = parser.parse_args()
    sizes = [int(size) for size in options.sizes.split(",")]

    everything, origin = articles()
    pairs, held_out = split(everything)
    size_mb = megabytes(pairs)
    print(
        f"corpus: {origin}; matching {len(pairs)} of them ({size_mb:.1f} MB of titles and "
        f"bodies), queries drawn from the other {len(held_out)}, their words' stems in at "
        f"most {options.rare:.1%} of those"
    )
    print(f"machine: the reference loop took {reference_seconds():.2f} CPU s")
    print(
        f"{'queries':>8} {'parsed':>7} {'compile s':>9} {'index MB':>8} {'MB/s':>7} "
        f"{'median':>7} {'naive MB/s':>10} {'speedup':>8} {'matches/article':>15}"
    )
    results: dict[int, list[float]] = {}
    for size in sizes:
        texts = queries(held_out, size, rare=options.rare)
        index, compile_s, memory, parsed = compile_index(texts)
        times, matched = indexed_seconds(index, pairs, held_out, options.rounds)
        seconds = min(times)
        rate = size_mb / seconds
        median = size_mb / statistics.median(times)
        results[size] = times
        naive = "-"
        speedup = "-"
        if not options.no_naive:
            naive_s, _, _ = naive_seconds(texts, pairs)
            naive = f"{size_mb / naive_s:.2g}"
            speedup = f"{naive_s / seconds:.0f}x"
        print(
            f"{size:>8} {parsed:>7} {compile_s:>9.2f} {memory:>8.1f} {rate:>7.2f} "
            f"{median:>7.2f} {naive:>10} {speedup:>8} {matched / len(pairs):>15.2f}"
        )
        del index
    print()
    targets = {10_000: 5.0, 100_000: 2.0}
    for size, target in targets.items():
        if size in results:
            best = size_mb / min(results[size])
            median = size_mb / statistics.median(results[size])
            print(
                f"{size:>7} queries: {best:.2f} MB/s = {best / target:.2f}x the {target} MB/s "
                f"(median round {median / target:.2f}x)"
            )
    if 10 in results and 10_000 in results:
        ratio = min(results[10_000]) / min(results[10])
        print(f"cost at 10,000 / cost at 10 = {ratio:.2f} (target <= 3)")
    if not options.no_naive:
        print(
            f"naive: timed on {min(NAIVE_QUERY_CAP, max(sizes))} queries x "
            f"{NAIVE_ARTICLE_CAP} articles, scaled linearly to the corpus and query count"
        )


if __name__ == "__main__":
    main()
