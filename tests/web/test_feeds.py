"""Each watchlist's matches as an Atom feed: read by feedparser as a reader would, with
hostile titles kept as text, only web links, and a token required (scenario 39)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import feedparser

from tests.web.conftest import Site
from tests.web.test_api import store_article, token_for

ATOM = "{http://www.w3.org/2005/Atom}"
HOSTILE = "<img src=x onerror=alert(1)> طائرة مسيرة & «قصف»"


def feed_token(site: Site, name: str = "rami", role: str = "viewer") -> str:
    return token_for(site, name, role)["Authorization"].removeprefix("Bearer ")


def test_a_watchlist_feed_lists_its_matches_as_atom(site):
    token = feed_token(site)
    site.app.add_watchlist("drones", ["طائرة مسيرة"])
    store_article(site, "إسقاط طائرة مسيرة فوق بغداد", "أسقطت الدفاعات طائرة مسيرة.", "one")
    store_article(site, "أسعار النفط", "لا شيء هنا", "oil")
    answer = site.client().get(f"/feeds/drones.atom?token={token}")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/atom+xml")

    parsed = feedparser.parse(answer.content)
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.version == "atom10"
    assert parsed.feed.title == "rasid: drones"
    [entry] = parsed.entries
    assert entry.title == "إسقاط طائرة مسيرة فوق بغداد"
    assert entry.link == "https://news.example/one"
    assert entry.id.startswith("tag:rasid,2025:watchlist/drones/match/")
    assert "طائرة مسيرة" in entry.summary
    assert entry.updated_parsed is not None
    assert token not in answer.text  # the self link carries no token


def test_a_hostile_title_comes_out_as_text(sqlite_site):
    token = feed_token(sqlite_site)
    sqlite_site.app.add_watchlist("drones", ["طائرة مسيرة"])
    store_article(sqlite_site, HOSTILE, "طائرة مسيرة\x00\x0b في الخبر", "hostile")
    answer = sqlite_site.client().get(f"/feeds/drones.atom?token={token}")

    assert "<img" not in answer.text
    root = ET.fromstring(answer.content)  # well-formed despite the control characters
    entry = root.find(f"{ATOM}entry")
    assert entry is not None
    title = entry.find(f"{ATOM}title")
    assert title is not None and title.text == HOSTILE and title.get("type") == "text"
    parsed = feedparser.parse(answer.content)
    assert parsed.entries[0].title == HOSTILE


def test_only_web_links_are_links(sqlite_site):
    from monitor.web.feeds import FeedEntry, render_feed

    moment = sqlite_site.context.clock.now()
    entries = [
        FeedEntry(1, "a", "javascript:alert(1)", None, moment, None, "s"),
        FeedEntry(2, "b", "data:text/html,<b>", "wire", moment, None, "s"),
        FeedEntry(3, "c", "http://news.example/c", "wire", moment, moment, "s"),
    ]
    document = render_feed("x", entries, site="http://127.0.0.1:8080", now=moment)
    parsed = feedparser.parse(document)
    links = [[link.href for link in entry.get("links", [])] for entry in parsed.entries]
    assert links == [[], [], ["http://news.example/c"]]
    assert b"javascript:" not in document and b"data:" not in document


def test_a_feed_without_a_token_or_with_a_wrong_one_is_401(sqlite_site):
    sqlite_site.add_user("amal", "admin")
    client = sqlite_site.client()
    for path in ["/feeds/from-file.atom", "/feeds/from-file.atom?token=rsd_wrong"]:
        answer = client.get(path)
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] in ("no_token", "invalid_token")


def test_a_token_in_a_header_also_reads_the_feed(sqlite_site):
    headers = token_for(sqlite_site, "rami", "viewer")
    answer = sqlite_site.client().get("/feeds/from-file.atom", headers=headers)
    assert answer.status_code == 200
    assert feedparser.parse(answer.content).feed.title == "rasid: from-file"


def test_a_signed_in_person_opens_the_feed_from_the_page(sqlite_site):
    client = sqlite_site.signed_in("rami", "viewer")
    assert client.get("/feeds/from-file.atom").status_code == 200
    stranger = sqlite_site.client()  # no session, no token, and users exist
    assert stranger.get("/feeds/from-file.atom").status_code == 401


def test_an_unknown_watchlist_feed_is_404(sqlite_site):
    token = feed_token(sqlite_site)
    answer = sqlite_site.client().get(f"/feeds/nope.atom?token={token}")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_a_feed_shows_no_channel_secret(sqlite_site):
    token = feed_token(sqlite_site)
    sqlite_site.app.add_watchlist("drones", ["طائرة مسيرة"], ["ops"])
    store_article(sqlite_site, "طائرة مسيرة", "طائرة مسيرة", "one")
    answer = sqlite_site.client().get(f"/feeds/drones.atom?token={token}")
    for secret in ["sekr1tpath", "whsec_", "hooks.example.net"]:
        assert secret not in answer.text
