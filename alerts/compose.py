"""What one message says: the alerts a channel sends together, composed for rendering.

The dispatcher hands a channel one alert, or, for a channel that packs, several at once:
an article two watchlists matched (one message naming both), or a burst of matches and
the end of quiet hours (one message listing them). :func:`compose` turns those events
into the one value every renderer and template reads:

* :class:`ArticleMessage`: one article, with every watchlist that matched it;
* :class:`BatchMessage`: several articles, counted by watchlist ("12 new matches for
  طائرة مسيرة");
* a :class:`~alerts.event.DigestEvent` or :class:`~alerts.event.FollowUpEvent` as it is
  (never packed with anything else).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from alerts.event import (
    AlertEvent,
    DigestEvent,
    FollowUpEvent,
    Highlight,
    MatchedArticle,
    MatchEvent,
)


@dataclass(frozen=True)
class ArticleMessage:
    """One article and every watchlist (of those packed) that matched it."""

    article: MatchedArticle
    watchlists: tuple[str, ...]
    highlights: tuple[Highlight, ...]
    snippet: str
    ids: tuple[str, ...]  # the alert ids it carries

    @property
    def watchlist(self) -> str:
        """The watchlists' names as one line ("a، b")."""
        return "، ".join(self.watchlists)


@dataclass(frozen=True)
class BatchMessage:
    """Several articles in one message, in the order they were matched."""

    items: tuple[ArticleMessage, ...]

    @property
    def by_watchlist(self) -> list[tuple[str, int]]:
        """How many of the items each watchlist matched, most first."""
        counts = Counter(name for item in self.items for name in item.watchlists)
        return counts.most_common()

    @property
    def watchlists(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.by_watchlist)


Message = ArticleMessage | BatchMessage | DigestEvent | FollowUpEvent


def article_key(event: MatchEvent) -> tuple[str, ...]:
    """What makes two match events one article: its URL, else its title and source."""
    article = event.article
    if article.url:
        return ("url", article.url)
    return ("text", article.title, article.source)


def compose(events: Sequence[AlertEvent]) -> Message:
    """The message ``events`` make together (see the module's docstring).

    Raises ValueError for nothing to say, or a digest or follow-up packed with others.
    """
    if not events:
        raise ValueError("no alert to compose")
    if len(events) == 1 and not isinstance(events[0], MatchEvent):
        return events[0]
    matches = [event for event in events if isinstance(event, MatchEvent)]
    if len(matches) != len(events):
        raise ValueError("a digest or a follow-up is sent alone, never packed")
    groups: dict[tuple[str, ...], list[MatchEvent]] = {}
    for event in matches:
        groups.setdefault(article_key(event), []).append(event)
    items = tuple(_article(group) for group in groups.values())
    return items[0] if len(items) == 1 else BatchMessage(items)


def _article(events: list[MatchEvent]) -> ArticleMessage:
    first = events[0]
    return ArticleMessage(
        article=first.article,
        watchlists=tuple(dict.fromkeys(event.watchlist for event in events)),
        highlights=tuple(dict.fromkeys(hit for event in events for hit in event.highlights)),
        snippet=max((event.snippet for event in events), key=len),
        ids=tuple(event.id or "" for event in events),
    )
