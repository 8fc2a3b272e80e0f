"""Story lookup per article with 100,000 stored (target <= 0.5 ms), and the index's memory.

Fills the in-memory story index (MinHash LSH, as the service holds it for its window)
with ``--stored`` signatures of real articles (the corpus of bench/corpus.py, each copy
made distinct), then times ``story_for`` for articles not stored yet. The fingerprint
itself (shingling and hashing, part of ingest's CPU work) is timed separately.

``--story`` of the stored signatures are one big story: lightly edited copies of one
article (a wire story many outlets carry: one word in fifty changed, a title and a
footer of their own). Two more rows time lookups there: a further copy of it, and an
article of another story that shares one band with it.

``--against REV`` builds the index of git revision ``REV`` (its monitor/stories.py)
over the same signatures as well and times both side by side, alternating which goes
first, in CPU time; a ratio above 1 means the working tree is faster.

    .venv/bin/python bench/story_lookup.py [--stored 100000] [--story 2000] [--against REV]
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import articles

from monitor.stories import (
    DEFAULT_THRESHOLD,
    NUM_PERM,
    StoryIndex,
    fingerprint,
    from_bytes,
    to_bytes,
)

ROOT = Path(__file__).resolve().parents[1]


def index_class(revision: str) -> type:
    """``StoryIndex`` as monitor/stories.py defines it at ``revision``."""
    source = subprocess.run(
        ["git", "show", f"{revision}:monitor/stories.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType("stories_against")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{revision}:monitor/stories.py", "exec"), module.__dict__)
    return module.StoryIndex


def copies(title: str, body: str, count: int, seed: int) -> list[Any]:
    """Signatures of ``count`` lightly edited copies of one article."""
    rng = random.Random(seed)
    made = []
    for number in range(count):
        words = body.split()
        for _ in range(max(1, len(words) // 50)):
            words[rng.randrange(len(words))] = "كذلك"
        made.append(fingerprint(f"{title} ({seed}-{number})", " ".join(words) + f" مرجع {number}"))
    return made


def build(make: Callable[[], Any], stored: list[tuple[int, int | None, bytes]]) -> Any:
    """The index filled with ``stored`` as ``load`` fills it."""
    index = make()
    for article_id, story_id, data in stored:
        index.add(article_id, story_id, from_bytes(data))
    return index


def measured_build(make: Callable[[], Any], stored: list[tuple[int, int | None, bytes]]) -> Side:
    tracemalloc.start()
    index = build(make, stored)
    memory = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    began = time.process_time()  # again, without tracemalloc's own cost
    build(make, stored)
    per_add = (time.process_time() - began) / len(stored) * 1000
    return Side(index, memory, per_add)


@dataclass
class Side:
    index: Any
    memory: int
    per_add: float
    per_lookup: dict[int, list[float]] = field(default_factory=dict)


def cpu_per_lookup(index: Any, probes: list[Any]) -> tuple[float, int]:
    """CPU milliseconds per lookup, and how many probes joined a story."""
    began = time.process_time()
    joined = sum(index.story_for(probe) is not None for probe in probes)
    return (time.process_time() - began) / len(probes) * 1000, joined


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stored", type=int, default=100_000)
    parser.add_argument("--story", type=int, default=2000, help="members of the big story")
    parser.add_argument("--against", metavar="REV", help="also time this git revision")
    parser.add_argument("--rounds", type=int, default=5, help="lookup rounds with --against")
    options = parser.parse_args()
    if not 0 < options.story < options.stored:
        parser.error("--story must be at least 1 and less than --stored")
    pairs, origin = articles()
    print(f"corpus: {origin}")

    began = time.perf_counter()
    signatures = [fingerprint(title, body) for title, body in pairs]
    per_fingerprint = (time.perf_counter() - began) / len(pairs) * 1000
    kept = [number for number, signature in enumerate(signatures) if signature is not None]
    # The big story: copies of the longest article, which is not stored otherwise.
    big = max(kept, key=lambda number: len(pairs[number][1]))
    title, body = pairs[big]
    signatures = [signatures[number] for number in kept if number != big]

    stored: list[tuple[int, int | None, bytes]] = []
    rng = np.random.default_rng(7)
    for number in range(options.stored - options.story):
        base = _copy(signatures[number % len(signatures)])
        if number >= len(signatures):  # a distinct article: a few hash values changed
            positions = rng.choice(NUM_PERM, size=NUM_PERM // 2, replace=False)
            base.hashvalues[positions] = rng.integers(0, 2**32, size=len(positions))
        stored.append((number + 1, None, to_bytes(base)))
    founder = len(stored) + 1
    members = copies(title, body, options.story, seed=1)
    for offset, signature in enumerate(members):
        stored.append((founder + offset, None if offset == 0 else founder, to_bytes(signature)))

    probes = [_copy(signature) for signature in signatures[:2000]]
    for probe in probes:
        probe.hashvalues[: NUM_PERM // 4] = rng.integers(0, 2**32, size=NUM_PERM // 4)
    rows = MinHashLSH(threshold=DEFAULT_THRESHOLD, num_perm=NUM_PERM).r
    sharing = [_copy(signature) for signature in signatures[:200]]
    for probe in sharing:  # its first band is the big story's; itself is stored
        probe.hashvalues[:rows] = members[0].hashvalues[:rows]
    cases = [
        ("a copy of a small story", probes),
        (f"a copy of the {options.story}-member story", copies(title, body, 200, seed=2)),
        ("another story sharing a band with it", sharing),
    ]

    names = ["working tree"]
    sides = [measured_build(StoryIndex, stored)]
    if options.against:
        names.append(options.against)
        sides.append(measured_build(index_class(options.against), stored))
    joined = [0] * len(cases)
    for round_number in range(options.rounds if options.against else 1):
        for case, (_, case_probes) in enumerate(cases):
            order = sides if round_number % 2 == 0 else sides[::-1]
            for side in order:
                per_lookup, joined[case] = cpu_per_lookup(side.index, case_probes)
                side.per_lookup.setdefault(case, []).append(per_lookup)

    print(
        f"stored: {len(stored)} signatures, {options.story} of them one story; "
        f"fingerprint (shingles + MinHash): {per_fingerprint:.2f} ms per article"
    )
    ratio = f"{names[-1]} / working tree" if options.against else ""
    print(f"{'':56}" + "".join(f"{name:>14}" for name in names) + f"{ratio:>26}".rstrip())

    def row(label: str, figures: list[float], form: str, ratios: list[float]) -> None:
        line = f"{label:56}" + "".join(f"{figure:>14{form}}" for figure in figures)
        print(line + (f"{statistics.median(ratios):>25.2f}x" if options.against else ""))

    memory = [side.memory for side in sides]
    row("index memory, MB", [m / 1e6 for m in memory], ".0f", [memory[-1] / memory[0]])
    row("  bytes per article", [m / len(stored) for m in memory], ".0f", [memory[-1] / memory[0]])
    adding = [side.per_add for side in sides]
    row("add, ms CPU per article", adding, ".4f", [adding[-1] / adding[0]])
    print(
        "lookup, ms CPU per article" + (" (ratio: the rounds' median)" if options.against else "")
    )
    for case, (label, case_probes) in enumerate(cases):
        spent = [side.per_lookup[case] for side in sides]
        row(
            f"  {label} ({joined[case]}/{len(case_probes)} joined)",
            [statistics.median(times) for times in spent],
            ".3f",
            [other / tree for tree, other in zip(spent[0], spent[-1], strict=True)],
        )
    lookup = statistics.median(sides[0].per_lookup[0])
    print(f"story lookup: {lookup / 0.5:.2f}x the 0.5 ms target")


def _copy(signature: MinHash) -> MinHash:
    """A signature with hash values of its own to change (datasketch's LeanMinHash.copy
    is broken in the installed version: it passes its slot names as values)."""
    return LeanMinHash(seed=signature.seed, hashvalues=signature.hashvalues)


if __name__ == "__main__":
    main()
