"""A newsroom for route, digest and follow-up tests: real settings, a real database and
the real ingest path, with articles published by several outlets under a fake clock.

Stories are made from the seed article (tests/fixtures/seed): each outlet's copy is a
light re-edit of it (its own lead, tag and footer), which the story index joins to the
first; unrelated articles are distinct texts.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from crawler.items import ArticleItem
from monitor.clock import FakeClock
from monitor.config import Settings, settings_from_mapping
from monitor.db.models import OutboxAlert, Source
from monitor.db.session import Database
from monitor.ingest import Ingestor, IngestResult
from monitor.sources import sync_sources
from monitor.watchlists import WatchlistBook, sync_watchlists

SEED = Path(__file__).resolve().parents[1] / "fixtures" / "seed" / "ain-al-asad-drones.txt"
OUTLETS = ("wire", "daily", "weekly", "evening", "radio")
_SENTENCE_END = re.compile(r"(?<=[.!؟])\s+")


def seed_article() -> tuple[str, str]:
    """The seed article: headline on its first line, then the body."""
    title, _, body = SEED.read_text(encoding="utf-8").partition("\n")
    return title.strip(), body.strip()


def retold(number: int) -> tuple[str, str]:
    """Another outlet's copy of the seed story: its own tag, lead and footer, a few words
    changed (joins the seed's story, but is not a duplicate of it)."""
    title, body = seed_article()
    rng = random.Random(number)
    words = " ".join(_SENTENCE_END.split(body)[1:]).split()
    for _ in range(max(1, len(words) // 25)):
        words[rng.randrange(len(words))] = "كذلك"
    return f"عاجل {number}: {title}", f"(وكالات {number}) " + " ".join(words) + " تابعونا."


def other_story(number: int) -> tuple[str, str]:
    """A drone article of a story of its own (a distinct text each number: a short
    common lead, then words of the seed article in an order of its own, so that two of
    them share few three-word shingles)."""
    places = ["الموصل", "أربيل", "كركوك", "البصرة", "النجف", "الأنبار", "ديالى", "بابل"]
    place = places[number % len(places)]
    words = sorted(set(seed_article()[1].split()))
    rng = random.Random(1000 + number)
    return (
        f"طائرة مسيرة فوق {place} رقم {number}",
        f"قالت السلطات في {place} إن طائرة مسيرة حلقت فوق المدينة رقم {number}، "
        "وفتحت الشرطة تحقيقا. " + " ".join(rng.sample(words, 40)),
    )


def newsroom_settings(
    tmp_path: Path,
    watchlists: list[dict[str, Any]],
    channels: tuple[str, ...] = ("desk", "mail"),
    **extra: Any,
) -> Settings:
    """Settings with the outlets as sources and console channels of those names."""
    return settings_from_mapping(
        {
            "sources": [{"name": name, "url": f"https://{name}.example/feed"} for name in OUTLETS],
            "channels": [{"name": name, "kind": "console"} for name in channels],
            "watchlists": watchlists,
            **extra,
        },
        tmp_path / "settings.toml",
        env={},
    )


@dataclass
class Newsroom:
    db: Database
    clock: FakeClock
    settings: Settings
    ingestor: Ingestor
    sources: dict[str, int]
    numbers: int = 0

    def publish(
        self, source: str, title: str, body: str, published_at: datetime | None = None
    ) -> IngestResult:
        self.numbers += 1
        result = self.ingestor.ingest(
            ArticleItem(
                source_id=self.sources[source],
                source_name=source,
                url=f"https://{source}.example/{self.numbers}",
                title=title,
                body=body,
                published_at=published_at,
            )
        )
        assert result.article_id is not None and not result.duplicate
        return result

    def outbox(self, kind: str | None = None) -> list[OutboxAlert]:
        with self.db.transaction() as session:
            query = select(OutboxAlert).order_by(OutboxAlert.id)
            if kind is not None:
                query = query.where(OutboxAlert.kind == kind)
            return list(session.scalars(query))


def open_newsroom(db: Database, clock: FakeClock, settings: Settings) -> Newsroom:
    """Sources and watchlists synced from ``settings``, and the ingest path over them."""
    with db.transaction() as session:
        sync_sources(session, settings, clock.now())
        sync_watchlists(session, settings, clock.now())
        sources = {name: key for name, key in session.execute(select(Source.name, Source.id))}
    book = WatchlistBook(db)
    book.refresh()
    return Newsroom(db, clock, settings, Ingestor(db, settings, clock, book), sources)
