"""The match event: what one alert says, typed, for every channel and renderer.

``monitor.ingest`` builds a :class:`MatchEvent` when an article matches a watchlist;
:func:`alerts.outbox.enqueue` stores :meth:`MatchEvent.to_json` in the outbox row's
``payload``, one copy per channel with its own ``id``; the dispatcher reads it back with
:meth:`MatchEvent.from_json` and hands the typed event to the channels.

Guarantees:

* :meth:`~MatchEvent.to_json` is the webhook body, key for key and in the documented
  order (docs/webhooks.md); receivers get exactly it.
* ``MatchEvent.from_json(event.to_json()) == event``. Anything else that is not such an
  event raises ``ValueError`` naming the field, so an unreadable stored row is refused
  where it is read instead of failing inside a renderer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

# Where a hit was found.
HighlightField = Literal["title", "body"]
_FIELDS: dict[str, HighlightField] = {"title": "title", "body": "body"}
EVENT = "match"


@dataclass(frozen=True)
class MatchedArticle:
    """The article an event is about. ``url`` is None for a feed entry with no usable
    link; ``published_at`` is None when the source gave no date."""

    url: str | None
    title: str
    source: str
    published_at: datetime | None = None


@dataclass(frozen=True)
class Highlight:
    """One hit: the query that matched, the text as written in the article, and where."""

    query: str
    text: str
    field: HighlightField


@dataclass(frozen=True)
class MatchEvent:
    """A watchlist matched an article. ``id`` is the alert id (the ``webhook-id``): None
    until :func:`alerts.outbox.enqueue` gives each channel's copy its own."""

    watchlist: str
    article: MatchedArticle
    highlights: tuple[Highlight, ...]
    snippet: str
    id: str | None = None

    def with_id(self, alert_id: str) -> MatchEvent:
        return replace(self, id=alert_id)

    def to_json(self) -> dict[str, object]:
        """The JSON object a webhook receiver gets (and the outbox stores)."""
        article = self.article
        return {
            "event": EVENT,
            "id": self.id,
            "watchlist": self.watchlist,
            "article": {
                "url": article.url,
                "title": article.title,
                "source": article.source,
                "published_at": (
                    article.published_at.isoformat() if article.published_at else None
                ),
            },
            "highlights": [
                {"query": hit.query, "text": hit.text, "field": hit.field}
                for hit in self.highlights
            ],
            "snippet": self.snippet,
        }

    @classmethod
    def from_json(cls, data: object) -> MatchEvent:
        """The event :meth:`to_json` gave; ``ValueError`` naming the field otherwise."""
        body = _object(data, "the event")
        if body.get("event") != EVENT:
            raise ValueError(f"event: expected {EVENT!r}, got {body.get('event')!r:.80}")
        article = _object(body.get("article"), "article")
        hits = body.get("highlights")
        if not isinstance(hits, list):
            raise ValueError(f"highlights: expected a list, got {hits!r:.80}")
        return cls(
            watchlist=_string(body, "watchlist"),
            article=MatchedArticle(
                url=_optional_string(article, "url", "article."),
                title=_string(article, "title", "article."),
                source=_string(article, "source", "article."),
                published_at=_moment(_optional_string(article, "published_at", "article.")),
            ),
            highlights=tuple(_highlight(hit, index) for index, hit in enumerate(hits)),
            snippet=_string(body, "snippet"),
            id=_optional_string(body, "id"),
        )


def _highlight(data: object, index: int) -> Highlight:
    where = f"highlights[{index}]."
    hit = _object(data, where.rstrip("."))
    field = _FIELDS.get(_string(hit, "field", where))
    if field is None:
        raise ValueError(f"{where}field: expected 'title' or 'body', got {hit['field']!r:.80}")
    return Highlight(_string(hit, "query", where), _string(hit, "text", where), field)


def _object(value: object, what: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{what}: expected an object, got {value!r:.80}")
    return value


def _string(data: Mapping[str, object], key: str, where: str = "") -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{where}{key}: expected a string, got {value!r:.80}")
    return value


def _optional_string(data: Mapping[str, object], key: str, where: str = "") -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{where}{key}: expected a string or null, got {value!r:.80}")
    return value


def _moment(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"article.published_at: not an ISO-8601 time: {value!r:.80}") from None
