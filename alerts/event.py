"""The alert events: what one alert says, typed, for every channel and renderer.

Three kinds, each a frozen dataclass with ``to_json``/``from_json``:
:class:`MatchEvent` (a watchlist matched an article), :class:`DigestEvent` (every match of
a watchlist since its last digest, by story) and :class:`FollowUpEvent` (other outlets
reported a story already alerted). :func:`event_from_json` reads any of them back.

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
DIGEST = "digest"
FOLLOW_UP = "follow_up"


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


def _article_json(article: MatchedArticle) -> dict[str, object]:
    return {
        "url": article.url,
        "title": article.title,
        "source": article.source,
        "published_at": article.published_at.isoformat() if article.published_at else None,
    }


def _article(data: object, where: str) -> MatchedArticle:
    article = _object(data, where.rstrip("."))
    return MatchedArticle(
        url=_optional_string(article, "url", where),
        title=_string(article, "title", where),
        source=_string(article, "source", where),
        published_at=_moment(_optional_string(article, "published_at", where)),
    )


@dataclass(frozen=True)
class DigestStory:
    """One story in a digest: its first matching article, every outlet that reported
    it in the digest's period, and how many matching articles it had."""

    article: MatchedArticle
    outlets: tuple[str, ...]
    matches: int


@dataclass(frozen=True)
class DigestEvent:
    """Every match of a watchlist in ``(since, until]``, grouped by story, most reported
    first (``stories``); ``matches`` counts the articles. Empty when nothing matched."""

    watchlist: str
    since: datetime
    until: datetime
    stories: tuple[DigestStory, ...]
    matches: int
    id: str | None = None

    def with_id(self, alert_id: str) -> DigestEvent:
        return replace(self, id=alert_id)

    def to_json(self) -> dict[str, object]:
        return {
            "event": DIGEST,
            "id": self.id,
            "watchlist": self.watchlist,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "matches": self.matches,
            "stories": [
                {
                    "article": _article_json(story.article),
                    "outlets": list(story.outlets),
                    "matches": story.matches,
                }
                for story in self.stories
            ],
        }

    @classmethod
    def from_json(cls, data: object) -> DigestEvent:
        body = _object(data, "the event")
        if body.get("event") != DIGEST:
            raise ValueError(f"event: expected {DIGEST!r}, got {body.get('event')!r:.80}")
        stories = body.get("stories")
        if not isinstance(stories, list):
            raise ValueError(f"stories: expected a list, got {stories!r:.80}")
        return cls(
            watchlist=_string(body, "watchlist"),
            since=_required_moment(body, "since"),
            until=_required_moment(body, "until"),
            stories=tuple(_digest_story(story, index) for index, story in enumerate(stories)),
            matches=_integer(body, "matches"),
            id=_optional_string(body, "id"),
        )


@dataclass(frozen=True)
class FollowUpEvent:
    """A story already alerted to this watchlist was reported by more outlets:
    ``article`` is the alerted one, ``reports`` the later articles (one per outlet)."""

    watchlist: str
    article: MatchedArticle
    reports: tuple[MatchedArticle, ...]
    id: str | None = None

    def with_id(self, alert_id: str) -> FollowUpEvent:
        return replace(self, id=alert_id)

    @property
    def outlets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(report.source for report in self.reports))

    def to_json(self) -> dict[str, object]:
        return {
            "event": FOLLOW_UP,
            "id": self.id,
            "watchlist": self.watchlist,
            "article": _article_json(self.article),
            "reports": [_article_json(report) for report in self.reports],
        }

    @classmethod
    def from_json(cls, data: object) -> FollowUpEvent:
        body = _object(data, "the event")
        if body.get("event") != FOLLOW_UP:
            raise ValueError(f"event: expected {FOLLOW_UP!r}, got {body.get('event')!r:.80}")
        reports = body.get("reports")
        if not isinstance(reports, list):
            raise ValueError(f"reports: expected a list, got {reports!r:.80}")
        return cls(
            watchlist=_string(body, "watchlist"),
            article=_article(body.get("article"), "article."),
            reports=tuple(
                _article(report, f"reports[{index}].") for index, report in enumerate(reports)
            ),
            id=_optional_string(body, "id"),
        )


AlertEvent = MatchEvent | DigestEvent | FollowUpEvent
_KINDS: dict[object, type[MatchEvent] | type[DigestEvent] | type[FollowUpEvent]] = {
    EVENT: MatchEvent,
    DIGEST: DigestEvent,
    FOLLOW_UP: FollowUpEvent,
}


def event_from_json(data: object) -> AlertEvent:
    """Whichever event ``data`` is; ``ValueError`` naming the field otherwise."""
    kind = _object(data, "the event").get("event")
    reader = _KINDS.get(kind)
    if reader is None:
        raise ValueError(f"event: expected one of {sorted(map(str, _KINDS))}, got {kind!r:.80}")
    return reader.from_json(data)


def _digest_story(data: object, index: int) -> DigestStory:
    where = f"stories[{index}]."
    story = _object(data, where.rstrip("."))
    outlets = story.get("outlets")
    if not isinstance(outlets, list) or not all(isinstance(o, str) for o in outlets):
        raise ValueError(f"{where}outlets: expected a list of strings, got {outlets!r:.80}")
    return DigestStory(
        article=_article(story.get("article"), where + "article."),
        outlets=tuple(outlets),
        matches=_integer(story, "matches", where),
    )


def _integer(data: Mapping[str, object], key: str, where: str = "") -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{where}{key}: expected an integer, got {value!r:.80}")
    return value


def _required_moment(data: Mapping[str, object], key: str) -> datetime:
    value = _string(data, key)
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{key}: not an ISO-8601 time: {value!r:.80}") from None


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
