"""Story clustering thresholds, checked on real articles; the index's answers, checked
against a plain scan of every stored article.

The ANT sample (2,000 real Arabic news articles, 2018) is read from ../shared, never
copied into the project (its licence is unclear); without it the same threshold checks
run on the few articles the project ships, and the plain-scan check runs on stories made
from them.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH

from monitor.arabic.normalize import normalize_word
from monitor.arabic.tokenize import WORD
from monitor.stories import (
    DEFAULT_THRESHOLD,
    NUM_PERM,
    StoryIndex,
    fingerprint,
    from_bytes,
    to_bytes,
)

ANT = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "fixtures"
    / "real"
    / ("ant_corpus_v2.1_sample.jsonl")
)


SENTENCE_END = re.compile(r"(?<=[.!؟])\s+")
MIN_SENTENCES = 8
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SHIPPED = [
    "seed/ain-al-asad-drones.txt",
    "real/cnn-arabic_2013-08-03_syria-clashes.expected.txt",
    "real/ant_SK-economy-1-20180218.txt",
    "real/ant_AL-culture-1-20180218.txt",
    "real/jawharafm_79209.ant-doc.txt",
]


@pytest.fixture(scope="module")
def ant() -> list[dict]:
    """The ANT sample when ../shared is beside the project (as in CI), else the few
    distinct articles the project ships: the same checks, on less evidence."""
    if ANT.exists():
        return [json.loads(line) for line in ANT.read_text(encoding="utf-8").splitlines()]
    articles = []
    for name in SHIPPED:
        title, _, body = (FIXTURES / name).read_text(encoding="utf-8").partition("\n")
        articles.append({"title": title.strip(), "body": body})
    return articles


def _republished(title: str, body: str, rng: random.Random) -> tuple[str, str]:
    """A second outlet's copy of a wire story: new lead (the first sentence cut), one
    word in twenty changed, its own tag and footer."""
    sentences = SENTENCE_END.split(body)
    if len(sentences) > 3:
        sentences = sentences[1:]
    words = " ".join(sentences).split()
    for _ in range(max(1, len(words) // 20)):
        words[rng.randrange(len(words))] = "كذلك"
    return f"عاجل: {title}", "(وكالات) " + " ".join(words) + " تابعونا على مواقع التواصل."


def _cluster(articles: list[dict]) -> tuple[StoryIndex, dict[int, int]]:
    index, joined = StoryIndex(DEFAULT_THRESHOLD), {}
    for number, article in enumerate(articles):
        signature = fingerprint(article["title"], article["body"])
        story = index.story_for(signature)
        if story is not None:
            joined[number] = story
        index.add(number, story, signature)
    return index, joined


def test_distinct_articles_stay_apart_and_cross_outlet_copies_join(ant):
    _, joined = _cluster(ant)

    retitled = {n: s for n, s in joined.items() if ant[n]["title"] != ant[s]["title"]}
    # Merges among the originals are the sample's own duplicates (same title) and a few
    # real cross-outlet stories, e.g. France 24 and Sky News Arabia on Abbas's pneumonia,
    # whose shingle sets really are that similar (give or take MinHash's error).
    assert len(retitled) <= 6, [(ant[n]["title"], ant[s]["title"]) for n, s in retitled.items()]
    for number, story in retitled.items():
        first, second = (ant[at]["title"] + "\n" + ant[at]["body"] for at in (number, story))
        shared, either = _shingles(first) & _shingles(second), _shingles(first) | _shingles(second)
        assert len(shared) / len(either) >= DEFAULT_THRESHOLD - 0.05
    if ANT.exists():
        abbas = [n for n, a in enumerate(ant) if "عباس" in a["title"] and "رئوي" in a["title"]]
        assert abbas and abbas[0] in joined
    else:
        assert joined == {}  # the shipped articles are all different stories


def test_a_lightly_reedited_copy_joins_its_story(ant):
    index, stories = _cluster(ant)
    rng = random.Random(1)
    copies = 0
    found = 0
    for number, article in enumerate(ant[:400]):
        if len(SENTENCE_END.split(article["body"])) < MIN_SENTENCES:
            continue  # cutting the lead of a short item is a rewrite, not a light edit
        signature = fingerprint(*_republished(article["title"], article["body"], rng))
        if signature is None:
            continue
        copies += 1
        found += index.story_for(signature) == stories.get(number, number)

    assert found / copies >= 0.97, f"{found}/{copies}"


def test_short_items_are_not_compared():
    assert fingerprint("عاجل", "انفجار في بغداد") is None


def test_signatures_survive_a_round_trip():
    signature = fingerprint("عنوان", " ".join(f"كلمة{n}" for n in range(50)))
    assert signature is not None
    assert from_bytes(to_bytes(signature)).jaccard(signature) == 1.0


class PlainScan:
    """What the index answers, the slow plain way: every stored article is compared with
    the new one. A candidate has all the values of at least one band equal (datasketch's
    bands for the threshold); of the candidates whose share of equal values reaches the
    threshold, the most similar wins, and of equally similar ones the latest (highest id)."""

    def __init__(self, threshold: float) -> None:
        chosen = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        self.bands, self.rows, self.threshold = chosen.b, chosen.r, threshold
        self.ids: list[int] = []
        self.stories: list[int] = []
        self.values: list[np.ndarray] = []

    def add(self, article_id: int, story_id: int | None, signature: MinHash | None) -> None:
        if signature is not None and article_id not in self.ids:
            self.ids.append(article_id)
            self.stories.append(article_id if story_id is None else story_id)
            self.values.append(np.array(signature.hashvalues, dtype=np.uint64))

    def story_for(self, signature: MinHash | None) -> int | None:
        if signature is None or not self.ids:
            return None
        stored, new = np.stack(self.values), np.asarray(signature.hashvalues, dtype=np.uint64)
        banded = self.bands * self.rows
        in_a_band = (
            (
                stored[:, :banded].reshape(-1, self.bands, self.rows)
                == new[:banded].reshape(self.bands, self.rows)
            )
            .all(axis=2)
            .any(axis=1)
        )
        equal = (stored == new).sum(axis=1)
        best = None
        for at in np.flatnonzero(in_a_band):
            score = (int(equal[at]), self.ids[at])
            if score[0] / NUM_PERM >= self.threshold and (best is None or score > best[0]):
                best = (score, self.stories[at])
        return None if best is None else best[1]


def _edited(words: list[str], rng: random.Random, number: int) -> tuple[str, str]:
    """An outlet's copy: one word in thirty changed, a title and a footer of its own."""
    words = list(words)
    for _ in range(max(1, len(words) // 30)):
        words[rng.randrange(len(words))] = "كذلك"
    return f"{' '.join(words[:6])} ({number})", " ".join(words) + f" مرجع {number}"


def _shipped_news(rng: random.Random) -> list[tuple[bool, MinHash | None]]:
    """Articles made from the shipped texts, each with whether it is stored as a story of
    its own (as another instance would store it) instead of the one the index finds:
    passages of 80 words every 40 (neighbours share half their words, near the
    threshold), three of them (two neighbours) copied by 60 outlets each (big stories, a
    tenth of whose copies are stored apart), the others by 4; and signatures with a share
    of their values replaced, on both sides of the threshold."""
    passages = []
    for name in SHIPPED:
        words = (FIXTURES / name).read_text(encoding="utf-8").split()
        passages += [words[at : at + 80] for at in range(0, max(1, len(words) - 40), 40)]
    news: list[tuple[bool, MinHash | None]] = []
    for number, passage in enumerate(passages):
        news.append((False, fingerprint(" ".join(passage[:6]), " ".join(passage))))
        big = number in (3, 4, 20)
        for copy in range(60 if big else 4):
            news.append((big and copy % 10 == 9, fingerprint(*_edited(passage, rng, copy))))
    originals = [signature for _, signature in news if signature is not None]
    for _ in range(300):
        signature = from_bytes(to_bytes(rng.choice(originals)))
        signature.hashvalues = signature.hashvalues.copy()  # stored bytes are read-only
        for at in rng.sample(range(NUM_PERM), rng.randrange(32, 56)):
            signature.hashvalues[at] = rng.randrange(2**32)
        news.append((False, signature))
    rng.shuffle(news)
    return news


def _answers_agree(news: list[tuple[bool, MinHash | None]], threshold: float) -> None:
    """Each article is looked up, then stored as ingest stores it."""
    index, plain = StoryIndex(threshold), PlainScan(threshold)
    for article_id, (apart, signature) in enumerate(news, start=1):
        story = index.story_for(signature)
        assert story == plain.story_for(signature), article_id
        if apart:
            story = None
        index.add(article_id, story, signature)
        plain.add(article_id, story, signature)


@pytest.mark.parametrize("threshold", [DEFAULT_THRESHOLD, 0.2, 0.5])
def test_the_index_answers_as_a_plain_scan_of_every_stored_article(threshold):
    _answers_agree(_shipped_news(random.Random(3)), threshold)


def test_the_answer_does_not_depend_on_the_order_articles_were_added():
    news = [signature for _, signature in _shipped_news(random.Random(4))]
    stored, probes = news[::2], news[1::2]
    as_ingested, as_loaded = StoryIndex(), StoryIndex()
    stories = {}
    for article_id, signature in enumerate(stored, start=1):
        stories[article_id] = as_ingested.story_for(signature)
        as_ingested.add(article_id, stories[article_id], signature)
    for article_id in random.Random(5).sample(sorted(stories), len(stories)):
        as_loaded.add(article_id, stories[article_id], stored[article_id - 1])

    assert [as_loaded.story_for(probe) for probe in probes] == [
        as_ingested.story_for(probe) for probe in probes
    ]


@pytest.mark.skipif(not ANT.exists(), reason="the ANT sample is not in ../shared")
def test_the_index_answers_as_a_plain_scan_on_the_ant_sample(ant):
    rng = random.Random(6)
    news: list[tuple[bool, MinHash | None]] = [
        (False, fingerprint(article["title"], article["body"])) for article in ant
    ]
    for article in ant[:300]:
        for copy in range(3):
            news.append((False, fingerprint(*_edited(article["body"].split(), rng, copy))))
    rng.shuffle(news)
    _answers_agree(news, DEFAULT_THRESHOLD)


def _resembling(new: list[int], equal: set[int], rng: random.Random) -> MinHash:
    """A signature equal to ``new`` at the positions ``equal`` and different elsewhere."""
    values = [
        value if at in equal else (value + 1 + rng.randrange(2**31)) % 2**32
        for at, value in enumerate(new)
    ]
    return from_bytes(np.array(values, dtype="<u8").tobytes())


def _sharing(band: int, others: int) -> set[int]:
    """Positions: all of ``band`` and ``others`` of every other band (at the default
    threshold's bands), so a signature equal there shares that one band only."""
    chosen = MinHashLSH(threshold=DEFAULT_THRESHOLD, num_perm=NUM_PERM)
    return {
        number * chosen.r + at
        for number in range(chosen.b)
        for at in range(chosen.r if number == band else others)
    }


def _both_answer(stored: list[tuple[int, set[int]]], new: list[int], rng: random.Random) -> int:
    """The story both the index and the plain scan find for ``new`` among ``stored``
    (story, positions equal to ``new``), added in that order."""
    index, plain = StoryIndex(DEFAULT_THRESHOLD), PlainScan(DEFAULT_THRESHOLD)
    for article_id, (story, equal) in enumerate(stored, start=1):
        signature = _resembling(new, equal, rng)
        index.add(article_id, story, signature)
        plain.add(article_id, story, signature)
    probe = from_bytes(np.array(new, dtype="<u8").tobytes())
    assert index.story_for(probe) == plain.story_for(probe)
    return plain.story_for(probe)


@pytest.mark.parametrize("other_best", [43, 44])
def test_older_members_of_big_stories_are_compared_when_their_latest_fall_short(other_best):
    # Two big stories of 30 members each share one band with the new article. The one it
    # copies has one close member (44 equal values) among poor ones (3); the other's all
    # reach the threshold (23) but one, closer (43: the copied story wins; 44: a tie, won
    # by the later article, of the other story). Wherever those two stand, the index
    # answers as the plain scan.
    rng = random.Random(7)
    new = [rng.randrange(2**32) for _ in range(NUM_PERM)]
    close, poor = _sharing(0, 2) | {NUM_PERM - 1}, _sharing(0, 0)
    closer = _sharing(1, 2) | ({NUM_PERM - 1} if other_best == 44 else set())
    fair = _sharing(1, 1)
    for standing in range(30):
        copied = [(1, close if at == standing else poor) for at in range(30)]
        other = [(31, closer if at == standing else fair) for at in range(30)]
        assert _both_answer(copied + other, new, rng) == (1 if other_best == 43 else 31)


def test_an_article_of_another_story_in_a_big_storys_band_is_compared():
    # A big story's 30 members reach the threshold (23 equal values); an article of
    # another story in the same band is closer (44), wherever it stands among them.
    rng = random.Random(8)
    new = [rng.randrange(2**32) for _ in range(NUM_PERM)]
    close, fair = _sharing(0, 2) | {NUM_PERM - 1}, _sharing(0, 1)
    for standing in range(31):
        stored = [(1, fair)] * 30
        stored.insert(standing, (99, close))
        assert _both_answer(stored, new, rng) == 99


@pytest.mark.parametrize("closest", [43, 44])
def test_a_big_story_that_can_tie_the_best_candidate_is_compared(closest):
    # An article shares one band with the new one and 44 values, the most one band
    # allows. A big story added after it shares another band only, so its members can
    # at best tie, as its one close member does (44; a tie goes to the later article)
    # or not (43).
    rng = random.Random(9)
    new = [rng.randrange(2**32) for _ in range(NUM_PERM)]
    close = _sharing(0, 2) | ({NUM_PERM - 1} if closest == 44 else set())
    for standing in range(30):
        stored = [(1, _sharing(2, 2) | {NUM_PERM - 1})]
        stored += [(2, close if at == standing else _sharing(0, 0)) for at in range(30)]
        assert _both_answer(stored, new, rng) == (2 if closest == 44 else 1)


def _shingles(text: str) -> set[str]:
    words = [w for w in (normalize_word(word) for word in WORD.findall(text)) if w]
    return {" ".join(words[at : at + 3]) for at in range(len(words) - 2)}


def test_signatures_estimate_the_jaccard_similarity_of_shingle_sets():
    # The share of equal values estimates the Jaccard similarity of the two shingle sets
    # (a MinHash's one promise): on copies sharing a tenth to nine tenths of their
    # shingles, within what 64 values allow (3 standard deviations: ~0.19 at 0.5).
    words = (FIXTURES / "seed" / "ain-al-asad-drones.txt").read_text(encoding="utf-8").split()
    rng = random.Random(5)
    errors = []
    for _ in range(60):
        copy = list(words)
        for _ in range(int(len(copy) * rng.uniform(0.01, 0.3))):
            copy[rng.randrange(len(copy))] = f"كلمة{rng.randrange(10**6)}"
        ours, theirs = " ".join(words), " ".join(copy)
        first, second = _shingles(ours), _shingles(theirs)
        true = len(first & second) / len(first | second)
        estimate = fingerprint("", ours).jaccard(fingerprint("", theirs))
        errors.append(estimate - true)
    assert max(map(abs, errors)) < 0.2
    assert abs(sum(errors) / len(errors)) < 0.03  # no bias


def test_the_bands_are_those_datasketch_chooses_for_every_threshold():
    """rasid's own sum (no SciPy) picks the bands and rows datasketch's does."""
    from monitor.stories import _banding

    checked = 0
    for hundredths in range(11, 101):
        threshold = hundredths / 100
        try:
            chosen = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        except ValueError:  # datasketch refuses a single band
            continue
        assert _banding(threshold) == (chosen.b, chosen.r), threshold
        checked += 1
    assert checked >= 80
