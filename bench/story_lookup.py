"""Story lookup per article with 100,000 stored (target <= 0.5 ms), and the index's memory.

Fills the in-memory story index (MinHash LSH, as the service holds it for its window)
with ``--stored`` signatures of real articles (the corpus of bench/corpus.py, each copy
made distinct), then times ``story_for`` for articles not stored yet. The fingerprint
itself (shingling and hashing, part of ingest's CPU work) is timed separately.

    .venv/bin/python bench/story_lookup.py [--stored 100000]
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import articles

from monitor.stories import NUM_PERM, StoryIndex, fingerprint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stored", type=int, default=100_000)
    options = parser.parse_args()
    pairs, origin = articles()
    print(f"corpus: {origin}")

    began = time.perf_counter()
    signatures = [fingerprint(title, body) for title, body in pairs]
    per_fingerprint = (time.perf_counter() - began) / len(pairs) * 1000
    signatures = [signature for signature in signatures if signature is not None]

    tracemalloc.start()
    index = StoryIndex()
    rng = np.random.default_rng(7)
    for number in range(options.stored):
        base = signatures[number % len(signatures)].copy()
        if number >= len(signatures):  # a distinct article: a few hash values changed
            positions = rng.choice(NUM_PERM, size=NUM_PERM // 2, replace=False)
            base.hashvalues[positions] = rng.integers(0, 2**32, size=len(positions))
        index.add(number + 1, None, base)
    memory = tracemalloc.get_traced_memory()[0] / 1e6
    tracemalloc.stop()

    probes = [signature.copy() for signature in signatures[:2000]]
    for probe in probes:
        probe.hashvalues[: NUM_PERM // 4] = rng.integers(0, 2**32, size=NUM_PERM // 4)
    began = time.perf_counter()
    joined = sum(index.story_for(probe) is not None for probe in probes)
    per_lookup = (time.perf_counter() - began) / len(probes) * 1000
    print(f"stored signatures: {len(index)}; LSH index memory: {memory:.0f} MB")
    print(f"fingerprint (shingles + MinHash): {per_fingerprint:.2f} ms per article")
    print(
        f"story lookup: {per_lookup:.3f} ms per article = {per_lookup / 0.5:.2f}x the 0.5 ms "
        f"target ({joined}/{len(probes)} probes joined a story)"
    )


if __name__ == "__main__":
    main()
