"""Once per story: a second outlet carrying the same story does not alert again, a
different story with the same keywords does."""

from __future__ import annotations

import json
from dataclasses import replace

from tests.e2e.conftest import NewsSite, accepting, posted_json, recent
from tests.support.http import local_server
from tests.support.site import Story, seed_story


def _second_outlet_copy(story: Story) -> Story:
    """The wire story as another outlet runs it: own headline, own lead, a dropped line."""
    paragraphs = list(story.paragraphs)
    return replace(
        story,
        slug="wire-copy-of-the-drone-attacks",
        title="هجمات بطائرات مسيرة على قاعدة عين الأسد",
        paragraphs=["(وكالات) تتواصل الهجمات على القواعد العسكرية في العراق.", *paragraphs[1:-1]],
    )


FRESH_ATTACK = Story(
    "new-drone-attack",
    "طائرة مسيرة تستهدف مطار أربيل",
    [
        "استهدفت طائرة مسيرة مفخخة مساء الأحد محيط مطار أربيل الدولي في إقليم كردستان.",
        "وقالت السلطات المحلية إن الدفاعات الجوية تصدت للهجوم ولم تسجل إصابات بشرية.",
        "ولم تعلن أي جهة مسؤوليتها عن الهجوم حتى الآن، فيما فتحت السلطات تحقيقا.",
        "ويأتي الهجوم بعد أيام من تهديدات أطلقتها فصائل مسلحة ضد الوجود الأجنبي.",
    ],
    recent(0.5),
)


def test_the_same_story_from_two_outlets_alerts_once(news_site, receiver, rasid_factory):
    with local_server() as other:
        outlet = NewsSite(other, [])
        outlet.publish(_second_outlet_copy(seed_story(recent(0.8))))
        rasid = rasid_factory(
            sources={"site": news_site.feed_url, "outlet": outlet.feed_url},
            webhook_url=accepting(receiver),
        )

        first = rasid.run("run", "--once")
        assert first.returncode == 0, first.stderr
        alerts = posted_json(receiver.requests_to("/hook"))
        assert sorted(a["watchlist"] for a in alerts) == ["ain-al-asad", "drones"]

        outlet.publish(FRESH_ATTACK)
        second = rasid.run("run", "--once")
        assert second.returncode == 0, second.stderr

    shared = json.loads(rasid.run("stories", "--json").stdout)
    assert len(shared) == 1
    outlets = shared[0]["outlets"]  # whichever was stored first founded the story
    assert sorted(outlet["source"] for outlet in outlets) == ["outlet", "site"]
    assert any(o["url"].endswith("/news/wire-copy-of-the-drone-attacks") for o in outlets)

    alerts = posted_json(receiver.requests_to("/hook"))
    drones = [a for a in alerts if a["watchlist"] == "drones"]
    assert len(drones) == 2
    assert drones[-1]["article"]["title"] == FRESH_ATTACK.title
    assert len([a for a in alerts if a["watchlist"] == "ain-al-asad"]) == 1
