"""Arabic article texts for the matching benchmarks.

The best corpus is the ANT sample next to the project (../shared/fixtures/real: 2,000 real
news articles, ~7 MB), read in place and never copied (its licence is unclear). Without
it, the project's own fixture texts are used, repeated, which flatters every cache:
the figures then say so.
"""

from __future__ import annotations

import importlib
import json
import random
from collections import Counter
from pathlib import Path

from monitor.arabic.normalize import normalize_word
from monitor.arabic.stem import query_keys, surface_keys
from monitor.arabic.tokenize import WORD
from monitor.matching.index import CompiledEntry

ROOT = Path(__file__).resolve().parents[1]
ANT_SAMPLE = ROOT.parent / "shared" / "fixtures" / "real" / "ant_corpus_v2.1_sample.jsonl"
FIXTURES = ROOT / "tests" / "fixtures"


def articles() -> tuple[list[tuple[str, str]], str]:
    """(title, body) pairs and a description of where they came from."""
    if ANT_SAMPLE.exists():
        rows = [json.loads(line) for line in ANT_SAMPLE.read_text(encoding="utf-8").splitlines()]
        pairs = [(row.get("title") or "", row.get("body") or "") for row in rows]
        return pairs, f"ANT sample, {len(pairs)} real articles (read from ../shared)"
    seed = (FIXTURES / "seed" / "ain-al-asad-drones.txt").read_text(encoding="utf-8")
    others = [
        (FIXTURES / "real" / name).read_text(encoding="utf-8")
        for name in (
            "cnn-arabic_2013-08-03_syria-clashes.expected.txt",
            "ant_SK-economy-1-20180218.txt",
            "ant_AL-culture-1-20180218.txt",
        )
    ]
    texts = [seed, *others]
    pairs = [(f"خبر {n}", texts[n % len(texts)]) for n in range(400)]
    return pairs, "project fixtures repeated (../shared absent: caches flatter the figures)"


def megabytes(pairs: list[tuple[str, str]]) -> float:
    return sum(len(title.encode()) + len(body.encode()) for title, body in pairs) / 1e6


def split(pairs: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Articles to match, and held-out articles to draw queries from: a query is written
    before the news it catches, not copied out of the article being matched."""
    return pairs[::2], pairs[1::2]


def queries(
    pairs: list[tuple[str, str]], count: int, *, rare: float = 0.02, seed: int = 7
) -> list[str]:
    """``count`` watchlist queries: the real examples first, then a mix drawn from the
    words of ``pairs``. Watch terms are specific (names, places, weapons), so words are
    taken only if they are 4+ letters long and their stems occur in at most ``rare`` of
    the articles (0.02: specific terms; 0.2: a broad mix with everyday news words). The mix: 55%
    two-word phrases (words that stood side by side), 20% single words, 7% A OR B,
    7% A NEAR/5 B (words that stood within 5 words), 5% quoted phrases, 3% with an
    exclusion, 3% with a prefix."""
    base = [
        "طائرة مسيرة",
        "عين الأسد",
        "الحشد الشعبي",
        '"Ain al-Asad" OR "عين الأسد"',
        "صاروخ باليستي",
        "الأمم المتحدة",
        "وزارة الدفاع",
        "الحرس الثوري",
        "مسير* -احتجاجية",
        "(النفط OR الغاز) NEAR/5 أسعار",
    ]
    if count <= len(base):
        return base[:count]
    rng = random.Random(seed)
    documents = [WORD.findall(f"{title} {body}") for title, body in pairs]
    # Rarity as the matcher sees it: how many articles contain a word with one of the
    # query word's stems (a rare surface form like والمحافظة has a common stem).
    stems = Counter(
        key
        for document in documents
        for key in {key for word in set(document) for key in surface_keys(word)}
    )
    limit = max(2, int(len(documents) * rare))
    specific = {
        word
        for word in {word for document in documents for word in document}
        if len(word) >= 4
        and max((stems[key] for key in query_keys(normalize_word(word))), default=0) <= limit
    }
    pairs_near = [
        (document[at], document[at + gap], gap)
        for document in documents
        for at in range(len(document) - 6)
        for gap in (1, 3, 5)
        if document[at] in specific and document[at + gap] in specific
    ]
    adjacent = [(one, two) for one, two, gap in pairs_near if gap == 1]
    singles = sorted(word for word in specific if len(word) >= 5)
    made: dict[str, None] = dict.fromkeys(base)
    while len(made) < count:
        one, two = rng.choice(adjacent)
        roll = rng.random()
        if roll < 0.55:
            query = f"{one} {two}"
        elif roll < 0.75:
            query = rng.choice(singles)
        elif roll < 0.82:
            query = f"{rng.choice(singles)} OR {rng.choice(singles)}"
        elif roll < 0.89:
            near_one, near_two, _ = rng.choice(pairs_near)
            query = f"{near_one} NEAR/5 {near_two}"
        elif roll < 0.94:
            query = f'"{one} {two}"'
        elif roll < 0.97:
            query = f"{one} {two} -{rng.choice(singles)}"
        else:
            query = f"{one[:5]}* {two}"
        made[query] = None
    return list(made)[:count]


def watchlist_entries(texts: list[str], engine: str = "monitor") -> list[CompiledEntry]:
    """The queries parsed and spread over 1,000 watchlists (``w0`` ... ``w999``), as a
    service with many users holds them; a query the parser refuses is left out.
    ``engine`` names the package parsing them (matching_ab.py loads two copies)."""
    parser = importlib.import_module(f"{engine}.matching.parser")
    index = importlib.import_module(f"{engine}.matching.index")
    errors = importlib.import_module(f"{engine}.errors")
    entries = []
    for number, query in enumerate(texts):
        try:
            entries.append(
                index.CompiledEntry(f"w{number % 1000}", query, parser.parse_query(query))
            )
        except errors.QuerySyntaxError:
            continue
    return entries
