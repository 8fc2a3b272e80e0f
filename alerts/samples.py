"""Sample alerts: what ``rasid alerts test CHANNEL`` sends, and what every template is
rendered against when its channel is built.

The match is the project's seed article (Ain al-Asad, January 2022) as the bundled
settings' ``drones`` watchlist (``طائرة مسيرة``) finds it: its headline, a snippet of its
body and the inflected forms the matcher highlights there. The text is kept here, not
read from the test fixtures, which are not installed with rasid.

Guarantees:

* Every function returns a new value from ``now`` alone: no clock, file or database.
* :func:`sample_messages` has one message of each kind a template must handle
  (:data:`MESSAGE_KINDS`), each with every optional field filled in and a few left
  empty (an article without a link, a story reported by one outlet).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from alerts.compose import ArticleMessage, BatchMessage, Message, compose
from alerts.event import (
    DigestEvent,
    DigestStory,
    FollowUpEvent,
    Highlight,
    MatchedArticle,
    MatchEvent,
)

SAMPLE_WATCHLIST = "drones"
SAMPLE_QUERY = "طائرة مسيرة"
SEED_TITLE = "عقب الانسحاب الأمريكي.. هدف جديد لهجمات الميليشيات العراقية"
SEED_URL = "https://news.example/news/ain-al-asad-drones"
SEED_SOURCE = "news.example"
SEED_SNIPPET = (
    "تصاعدت حدة الهجمات بالطائرات المسيرة، والاستهداف المباشر، ضد القواعد العسكرية "
    "العراقية … أعلنت الحكومة العراقية، الثلاثاء، إحباط هجوم بطائرتين مسيرتين مفخختين "
    "حاولتا استهداف قاعدة عسكرية تضم مستشاري التحالف الدولي."
)
# The forms of the query as written in the seed article's body.
SEED_FORMS = ("بالطائرات المسيرة", "بطائرتين مسيرتين", "طائرة أميركية مسيّرة")

# What a template is told a message is, by its class (see alerts/templating.py).
MESSAGE_KINDS = ("article", "batch", "digest", "follow_up")


def sample_match_event(now: datetime, alert_id: str | None = None) -> MatchEvent:
    """The seed article's match, published at ``now``."""
    return MatchEvent(
        watchlist=SAMPLE_WATCHLIST,
        article=MatchedArticle(
            url=SEED_URL, title=SEED_TITLE, source=SEED_SOURCE, published_at=now
        ),
        highlights=tuple(Highlight(SAMPLE_QUERY, form, "body") for form in SEED_FORMS),
        snippet=SEED_SNIPPET,
        id=alert_id,
    )


def sample_article_message(now: datetime) -> ArticleMessage:
    """The seed article's match, as one message."""
    message = compose([sample_match_event(now, "msg_sample_article")])
    assert isinstance(message, ArticleMessage)
    return message


def sample_batch_message(now: datetime) -> BatchMessage:
    """Three articles at once: the seed article (matched by two watchlists), another
    drone story and one its feed gave no link or date."""
    seed = sample_match_event(now - timedelta(minutes=9), "msg_sample_1")
    ain_al_asad = MatchEvent(
        watchlist="ain-al-asad",
        article=seed.article,
        highlights=(Highlight("عين الأسد", "عين الأسد", "body"),),
        snippet="القدرات الدفاعية في قاعدة عين الأسد العراقية قامت بتدمير طائرتين مسيرتين.",
        id="msg_sample_2",
    )
    erbil = MatchEvent(
        watchlist=SAMPLE_WATCHLIST,
        article=MatchedArticle(
            url="https://news.example/news/erbil-drone",
            title="إسقاط طائرة مسيرة قرب أربيل",
            source="another.example",
            published_at=now - timedelta(minutes=4),
        ),
        highlights=(Highlight(SAMPLE_QUERY, "طائرة مسيرة", "title"),),
        snippet="أعلنت السلطات إسقاط طائرة مسيرة مفخخة قرب مطار أربيل الدولي فجر اليوم.",
        id="msg_sample_3",
    )
    no_link = MatchEvent(
        watchlist=SAMPLE_WATCHLIST,
        article=MatchedArticle(
            url=None, title="عاجل: طائرة مسيرة فوق بغداد", source="feed.example"
        ),
        highlights=(Highlight(SAMPLE_QUERY, "طائرة مسيرة", "title"),),
        snippet="",
        id="msg_sample_4",
    )
    message = compose([seed, ain_al_asad, erbil, no_link])
    assert isinstance(message, BatchMessage)
    return message


def sample_digest_event(now: datetime) -> DigestEvent:
    """A morning digest: three stories, the most reported first."""
    seed = sample_match_event(now).article
    return DigestEvent(
        watchlist=SAMPLE_WATCHLIST,
        since=now - timedelta(days=1),
        until=now,
        stories=(
            DigestStory(
                article=seed,
                outlets=(SEED_SOURCE, "الجزيرة", "بي بي سي عربي", "another.example"),
                matches=6,
            ),
            DigestStory(
                article=MatchedArticle(
                    url="https://news.example/news/erbil-drone",
                    title="إسقاط طائرة مسيرة قرب أربيل",
                    source="another.example",
                    published_at=now - timedelta(hours=5),
                ),
                outlets=("another.example", "الجزيرة"),
                matches=2,
            ),
            DigestStory(
                article=MatchedArticle(
                    url=None, title="عاجل: طائرة مسيرة فوق بغداد", source="feed.example"
                ),
                outlets=("feed.example",),
                matches=1,
            ),
        ),
        matches=9,
        id="msg_sample_digest",
    )


def sample_follow_up_event(now: datetime) -> FollowUpEvent:
    """The seed story, reported again by two more outlets."""
    seed = sample_match_event(now - timedelta(hours=1)).article
    return FollowUpEvent(
        watchlist=SAMPLE_WATCHLIST,
        article=seed,
        reports=(
            MatchedArticle(
                url="https://aljazeera.example/news/ain-al-asad",
                title="إحباط هجوم بطائرتين مسيرتين على قاعدة عين الأسد",
                source="الجزيرة",
                published_at=now - timedelta(minutes=40),
            ),
            MatchedArticle(
                url="https://bbc.example/arabic/ain-al-asad",
                title="العراق: تدمير طائرتين مسيرتين قرب قاعدة عين الأسد",
                source="بي بي سي عربي",
                published_at=now - timedelta(minutes=25),
            ),
        ),
        id="msg_sample_follow_up",
    )


def sample_messages(now: datetime) -> dict[str, Message]:
    """One message of each kind, by the kind's name (:data:`MESSAGE_KINDS`)."""
    return {
        "article": sample_article_message(now),
        "batch": sample_batch_message(now),
        "digest": sample_digest_event(now),
        "follow_up": sample_follow_up_event(now),
    }


__all__ = [
    "MESSAGE_KINDS",
    "sample_article_message",
    "sample_batch_message",
    "sample_digest_event",
    "sample_follow_up_event",
    "sample_match_event",
    "sample_messages",
]
