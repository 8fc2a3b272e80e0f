"""`rasid run --once` end to end: real Scrapy crawl of a local site, real database
(SQLite and PostgreSQL), real webhook receiver."""

from __future__ import annotations

from standardwebhooks.webhooks import Webhook

from tests.e2e.conftest import QUIET_PARAGRAPHS, SECRET, accepting, posted_json, recent
from tests.support.http import Recorded, Reply
from tests.support.site import Story, article_page, rss


def test_once_delivers_each_expected_alert_exactly_once(news_site, receiver, rasid_factory):
    rasid = rasid_factory(sources={"site": news_site.feed_url}, webhook_url=accepting(receiver))

    first = rasid.run("run", "--once")

    assert first.returncode == 0, first.stderr
    alerts = posted_json(receiver.requests_to("/hook"))
    assert sorted(a["watchlist"] for a in alerts) == ["ain-al-asad", "drones"]
    assert {a["article"]["url"] for a in alerts} == {
        news_site.server.url("/news/ain-al-asad-drones")
    }
    second = rasid.run("run", "--once")
    assert second.returncode == 0, second.stderr
    assert len(receiver.requests_to("/hook")) == 2


def test_deliveries_carry_valid_standard_webhooks_signatures(news_site, receiver, rasid_factory):
    rasid = rasid_factory(sources={"site": news_site.feed_url}, webhook_url=accepting(receiver))

    assert rasid.run("run", "--once").returncode == 0

    deliveries = receiver.requests_to("/hook")
    assert deliveries
    verifier = Webhook(SECRET)
    for delivery in deliveries:
        verified = verifier.verify(delivery.body, delivery.headers)
        assert verified["id"] == delivery.headers["webhook-id"]


def test_alert_payload_follows_the_contract_with_surface_highlights(
    news_site, receiver, rasid_factory
):
    rasid = rasid_factory(sources={"site": news_site.feed_url}, webhook_url=accepting(receiver))

    rasid.run("run", "--once")

    drones = next(
        a for a in posted_json(receiver.requests_to("/hook")) if a["watchlist"] == "drones"
    )
    assert drones["event"] == "match"
    assert drones["id"].startswith("msg_")
    assert (
        drones["article"]["title"] == "عقب الانسحاب الأمريكي.. هدف جديد لهجمات الميليشيات العراقية"
    )
    assert drones["article"]["source"] == "site"
    seed = next(s for s in news_site.stories if s.slug == "ain-al-asad-drones")
    assert drones["article"]["published_at"] == seed.published.isoformat()
    texts = {h["text"] for h in drones["highlights"]}
    assert "بطائرتين مسيرتين" in texts
    assert "طائرة أميركية مسيّرة" in texts
    assert {h["field"] for h in drones["highlights"]} == {"body"}
    assert drones["snippet"]


def test_keywords_only_in_sidebar_and_navigation_do_not_alert(news_site, receiver, rasid_factory):
    rasid = rasid_factory(sources={"site": news_site.feed_url}, webhook_url=accepting(receiver))

    rasid.run("run", "--once")

    urls = {a["article"]["url"] for a in posted_json(receiver.requests_to("/hook"))}
    assert news_site.server.url("/news/oil-prices") not in urls


def test_old_articles_are_stored_but_do_not_alert(news_site, receiver, rasid_factory):
    old = Story(
        "old-drones",
        "هجوم بطائرة مسيرة قديم",
        ["هاجمت طائرة مسيرة القاعدة قبل أسبوع."] * 4,
        recent(24 * 5),
    )
    news_site.publish(old)
    rasid = rasid_factory(sources={"site": news_site.feed_url}, webhook_url=accepting(receiver))

    rasid.run("run", "--once")

    urls = {a["article"]["url"] for a in posted_json(receiver.requests_to("/hook"))}
    assert news_site.server.url("/news/old-drones") not in urls
    assert rasid.status()["articles"] == 3


def test_receiver_failing_with_503_gets_everything_on_the_next_run(
    news_site, receiver, rasid_factory
):
    receiver.route("/hook", Reply(503, "busy", content_type="text/plain"))
    rasid = rasid_factory(sources={"site": news_site.feed_url}, webhook_url=receiver.url("/hook"))

    first = rasid.run("run", "--once")
    assert first.returncode == 0, first.stderr
    # The channel stops at its first failure so later alerts never overtake it.
    failed = [r.headers["webhook-id"] for r in receiver.requests_to("/hook")]
    assert len(failed) == 1
    assert rasid.status()["alerts"]["pending"] == 2

    accepting(receiver)
    second = rasid.run("run", "--once")

    assert second.returncode == 0, second.stderr
    delivered = receiver.requests_to("/hook")[1:]
    assert len(delivered) == 2
    assert delivered[0].headers["webhook-id"] == failed[0]
    assert len({r.headers["webhook-id"] for r in delivered}) == 2
    assert rasid.status()["alerts"] == {"pending": 0, "sent": 2, "dead": 0}
    rasid.run("run", "--once")
    assert len(receiver.requests_to("/hook")) == 3


def test_same_article_in_two_feeds_is_stored_and_alerted_once(news_site, receiver, rasid_factory):
    news_site.server.route("/feeds/copy.xml", news_site.server.routes["/feeds/main.xml"])
    rasid = rasid_factory(
        sources={"site": news_site.feed_url, "mirror": news_site.server.url("/feeds/copy.xml")},
        webhook_url=accepting(receiver),
    )

    rasid.run("run", "--once")

    assert len(receiver.requests_to("/hook")) == 2
    assert rasid.status()["articles"] == 2


def test_unchanged_feed_is_answered_304_and_not_parsed_again(news_site, receiver, rasid_factory):
    served = news_site.server.routes["/feeds/main.xml"]

    def conditional(request: Recorded) -> Reply:
        if request.headers.get("if-none-match") == '"v1"':
            return Reply(304, b"", content_type=None, headers={"ETag": '"v1"'})
        reply = served(request) if callable(served) else served
        return Reply(reply.status, reply.body, {"ETag": '"v1"'}, reply.content_type)

    news_site.server.route("/feeds/main.xml", conditional)
    rasid = rasid_factory(sources={"site": news_site.feed_url}, webhook_url=accepting(receiver))

    first = rasid.run("run", "--once").stdout
    second = rasid.run("run", "--once").stdout

    polls = news_site.server.requests_to("/feeds/main.xml")
    assert [p.headers.get("if-none-match") for p in polls] == [None, '"v1"']
    assert rasid.source_status("site")["last_status"] == "not_modified"
    assert "1 document(s) parsed" in first
    assert "(1 answered 304, 0 same bytes)" in second and "0 document(s) parsed" in second


def test_unchanged_bytes_without_validators_are_not_parsed_again(
    news_site, receiver, rasid_factory
):
    rasid = rasid_factory(sources={"site": news_site.feed_url}, webhook_url=accepting(receiver))

    rasid.run("run", "--once")
    second = rasid.run("run", "--once").stdout
    news_site.publish(Story("late", "خبر جديد", QUIET_PARAGRAPHS, recent(0), "النفط"))
    third = rasid.run("run", "--once").stdout

    assert "1 unchanged (0 answered 304, 1 same bytes)" in second
    assert "0 document(s) parsed" in second
    assert "1 ok" in third and "1 document(s) parsed" in third and "1 new article(s)" in third


def test_undeclared_windows_1256_feed_and_page_alert_with_correct_arabic(
    news_site, receiver, rasid_factory
):
    story = Story(
        "cp1256",
        "إسقاط طائرة مسيرة قرب أربيل",
        ["أعلنت السلطات إسقاط طائرة مسيرة مفخخة قرب مطار أربيل الدولي فجر اليوم."] * 3,
        recent(1),
    )
    server = news_site.server
    feed = rss("موقع", server.url("").rstrip("/"), [story], encoding="windows-1256")
    undeclared = feed.replace(b' encoding="windows-1256"', b"")
    server.route("/legacy.xml", Reply(200, undeclared, content_type="text/xml"))
    page = article_page(story).replace('<meta charset="utf-8">', "").encode("cp1256")
    server.route("/news/cp1256", Reply(200, page, content_type="text/html"))
    rasid = rasid_factory(
        sources={"legacy": server.url("/legacy.xml")}, webhook_url=accepting(receiver)
    )

    rasid.run("run", "--once")

    [alert] = posted_json(receiver.requests_to("/hook"))
    assert alert["article"]["title"] == "إسقاط طائرة مسيرة قرب أربيل"
    assert alert["highlights"][0]["text"] == "طائرة مسيرة"


def test_an_item_without_a_link_is_stored_from_the_feed_and_alerted_once(
    news_site, receiver, rasid_factory
):
    server = news_site.server
    feed = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>موجز</title>'
        "<item><title>عاجل: إسقاط طائرة مسيرة فوق أربيل</title>"
        "<description>أعلنت السلطات إسقاط طائرة مسيرة مفخخة.</description></item>"
        "<item><title></title><description></description><guid isPermaLink='false'>empty-1</guid>"
        "</item>"
        "</channel></rss>"
    )
    server.route("/bulletin.xml", Reply(body=feed, content_type="application/rss+xml"))
    rasid = rasid_factory(
        sources={"bulletin": server.url("/bulletin.xml")}, webhook_url=accepting(receiver)
    )

    first = rasid.run("run", "--once")
    # The feed changes (a new item): the linkless item is known, not stored twice.
    server.route(
        "/bulletin.xml",
        Reply(
            body=feed.replace("<item>", "<item><title>أسعار النفط</title></item><item>", 1),
            content_type="application/rss+xml",
        ),
    )
    second = rasid.run("run", "--once")

    assert first.returncode == 0 and second.returncode == 0, second.stderr
    [alert] = posted_json(receiver.requests_to("/hook"))
    assert alert["article"]["url"] is None
    assert alert["article"]["title"] == "عاجل: إسقاط طائرة مسيرة فوق أربيل"
    assert alert["highlights"][0]["text"] == "طائرة مسيرة"
    assert "2 document(s) parsed" not in second.stdout and "1 new article(s)" in second.stdout
    status = rasid.source_status("bulletin")
    assert status["articles_stored"] == 2
    assert status["entries_unusable"] == 2
    assert rasid.status()["frontier"] == {"pending": 0, "failed": 0}
