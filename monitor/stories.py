"""Stories: the same news told by several outlets, grouped so a watchlist alerts once.

An article's fingerprint is a MinHash over shingles of three consecutive normalized
words of its title and body; MinHash LSH (datasketch) finds earlier articles whose
shingle sets are similar enough (estimated Jaccard >= the threshold). Wire copy lightly
re-edited by a second outlet (a new first paragraph, a changed dateline, a sentence cut)
keeps most of its shingles; two different stories on the same topic share few. The
threshold is checked on real articles (tests/monitor/test_stories.py, the ANT sample).

The first article of a story founds it (``articles.story_id`` is NULL); later ones
point at it. Signatures are stored with the article, and the in-memory index holds the
recent window (``[stories] window``), rebuilt at start. Banding follows datasketch's
choice of bands and rows for the threshold. Several instances each keep
their own index of what they loaded at start plus what they stored since: an article
ingested meanwhile by another instance is not grouped with (a duplicate alert, never a
lost one).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH
from sqlalchemy import Connection, func, select

from monitor.arabic.normalize import normalize_word
from monitor.arabic.tokenize import WORD
from monitor.db.models import Article, Source

logger = logging.getLogger(__name__)

NUM_PERM = 64
SHINGLE = 3
DEFAULT_THRESHOLD = 0.3
# Too few shingles to say two articles are one story (a headline-only item).
MIN_SHINGLES = 8


def fingerprint(title: str, body: str) -> MinHash | None:
    """The article's MinHash, or None when it is too short to compare."""
    words = [norm for word in WORD.findall(f"{title}\n{body}") if (norm := normalize_word(word))]
    shingles = {" ".join(words[at : at + SHINGLE]) for at in range(len(words) - SHINGLE + 1)}
    if len(shingles) < MIN_SHINGLES:
        return None
    signature = MinHash(num_perm=NUM_PERM)
    signature.update_batch([shingle.encode("utf-8") for shingle in shingles])
    return signature


def to_bytes(signature: MinHash) -> bytes:
    return signature.hashvalues.astype("<u8").tobytes()


def from_bytes(data: bytes) -> MinHash:
    """A stored signature, without the permutations a fresh MinHash would generate."""
    return LeanMinHash(seed=1, hashvalues=np.frombuffer(data, dtype="<u8"))


class StoryIndex:
    """Recent articles' fingerprints; says which story a new article belongs to."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold
        # datasketch chooses the bands (b) and rows per band (r) that best fit the
        # threshold; the band tables themselves are kept here, leaner than its storage
        # (a set per band per article: ~7.5 KB an article; these are ~2.5 KB).
        chosen = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        self._bands, self._rows = chosen.b, chosen.r
        self._tables: list[dict[int, int | list[int]]] = [{} for _ in range(self._bands)]
        # Only the hash values are kept (512 bytes an article), not MinHash objects,
        # which carry their permutation tables along.
        self._signatures: dict[int, np.ndarray] = {}
        self._story_of: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._signatures)

    def story_for(self, signature: MinHash | None) -> int | None:
        """The story (its founding article's id) of the most similar recent article."""
        if signature is None:
            return None
        best, best_score = None, self.threshold
        values = np.asarray(signature.hashvalues, dtype=np.uint64)
        candidates: set[int] = set()
        for table, band in zip(self._tables, self._band_keys(values), strict=True):
            found = table.get(band)
            if found is None:
                continue
            if isinstance(found, list):
                candidates.update(found)
            else:
                candidates.add(found)
        for key in candidates:
            score = float(np.count_nonzero(values == self._signatures[key])) / NUM_PERM
            if score >= best_score:
                best, best_score = key, score
        return None if best is None else self._story_of[best]

    def add(self, article_id: int, story_id: int | None, signature: MinHash | None) -> None:
        """Remember a stored article (call after its transaction committed)."""
        if signature is None or article_id in self._signatures:
            return
        values = np.asarray(signature.hashvalues, dtype=np.uint64)
        for table, band in zip(self._tables, self._band_keys(values), strict=True):
            found = table.get(band)
            if found is None:
                table[band] = article_id
            elif isinstance(found, list):
                found.append(article_id)
            else:
                table[band] = [found, article_id]
        self._signatures[article_id] = values
        self._story_of[article_id] = story_id if story_id is not None else article_id

    def _band_keys(self, values: np.ndarray) -> list[int]:
        rows = self._rows
        return [
            hash(values[band * rows : (band + 1) * rows].tobytes()) for band in range(self._bands)
        ]

    def load(self, connection: Connection, since: datetime) -> int:
        """Fill the index with articles stored since ``since``; how many were loaded."""
        rows = connection.execute(
            select(Article.id, Article.story_id, Article.minhash)
            .where(Article.fetched_at >= since, Article.minhash.is_not(None))
            .order_by(Article.id)
        )
        count = 0
        for article_id, story_id, data in rows:
            self.add(article_id, story_id, from_bytes(data))
            count += 1
        return count


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
