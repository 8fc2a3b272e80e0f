"""The web page over real stored articles: matches by story with highlights, the
watchlist editor's live preview and save, search, sources, alerts and channels."""

from __future__ import annotations

import html
import random
import re
from pathlib import Path

import pytest
from sqlalchemy import text

from crawler.items import ArticleItem
from monitor.ingest import Ingestor
from monitor.watchlists import WatchlistBook
from tests.support.http import Reply
from tests.web.conftest import csrf_of

SEED = Path(__file__).resolve().parents[1] / "fixtures" / "seed" / "ain-al-asad-drones.txt"
SEED_TEXT = SEED.read_text(encoding="utf-8")
PROTEST = "خرجت مسيرة احتجاجية في بغداد تنديدا بارتفاع الأسعار، وطالب المحتجون بالإصلاح."


@pytest.fixture
def stored(site):
    """Articles ingested through the real pipeline, matched by the watchlists then."""
    app = site.app
    app.save_watchlist("drones", ["طائرة مسيرة"], [], create=True)
    app.add_source("wire", "https://news.example/feed")
    app.add_source("other", "https://other.example/feed")
    with app.db.connection() as connection:
        ids = dict(connection.execute(text("SELECT name, id FROM sources")).all())
    book = WatchlistBook(app.db)
    book.refresh()
    ingestor = Ingestor(app.db, site.context.settings, site.context.clock, book)

    def add(title: str, body: str, slug: str, source: str = "wire") -> int:
        result = ingestor.ingest(
            ArticleItem(
                source_id=ids[source],
                source_name=source,
                url=f"https://{source}.example/{slug}",
                title=title,
                body=body,
            )
        )
        assert result.article_id is not None
        return result.article_id

    return add


def marks(page: str) -> list[str]:
    return [html.unescape(found) for found in re.findall(r"<mark[^>]*>(.*?)</mark>", page)]


def test_matches_show_highlights_and_the_other_outlets_of_a_story(site, stored):
    stored("هجوم بطائرات مسيرة على عين الأسد", SEED_TEXT, "seed")
    stored("هجوم على قاعدة عين الأسد", SEED_TEXT, "seed-copy", source="other")
    stored("مسيرة في بغداد", PROTEST, "protest")
    client = site.signed_in("amal", "viewer")

    page = client.get("/matches")

    assert page.status_code == 200
    assert "بطائرتين مسيرتين" in marks(page.text)
    assert "عين الأسد" in marks(page.text)
    assert "مسيرة في بغداد" not in page.text  # a protest march is no drone
    # The copy from the other outlet is one story: shown once, with "also reported by".
    assert page.text.count('class="card"') == 1
    assert (
        "https://other.example/seed-copy" in page.text or "https://wire.example/seed" in page.text
    )
    drones = client.get("/matches", params={"watchlist": "from-file"})
    assert "/watchlists/drones" not in drones.text


def test_matches_pages_follow_the_cursor(site, stored):
    words = PROTEST.split() + SEED_TEXT.split()[:200]
    for number in range(55):
        # Distinct bodies: 55 stories, not one story told 55 times.
        body = " ".join(random.Random(number).sample(words, 40))
        stored(f"طائرة مسيرة رقم {number}", body + " طائرة مسيرة", f"d{number}")
    client = site.signed_in("amal", "viewer")
    first = client.get("/matches")
    older = re.search(r'href="(/matches\?[^"]*before=\d+[^"]*)" rel="next"', first.text)
    assert older, "a full page links to the older matches"
    second = client.get(html.unescape(older.group(1)))
    titles = re.findall(r"رقم (\d+)", first.text), re.findall(r"رقم (\d+)", second.text)
    assert len(set(titles[0])) == 50 and len(set(titles[1])) == 5
    assert not set(titles[0]) & set(titles[1])


def test_a_hostile_title_is_text_and_a_javascript_link_is_no_link(site, stored):
    """Scenario 18 on the server side: escaped markup, no javascript: href."""
    app = site.app
    stored(
        "<img src=x onerror=alert(1)> طائرة مسيرة", "<script>alert(3)</script> طائرة مسيرة", "xss"
    )
    with app.db.transaction() as session:
        session.execute(text("UPDATE articles SET url = 'javascript:alert(2)'"))
    page = site.signed_in("amal", "viewer").get("/matches").text
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script>alert(3)" not in page
    assert 'href="javascript:' not in page


def test_the_preview_highlights_the_seed_and_counts_surface_forms(site, stored):
    stored("مسيرة في بغداد", PROTEST, "protest")
    stored("هجوم على عين الأسد", SEED_TEXT, "seed")
    client = site.signed_in("amal", "editor")
    token = csrf_of(client, "/watchlists/new")

    fragment = client.post(
        "/watchlists/preview",
        data={"queries": "طائرة مسيرة\nمسيرة", "sample": SEED_TEXT, "slop": "1"},
        headers={"X-CSRF-Token": token},
    )

    assert fragment.status_code == 200
    shown = marks(fragment.text)
    assert "بطائرتين مسيرتين" in shown
    # The bare word also finds the march; the preview offers to exclude that form.
    assert "مسيرة احتجاجية" in html.unescape(fragment.text)
    excluded = [
        html.unescape(value)
        for value in re.findall(r'data-query="([^"]*)"', fragment.text)
        if "احتجاجية" in html.unescape(value)
    ]
    assert excluded and excluded[0].splitlines()[1] == '(مسيرة) -"مسيرة احتجاجية"'
    assert excluded[0].splitlines()[0] == "طائرة مسيرة"


def test_the_preview_shows_a_parse_error_at_its_position(site):
    client = site.signed_in("amal", "editor")
    token = csrf_of(client, "/watchlists/new")
    fragment = client.post(
        "/watchlists/preview", data={"queries": "(طائرة مسيرة"}, headers={"X-CSRF-Token": token}
    )
    assert fragment.status_code == 200
    assert "never closed" in fragment.text and "at character" in fragment.text


def test_the_preview_needs_the_csrf_header(site):
    client = site.signed_in("amal", "editor")
    assert client.post("/watchlists/preview", data={"queries": "x"}).status_code == 403


def test_an_editor_creates_edits_and_deletes_a_watchlist(site):
    client = site.signed_in("amal", "editor")
    token = csrf_of(client, "/watchlists/new")
    saved = client.post(
        "/watchlists/save",
        data={
            "csrf_token": token,
            "create": "true",
            "name": "الحشد",
            "queries": "الحشد الشعبي\n",
            "synonyms": "الحشد الشعبي، الحشد",
            "channels": "ops",
            "slop": "1",
            "enabled": "true",
        },
    )
    assert saved.status_code == 303
    listing = client.get("/watchlists").text
    assert "الحشد الشعبي" in listing and "ops" in listing
    watchlist = site.app.get_watchlist("الحشد")
    assert watchlist.synonyms == (("الحشد الشعبي", "الحشد"),)
    bad = client.post(
        "/watchlists/save",
        data={"csrf_token": token, "name": "الحشد", "queries": "(الحشد", "slop": "1"},
    )
    assert bad.status_code == 422 and "never closed" in bad.text
    assert site.app.get_watchlist("الحشد").queries == ("الحشد الشعبي",)
    gone = client.post("/watchlists/الحشد/delete", data={"csrf_token": token})
    assert gone.status_code == 303
    assert "الحشد الشعبي" not in client.get("/watchlists").text


def test_a_watchlist_from_settings_is_read_only(site):
    client = site.signed_in("amal", "admin")
    page = client.get("/watchlists/from-file").text
    assert "settings.toml" in page and 'id="save"' not in page
    token = csrf_of(client, "/watchlists")
    refused = client.post(
        "/watchlists/save",
        data={"csrf_token": token, "name": "from-file", "queries": "شيء آخر", "slop": "1"},
    )
    assert refused.status_code == 422 and "edit it there" in refused.text
    assert site.app.get_watchlist("from-file").queries == ("عين الأسد",)


def test_a_viewer_reads_but_cannot_save(site):
    client = site.signed_in("reader", "viewer")
    assert client.get("/watchlists").status_code == 200
    token = csrf_of(client, "/watchlists")
    refused = client.post(
        "/watchlists/save",
        data={"csrf_token": token, "create": "true", "name": "x", "queries": "y", "slop": "1"},
    )
    assert refused.status_code == 403


def test_search_uses_the_query_language(site, stored):
    stored("هجوم على عين الأسد", SEED_TEXT, "seed")
    stored("مسيرة في بغداد", PROTEST, "protest")
    client = site.signed_in("amal", "viewer")
    found = client.get("/search", params={"q": "مسيرة -طائرة"}).text
    assert "</mark> في بغداد" in found and "هجوم على عين الأسد" not in found
    broken = client.get("/search", params={"q": "مسيرة AND"}).text
    assert "at character" in broken


def test_sources_are_added_with_discovery_paused_and_resumed(site, server):
    server.route(
        "/feed.xml",
        Reply(
            body=(
                '<?xml version="1.0"?><rss version="2.0"><channel><title>أخبار</title>'
                "<item><title>خبر</title><link>https://news.example/1</link></item>"
                "</channel></rss>"
            ),
            content_type="application/rss+xml",
        ),
    )
    client = site.signed_in("amal", "admin")
    token = csrf_of(client, "/sources")
    found = client.post(
        "/sources/discover", data={"csrf_token": token, "url": server.url("/feed.xml")}
    )
    assert found.status_code == 200 and server.url("/feed.xml") in found.text
    added = client.post(
        "/sources/add",
        data={"csrf_token": token, "name": "local", "url": server.url("/feed.xml")},
    )
    assert added.status_code == 303
    assert client.post("/sources/local/pause", data={"csrf_token": token}).status_code == 303
    assert "موقوف مؤقتًا" in client.get("/sources").text
    assert client.post("/sources/local/resume", data={"csrf_token": token}).status_code == 303
    assert [s.state for s in site.app.list_sources() if s.name == "local"] == ["active"]


def test_a_test_alert_reaches_the_channel_and_its_answer_is_shown(tmp_path, clock, receiver):
    from tests.web.conftest import make_site, settings_text

    receiver.route("/hook", Reply(200, "ok", content_type="text/plain"))
    config = tmp_path / "settings.toml"
    config.write_text(
        settings_text(f"sqlite:///{tmp_path / 'r.db'}").replace(
            "https://hooks.example.net/T000/B000/sekr1tpath", receiver.url("/hook")
        ),
        encoding="utf-8",
    )
    for site in make_site(config, clock):
        client = site.signed_in("amal", "admin")
        token = csrf_of(client, "/channels")
        page = client.post("/channels/ops/test", data={"csrf_token": token})
        assert page.status_code == 200
        assert "delivered" in page.text or "وصل" in page.text
    posted = receiver.requests_to("/hook")
    assert len(posted) == 1 and "webhook-signature" in {k.lower() for k in posted[0].headers}


def test_english_switch_and_right_to_left_arabic(site):
    client = site.signed_in("amal", "viewer")
    arabic = client.get("/watchlists").text
    assert '<html lang="ar" dir="rtl">' in arabic and "قوائم المراقبة" in arabic
    token = csrf_of(client, "/watchlists")
    switched = client.post(
        "/preferences", data={"csrf_token": token, "language": "en", "next": "/watchlists"}
    )
    assert switched.headers["location"] == "/watchlists"
    english = client.get("/watchlists").text
    assert '<html lang="en" dir="ltr">' in english and ">Watchlists<" in english


def test_the_alert_log_filters_by_state(site, stored):
    stored("هجوم على عين الأسد", SEED_TEXT, "seed")
    client = site.signed_in("amal", "viewer")
    pending = client.get("/alerts", params={"status": "pending"}).text
    assert pending.count('<tr id="alert-') == 2  # two watchlists, one channel
    assert '<tr id="alert-' not in client.get("/alerts", params={"status": "sent"}).text
    assert '<tr id="alert-' not in client.get("/alerts", params={"status": "dead"}).text
    newest = site.app.list_alerts(limit=1)[0].id
    assert [a.id for a in site.app.list_alerts("pending", before=newest)] == [newest - 1]


def test_an_admin_adds_and_removes_a_channel_whose_url_is_never_shown(site):
    client = site.signed_in("amal", "admin")
    token = csrf_of(client, "/channels")
    added = client.post(
        "/channels/add",
        data={
            "csrf_token": token,
            "name": "newsroom",
            "kind": "slack",
            "url": "https://hooks.slack.com/services/T1/B2/zzsecretzz",
        },
    )
    assert added.status_code == 303
    page = client.get("/channels").text
    assert "newsroom" in page and "zzsecretzz" not in page
    refused = client.post(
        "/channels/add",
        data={
            "csrf_token": token,
            "name": "meta",
            "kind": "webhook",
            "url": "http://169.254.169.254/",
        },
    )
    assert refused.status_code == 422
    removed = client.post("/channels/newsroom/remove", data={"csrf_token": token})
    assert removed.status_code == 303
    assert "newsroom" not in client.get("/channels").text


def test_account_token_is_shown_once_and_password_change_keeps_this_session(site):
    client = site.signed_in("amal", "viewer")
    token = csrf_of(client, "/account")
    made = client.post("/account/tokens", data={"csrf_token": token, "label": "reader"})
    secret = re.search(r'id="new-token">(rsd_[^<]+)<', made.text).group(1)
    assert site.app.user_for_token(secret).name == "amal"
    again = client.get("/account").text
    assert secret not in again and "reader" in again
    wrong = client.post(
        "/account/password",
        data={"csrf_token": token, "current": "nope", "password": "a brand new password"},
    )
    assert wrong.status_code == 422
    changed = client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current": "correct horse battery",
            "password": "a brand new password",
        },
    )
    assert changed.status_code == 303
    assert client.get("/account").status_code == 200  # this session goes on
    assert site.app.authenticate("amal", "a brand new password") is not None


def test_an_admin_manages_users_on_the_page(site):
    client = site.signed_in("amal", "admin")
    token = csrf_of(client, "/users")
    added = client.post(
        "/users/add",
        data={
            "csrf_token": token,
            "name": "omar",
            "role": "editor",
            "password": "omar's long password",
        },
    )
    assert added.status_code == 303
    assert (
        client.post("/users/omar/role", data={"csrf_token": token, "role": "viewer"}).status_code
        == 303
    )
    assert {u.name: u.role for u in site.app.list_users()} == {"amal": "admin", "omar": "viewer"}
    last = client.post("/users/amal/remove", data={"csrf_token": token})
    assert last.status_code == 409 and "last admin" in last.text
    assert client.post("/users/omar/remove", data={"csrf_token": token}).status_code == 303
    page = client.get("/users").text
    assert "omar" not in page and "$argon2" not in page
