"""Stories: the same news told by several outlets, grouped so a watchlist alerts once.

An article's fingerprint is a MinHash over shingles of three consecutive normalized
words of its title and body (:func:`fingerprint_words` says how it is hashed); MinHash
LSH (bands and rows chosen for the threshold, :func:`_banding`) finds earlier articles whose
shingle sets are similar enough (estimated Jaccard >= the threshold). Wire copy lightly
re-edited by a second outlet (a new first paragraph, a changed dateline, a sentence cut)
keeps most of its shingles; two different stories on the same topic share few. The
threshold is checked on real articles (tests/monitor/test_stories.py, the ANT sample).

The first article of a story founds it (``articles.story_id`` is NULL); later ones
point at it. Signatures are stored with the article, and the in-memory index holds the
recent window (``[stories] window``), rebuilt after a start when the first article is
stored (monitor.ingest).

Several instances sharing a PostgreSQL share the index through the database: each keeps
its own copy, and every transaction that stores articles first takes the ``stories``
advisory lock (monitor.db.locks), then catches its copy up with the articles other
instances committed since its high-water mark (:meth:`StoryIndex.catch_up`). Since every
article is inserted under that lock, ids grow in commit order, and an article above the
mark is one this copy has not seen. Two copies of one story stored by two instances at
once are thus stored one after the other, the second joining the first's story.

numpy is imported only by what makes, reads or compares fingerprints: listing stories
or a run that stores nothing needs none of it. rasid once used datasketch for this, which
brought SciPy along (0.3 s of every start that stored an article, and 145 MB of the
image) for the one sum that picks the bands; that sum is :func:`_banding` now, and
datasketch is left to the tests that check rasid against it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from hashlib import blake2b
from itertools import repeat
from typing import TYPE_CHECKING
from zlib import crc32

from sqlalchemy import Connection, func, select

from monitor.arabic.tokenize import normalized_words
from monitor.db.models import Article, Source

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

NUM_PERM = 64
# Which hash functions make a signature (kept as the MinHash's seed; migration 0017).
SCHEME = 2
SHINGLE = 3
DEFAULT_THRESHOLD = 0.3
# Too few shingles to say two articles are one story (a headline-only item).
MIN_SHINGLES = 8


class MinHash:
    """An article's signature: the least value of each of ``NUM_PERM`` hash functions
    over its shingles. Two signatures agree in a share of places that estimates the
    Jaccard similarity of the two shingle sets."""

    __slots__ = ("hashvalues", "seed")

    def __init__(self, hashvalues: np.ndarray, seed: int = SCHEME) -> None:
        self.hashvalues = hashvalues
        self.seed = seed

    def jaccard(self, other: MinHash) -> float:
        """The estimated Jaccard similarity of the two articles' shingle sets."""
        import numpy as np

        return float(np.count_nonzero(self.hashvalues == other.hashvalues)) / NUM_PERM


def fingerprint(title: str, body: str) -> MinHash | None:
    """The article's MinHash, or None when it is too short to compare."""
    return fingerprint_words(normalized_words(title, body))


def fingerprint_words(words: list[str]) -> MinHash | None:
    """:func:`fingerprint` of an article's normalized words (title, then body).

    Each word is hashed once (CRC-32), a shingle's key mixes its three words' hashes
    (splitmix64's finalizer), and each of the ``NUM_PERM`` hash functions is a
    multiply-add-shift (Dietzfelbinger: the high 32 bits of ``a * key + b`` modulo
    2**64, a strongly universal family), all computed by numpy at once: a third of the
    cost of datasketch's ``update_batch``, which calls SHA-1 in Python per shingle and
    reduces modulo a prime (docs/benchmarks.md). Signatures stored before this scheme
    were recomputed by migration 0017."""
    if len(words) < SHINGLE + MIN_SHINGLES - 1:
        return None
    import numpy as np

    hashed = np.fromiter((crc32(word.encode()) for word in words), np.uint64, len(words))
    k1, k2 = np.uint64(_K1), np.uint64(_K2)
    keys = _mixed(hashed[:-2] * k1 + hashed[1:-1] * k2 + hashed[2:]) >> np.uint64(32)
    keys.sort()  # a repeated shingle changes no minimum, but is counted once
    if 1 + np.count_nonzero(keys[1:] != keys[:-1]) < MIN_SHINGLES:
        return None
    a, b = _functions()
    values = ((keys[:, np.newaxis] * a + b) >> np.uint64(32)).min(axis=0)
    return MinHash(values)


# Odd 64-bit constants (splitmix64's): how a shingle's three word hashes are combined.
_K1, _K2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9


def _mixed(keys: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: every bit of a key depends on every bit of its input
    (uint64 arithmetic wraps, as intended)."""
    import numpy as np

    keys = keys ^ (keys >> np.uint64(30))
    keys = keys * np.uint64(0xBF58476D1CE4E5B9)
    keys = keys ^ (keys >> np.uint64(27))
    keys = keys * np.uint64(0x94D049BB133111EB)
    return keys ^ (keys >> np.uint64(31))


@cache
def _functions() -> tuple[np.ndarray, np.ndarray]:
    """The hash functions' (a, b): fixed for ever (stored signatures are compared with
    new ones), so drawn from BLAKE2b of their number rather than from a generator."""
    import numpy as np

    drawn = [
        blake2b(f"rasid-minhash-{n}".encode(), digest_size=16).digest() for n in range(NUM_PERM)
    ]
    a = np.array([int.from_bytes(d[:8], "little") | 1 for d in drawn], dtype=np.uint64)
    b = np.array([int.from_bytes(d[8:], "little") for d in drawn], dtype=np.uint64)
    return a[np.newaxis, :], b[np.newaxis, :]


def to_bytes(signature: MinHash) -> bytes:
    return signature.hashvalues.astype("<u8").tobytes()


def from_bytes(data: bytes) -> MinHash:
    """A stored signature, without the permutations a fresh MinHash would generate."""
    import numpy as np

    return MinHash(np.frombuffer(data, dtype="<u8"))


# A bucket keeps its rows in a list up to this many, then in an array (_Bucket).
_LIST_MAX = 16
# The rows of a bucket's own story scored before its others (the latest ones).
_LATEST = 4
# Candidate rows beyond this many are deduplicated before they are scored.
_DEDUPLICATE_OVER = 256
# Candidates up to this many are scored one by one (numpy's fixed costs outweigh).
_FEW = 4


class StoryIndex:
    """Recent articles' fingerprints; says which story a new article belongs to.

    A *band* is ``rows`` consecutive hash values of a signature; a *bucket* holds the
    articles whose values in one band are equal, and the articles of a new article's
    buckets are its candidates. Of the candidates whose share of equal hash values reaches
    the threshold, the most similar one's story is the answer; among equally similar ones,
    the latest article's (highest id), so the answer depends on which articles were added,
    never on the order they were added in (``load`` after a restart answers the same).

    A big story (a wire story many outlets carry) puts its members in the same buckets.
    A bucket too big for a list keeps the articles of its own story (the most common one
    when it outgrew the list) apart from the others. Of its own, only the latest are
    scored at first; the rest only when they could change the answer: when the best
    candidate so far is of another story or short of the threshold, and the rest could
    reach it. (An article not scored yet shares bands with the new one only through such
    buckets of its story, and differs in at least one value of every band it does not
    share.) A lookup near a story of 2,000 members thus costs about what it costs near a
    story of two (docs/benchmarks.md).
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD) -> None:
        import numpy as np

        self.threshold = threshold
        self._bands, self._rows = _banding(threshold)
        # The fewest equal hash values whose share reaches the threshold.
        self._enough = next(
            (equal for equal in range(NUM_PERM + 1) if equal / NUM_PERM >= threshold),
            NUM_PERM + 1,
        )
        self._tables: list[dict[int, int | list[int] | _Bucket]] = [{} for _ in range(self._bands)]
        # Articles are rows of these arrays, in the order added; the arrays grow by
        # doubling. Only the hash values are kept (256 bytes an article: MinHash values
        # fit 32 bits), not MinHash objects, which carry their permutation tables along.
        self._values = np.empty((0, NUM_PERM), dtype=np.uint32)
        self._ids = np.empty(0, dtype=np.int64)
        self._stories = np.empty(0, dtype=np.int64)
        self._added: set[int] = set()
        # The highest article id this copy has seen (loaded, caught up or added).
        self.mark = 0

    def __len__(self) -> int:
        return len(self._added)

    def story_for(self, signature: MinHash | None) -> int | None:
        """The story (its founding article's id) of the most similar recent article."""
        import numpy as np

        if signature is None or not self._added:
            return None
        values = _hash_values(signature)
        loose: set[int] = set()
        parts: list[np.ndarray] = []
        held: list[_Bucket] = []  # buckets whose own story is scored by its latest rows so far
        for found in map(dict.get, self._tables, self._band_keys(values)):
            if found is None:
                continue
            if type(found) is int:
                loose.add(found)
            elif type(found) is list:
                loose.update(found)
            elif type(found) is _Bucket:
                latest = max(0, found.size - _LATEST)
                parts.append(found.rows[latest : found.size])
                if latest:
                    held.append(found)
                loose.update(found.others)
        if not parts and len(loose) <= _FEW:
            if not loose:
                return None
            best = max(map(self._scored, loose, repeat(values)))
        else:
            if loose:
                parts.append(np.fromiter(loose, dtype=np.intp, count=len(loose)))
            best = self._best(values, parts)
        if held:
            best = self._rest_scored(values, best, held)
        score, _, story = best
        return story if score >= self._enough else None

    def _scored(self, row: int, values: np.ndarray) -> tuple[int, int, int]:
        """(equal hash values, article id, story) of one row."""
        import numpy as np

        equal = int(np.count_nonzero(self._values[row] == values))
        return equal, int(self._ids[row]), int(self._stories[row])

    def _rest_scored(
        self, values: np.ndarray, best: tuple[int, int, int], held: list[_Bucket]
    ) -> tuple[int, int, int]:
        """The best candidate, once the rest of the held buckets is scored as far as it
        could change the answer."""
        # An article not scored yet shares bands with the new one only through these.
        shared = Counter(bucket.story for bucket in held)
        while held:
            score, _, story = best
            # What is left of the best candidate's own story cannot change the answer.
            rest = [b for b in held if score < self._enough or b.story != story]
            needed = [b for b in rest if self._ceiling(shared[b.story]) >= max(score, self._enough)]
            if needed:
                parts = [b.rows[: b.size - _LATEST] for b in needed]
                best = max(best, self._best(values, parts))
            elif not rest:
                break
            held = [b for b in held if b not in rest]
        return best

    def _ceiling(self, shared: int) -> int:
        """The most equal hash values an article sharing this many bands can have: it
        differs in at least one value of each other band."""
        return NUM_PERM - (self._bands - shared)

    def _best(self, values: np.ndarray, parts: list[np.ndarray]) -> tuple[int, int, int]:
        """(equal hash values, article id, story) of the best of these rows; the same as
        the best ``_scored`` of each."""
        import numpy as np

        rows = np.concatenate(parts) if len(parts) > 1 else parts[0]
        if len(rows) > _DEDUPLICATE_OVER:
            rows = np.unique(rows)
        scores = np.add.reduce(self._values[rows] == values, axis=1)
        top = int(scores.max())
        tied = rows[scores == top]
        return max(zip(repeat(top), self._ids[tied].tolist(), self._stories[tied].tolist()))

    def add(self, article_id: int, story_id: int | None, signature: MinHash | None) -> None:
        """Remember a stored article (in its transaction: the caller drops the index
        when that transaction fails, see monitor.ingest)."""
        self.mark = max(self.mark, article_id)
        if signature is None or article_id in self._added:
            return
        values = _hash_values(signature)
        row = len(self._added)
        if row == len(self._ids):
            self._grow()
        story = story_id if story_id is not None else article_id
        self._values[row] = values
        self._ids[row] = article_id
        self._stories[row] = story
        self._added.add(article_id)
        for table, band in zip(self._tables, self._band_keys(values), strict=True):
            found = table.get(band)
            if found is None:
                table[band] = row
            elif type(found) is int:
                table[band] = [found, row]
            elif type(found) is list:
                found.append(row)
                if len(found) > _LIST_MAX:
                    stories = [int(self._stories[member]) for member in found]
                    own = max(set(stories), key=stories.count)
                    table[band] = _Bucket(
                        [member for member, of in zip(found, stories, strict=True) if of == own],
                        own,
                        [member for member, of in zip(found, stories, strict=True) if of != own],
                    )
            elif type(found) is _Bucket:
                found.append(row, story)

    def _grow(self) -> None:
        import numpy as np

        capacity = max(1024, 2 * len(self._ids))
        count = len(self._added)
        values = np.empty((capacity, NUM_PERM), dtype=np.uint32)
        values[:count] = self._values[:count]
        ids = np.empty(capacity, dtype=np.int64)
        ids[:count] = self._ids[:count]
        stories = np.empty(capacity, dtype=np.int64)
        stories[:count] = self._stories[:count]
        self._values, self._ids, self._stories = values, ids, stories

    def _band_keys(self, values: np.ndarray) -> list[int]:
        data = values.tobytes()
        width = self._rows * values.itemsize
        return [hash(data[band * width : (band + 1) * width]) for band in range(self._bands)]

    def load(self, connection: Connection, since: datetime) -> int:
        """Fill the index with articles stored since ``since``; how many were loaded."""
        rows = connection.execute(
            select(Article.id, Article.story_id, Article.minhash)
            .where(Article.fetched_at >= since, Article.minhash.is_not(None))
            .order_by(Article.id)
        )
        return self._add_rows(rows)

    def catch_up(self, connection: Connection) -> int:
        """Add the articles stored since this copy's mark (by other instances); how many.
        Called under the ``stories`` lock, so none is being stored meanwhile."""
        rows = connection.execute(
            select(Article.id, Article.story_id, Article.minhash)
            .where(Article.id > self.mark, Article.minhash.is_not(None))
            .order_by(Article.id)
        )
        return self._add_rows(rows)

    def _add_rows(self, rows: Iterable[tuple[int, int | None, bytes | None]]) -> int:
        count = 0
        for article_id, story_id, data in rows:
            assert data is not None  # the queries select stored signatures only
            self.add(article_id, story_id, from_bytes(data))
            count += 1
        return count


class _Bucket:
    """A bucket too big for a list: the rows of its own story, and the others."""

    __slots__ = ("others", "rows", "size", "story")

    def __init__(self, rows: list[int], story: int, others: list[int]) -> None:
        import numpy as np

        self.rows = np.empty(2 * len(rows), dtype=np.intp)
        self.rows[: len(rows)] = rows
        self.size = len(rows)
        self.story = story
        self.others = others

    def append(self, row: int, story: int) -> None:
        import numpy as np

        if story != self.story:
            self.others.append(row)
            return
        if self.size == len(self.rows):
            self.rows = np.concatenate([self.rows, np.empty_like(self.rows)])
        self.rows[self.size] = row
        self.size += 1


@cache
def _banding(threshold: float) -> tuple[int, int]:
    """The bands (b) and rows per band (r), b * r <= NUM_PERM, that make the fewest
    mistakes at the threshold: the chance that two articles less similar than it share
    a band (``1 - (1 - s**r)**b`` at similarity s), integrated from 0 to the threshold,
    plus the chance that two more similar ones share none, integrated from it to 1, each
    weighing half (the usual choice for MinHash LSH, the one datasketch makes). Both
    integrands are polynomials of degree b * r <= 64, so Gauss-Legendre quadrature with
    33 nodes computes them exactly. The band tables themselves are kept by StoryIndex
    (~1.8 KB an article)."""
    import numpy as np

    nodes, weights = np.polynomial.legendre.leggauss(33)

    def integral(values: Callable[[np.ndarray], np.ndarray], low: float, high: float) -> float:
        half = (high - low) / 2
        return half * float(weights @ values(half * nodes + (high + low) / 2))

    best = (float("inf"), 0, 0)
    for bands in range(1, NUM_PERM + 1):
        for rows in range(1, NUM_PERM // bands + 1):

            def shared(s: np.ndarray, b: int = bands, r: int = rows) -> np.ndarray:
                return 1 - (1 - s**r) ** b

            mistakes = 0.5 * integral(shared, 0.0, threshold) + 0.5 * integral(
                lambda s: 1 - shared(s), threshold, 1.0
            )
            if mistakes < best[0]:
                best = (mistakes, bands, rows)
    return best[1], best[2]


def _hash_values(signature: MinHash) -> np.ndarray:
    import numpy as np

    values = np.asarray(signature.hashvalues)
    # Every value is the high half of a 64-bit product: below 2**32.
    if values.shape != (NUM_PERM,) or values.max() > 0xFFFFFFFF:
        raise ValueError(f"not a {NUM_PERM}-value MinHash signature")
    return values.astype(np.uint32)


def outlets(connection: Connection, story_ids: Iterable[int]) -> dict[int, list[int]]:
    """Article ids of each story, founding article first."""
    ids = list(story_ids)
    found: dict[int, list[int]] = {story: [story] for story in ids}
    if not ids:
        return found
    rows = connection.execute(
        select(Article.story_id, Article.id).where(Article.story_id.in_(ids)).order_by(Article.id)
    )
    for story_id, article_id in rows:
        assert story_id is not None  # the query selects the stories' articles only
        found[story_id].append(article_id)
    return found


@dataclass(frozen=True)
class Outlet:
    source: str | None
    url: str
    title: str
    fetched_at: datetime


@dataclass(frozen=True)
class StoryView:
    """A story as users see it: the founding article and who else reported it."""

    id: int
    title: str
    first_seen: datetime
    outlets: list[Outlet]


def recent_stories(
    connection: Connection, since: datetime, *, shared_only: bool = True, limit: int = 50
) -> list[StoryView]:
    """Stories founded since ``since``, newest first; by default only those carried by
    more than one article ("also reported by")."""
    story = func.coalesce(Article.story_id, Article.id)
    rows = connection.execute(
        select(story.label("story"), Article.url, Article.title, Article.fetched_at, Source.name)
        .outerjoin(Source, Source.id == Article.source_id)
        .where(
            story.in_(
                select(Article.id).where(Article.fetched_at >= since, Article.story_id.is_(None))
            )
        )
        .order_by(story.desc(), Article.id)
    ).all()
    grouped: dict[int, list[Outlet]] = {}
    for story_id, url, title, fetched_at, source in rows:
        grouped.setdefault(story_id, []).append(Outlet(source, url, title, fetched_at))
    views = [
        StoryView(story_id, outlets[0].title, outlets[0].fetched_at, outlets)
        for story_id, outlets in grouped.items()
        if len(outlets) > 1 or not shared_only
    ]
    return views[:limit]
