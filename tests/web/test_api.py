"""The REST API under /api/v1: each route's answer and its refusals (401, 403, 404,
409, 422 as JSON), CSRF for cookie callers, and no secret in any answer
(shared/RELIABILITY.md scenarios 38 and 39)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from httpx import Response
from sqlalchemy import text

from crawler.items import ArticleItem
from monitor.ingest import Ingestor
from monitor.watchlists import WatchlistBook
from tests.support.http import Reply
from tests.support.site import rss, seed_story
from tests.web.conftest import PASSWORD, Site

API = "/api/v1"
SEED = Path(__file__).resolve().parents[1] / "fixtures" / "seed" / "ain-al-asad-drones.txt"
PROTEST = "خرجت مسيرة احتجاجية في بغداد تنديدا بارتفاع الأسعار، وطالب المحتجون بالإصلاح."
SECRETS = ["sekr1tpath", "whsec_", "hooks.example.net", "$argon2"]


def token_for(site: Site, name: str, role: str) -> dict[str, str]:
    """The headers of an API client acting as a new user ``name`` with ``role``."""
    site.add_user(name, role)
    return {"Authorization": f"Bearer {site.app.create_token(name, 'tests').secret}"}


@pytest.fixture
def admin(sqlite_site: Site) -> dict[str, str]:
    return token_for(sqlite_site, "amal", "admin")


def store_article(site: Site, title: str, body: str, slug: str, source: str = "wire") -> int:
    """Store an article as the crawler would: matched, grouped, its alerts queued."""
    app = site.app
    if not any(known.name == source for known in app.list_sources()):
        app.add_source(source, f"https://{source}.example/feed")
    with app.db.connection() as connection:
        source_id = connection.execute(
            text("SELECT id FROM sources WHERE name = :name"), {"name": source}
        ).scalar()
    assert source_id is not None
    book = WatchlistBook(app.db)
    book.refresh()
    ingestor = Ingestor(app.db, app.settings, site.context.clock, book)
    item = ArticleItem(
        source_id=source_id,
        source_name=source,
        url=f"https://news.example/{slug}",
        title=title,
        body=body,
    )
    result = ingestor.ingest(item)
    assert result.article_id is not None
    return result.article_id


def assert_error(answer: Response, status: int, code: str | None = None) -> None:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert set(error) == {"code", "message"}
    assert error["message"]
    if code is not None:
        assert error["code"] == code


# -- authentication and roles (scenario 39) ------------------------------------------


def test_without_a_token_the_api_answers_401_once_a_user_exists(sqlite_site):
    sqlite_site.add_user("amal", "admin")
    client = sqlite_site.client()
    for path in ["/watchlists", "/sources", "/matches", "/alerts", "/users", "/me"]:
        answer = client.get(API + path)
        assert_error(answer, 401, "not_signed_in")
        assert answer.headers["www-authenticate"].startswith("Bearer")


def test_a_wrong_token_is_401_in_either_header(sqlite_site):
    sqlite_site.add_user("amal", "admin")
    client = sqlite_site.client()
    for headers in [
        {"Authorization": "Bearer rsd_not-a-real-token"},
        {"X-Auth-Token": "rsd_not-a-real-token"},
    ]:
        assert_error(client.get(f"{API}/watchlists", headers=headers), 401, "invalid_token")


def test_a_revoked_token_is_401(sqlite_site):
    sqlite_site.add_user("amal", "admin")
    made = sqlite_site.app.create_token("amal", "script")
    client = sqlite_site.client()
    headers = {"X-Auth-Token": made.secret}
    assert client.get(f"{API}/me", headers=headers).json()["name"] == "amal"
    sqlite_site.app.revoke_token(made.info.id)
    assert_error(client.get(f"{API}/me", headers=headers), 401)


def test_a_viewer_reads_but_cannot_write_or_see_users(sqlite_site):
    viewer = token_for(sqlite_site, "rami", "viewer")
    client = sqlite_site.client()
    assert client.get(f"{API}/watchlists", headers=viewer).status_code == 200
    assert client.get(f"{API}/sources", headers=viewer).status_code == 200
    assert_error(client.get(f"{API}/users", headers=viewer), 403, "forbidden")
    created = client.post(
        f"{API}/watchlists", headers=viewer, json={"name": "drones", "queries": ["طائرة مسيرة"]}
    )
    assert_error(created, 403, "forbidden")
    assert "drones" not in [w.name for w in sqlite_site.app.list_watchlists()]


def test_an_editor_writes_watchlists_but_not_sources_users_or_alerts(sqlite_site):
    editor = token_for(sqlite_site, "huda", "editor")
    client = sqlite_site.client()
    created = client.post(
        f"{API}/watchlists", headers=editor, json={"name": "drones", "queries": ["طائرة مسيرة"]}
    )
    assert created.status_code == 201
    refused = [
        client.post(
            f"{API}/sources", headers=editor, json={"url": "https://a.example/f", "name": "a"}
        ),
        client.post(f"{API}/alerts/retry", headers=editor, json={"all_dead": True}),
        client.post(
            f"{API}/users",
            headers=editor,
            json={"name": "x", "role": "admin", "password": PASSWORD},
        ),
        client.post(f"{API}/channels/ops/test", headers=editor),
    ]
    for answer in refused:
        assert_error(answer, 403, "forbidden")
    assert [user.name for user in sqlite_site.app.list_users()] == ["huda"]
    assert sqlite_site.app.list_sources() == []


def test_me_tells_who_the_token_belongs_to(sqlite_site, admin):
    me = sqlite_site.client().get(f"{API}/me", headers=admin).json()
    assert me["name"] == "amal" and me["role"] == "admin"


# -- watchlists ----------------------------------------------------------------------


def test_a_watchlist_is_created_read_replaced_and_deleted(site):
    headers = token_for(site, "huda", "editor")
    client = site.client()
    body = {"name": "drones", "queries": ["طائرة مسيرة"], "channels": ["ops"]}
    created = client.post(f"{API}/watchlists", headers=headers, json=body)
    assert created.status_code == 201, created.text
    assert created.json()["queries"] == ["طائرة مسيرة"]
    assert created.json()["read_only"] is False

    replaced = client.put(
        f"{API}/watchlists/drones",
        headers=headers,
        json={"queries": ["طائرة مسيرة NOT احتجاجية"], "synonyms": [["مسيرة", "درون"]]},
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["channels"] == []
    assert replaced.json()["synonyms"] == [["مسيرة", "درون"]]
    one = client.get(f"{API}/watchlists/drones", headers=headers).json()
    assert one["queries"] == ["طائرة مسيرة NOT احتجاجية"]
    names = [w["name"] for w in client.get(f"{API}/watchlists", headers=headers).json()]
    assert sorted(names) == ["drones", "from-file"]

    assert client.delete(f"{API}/watchlists/drones", headers=headers).status_code == 204
    assert_error(client.get(f"{API}/watchlists/drones", headers=headers), 404, "not_found")


def test_a_watchlist_from_the_settings_file_is_read_only(sqlite_site):
    headers = token_for(sqlite_site, "huda", "editor")
    client = sqlite_site.client()
    shown = client.get(f"{API}/watchlists/from-file", headers=headers).json()
    assert shown["read_only"] is True and shown["origin"] == "settings"
    replaced = client.put(
        f"{API}/watchlists/from-file", headers=headers, json={"queries": ["شيء آخر"]}
    )
    assert_error(replaced, 409, "conflict")
    assert_error(client.delete(f"{API}/watchlists/from-file", headers=headers), 409, "conflict")
    assert sqlite_site.app.get_watchlist("from-file").queries == ("عين الأسد",)


def test_a_duplicate_watchlist_is_409(sqlite_site, admin):
    client = sqlite_site.client()
    body = {"name": "drones", "queries": ["طائرة مسيرة"]}
    assert client.post(f"{API}/watchlists", headers=admin, json=body).status_code == 201
    assert_error(client.post(f"{API}/watchlists", headers=admin, json=body), 409, "conflict")


def test_a_malformed_query_is_422_with_its_position(sqlite_site, admin):
    client = sqlite_site.client()
    answer = client.post(
        f"{API}/watchlists", headers=admin, json={"name": "bad", "queries": ['"طائرة مسيرة']}
    )
    assert_error(answer, 422, "query_syntax")
    assert "character" in answer.json()["error"]["message"]


def test_a_body_of_the_wrong_shape_is_422_json(sqlite_site, admin):
    client = sqlite_site.client()
    answer = client.post(f"{API}/watchlists", headers=admin, json={"name": "x", "queries": []})
    assert_error(answer, 422, "invalid")
    assert "queries" in answer.json()["error"]["message"]
    broken = client.post(
        f"{API}/watchlists",
        headers={**admin, "Content-Type": "application/json"},
        content=b"{not json",
    )
    assert_error(broken, 422, "invalid")


def test_an_unknown_channel_is_refused(sqlite_site, admin):
    client = sqlite_site.client()
    body = {"name": "x", "queries": ["طائرة مسيرة"], "channels": ["no"]}
    answer = client.post(f"{API}/watchlists", headers=admin, json=body)
    assert_error(answer, 404, "not_found")


# -- sources and channels ------------------------------------------------------------


def test_a_source_is_added_paused_resumed_and_deleted(site):
    headers = token_for(site, "amal", "admin")
    client = site.client()
    added = client.post(
        f"{API}/sources",
        headers=headers,
        json={"url": "https://news.example/feed", "name": "wire", "discover": False},
    )
    assert added.status_code == 201, added.text
    assert added.json()["source"]["result"] == "never polled"
    listed = client.get(f"{API}/sources", headers=headers).json()
    assert [(s["name"], s["state"]) for s in listed] == [("wire", "active")]

    paused = client.post(f"{API}/sources/wire/pause", headers=headers).json()
    assert paused["state"] == "paused" and paused["resume_hint"] == "rasid sources resume wire"
    assert client.post(f"{API}/sources/wire/resume", headers=headers).json()["state"] == "active"
    assert client.delete(f"{API}/sources/wire", headers=headers).status_code == 204
    assert client.get(f"{API}/sources", headers=headers).json() == []
    assert_error(client.post(f"{API}/sources/wire/pause", headers=headers), 404)


def test_a_source_is_refused_before_any_fetch(sqlite_site, admin, server):
    client = sqlite_site.client()
    body = {"url": server.url("/feed"), "name": "Not A Slug!"}
    assert_error(client.post(f"{API}/sources", headers=admin, json=body), 422, "invalid")
    assert server.requests == []
    for url in ["file:///etc/passwd", "javascript:alert(1)"]:
        answer = client.post(f"{API}/sources", headers=admin, json={"url": url, "name": "x"})
        assert_error(answer, 422)
    assert sqlite_site.app.list_sources() == []


def test_a_site_page_is_added_as_the_feed_it_offers(sqlite_site, admin, server, clock):
    feed = rss("الأخبار", server.url(""), [seed_story(clock.now())])
    server.route("/rss.xml", Reply(200, feed, content_type="application/rss+xml"))
    page = '<html><head><link rel="alternate" type="application/rss+xml" href="/rss.xml">'
    server.route("/", Reply(200, page + "</head><body>hi</body></html>"))
    client = sqlite_site.client()

    found = client.post(f"{API}/sources/discover", headers=admin, json={"url": server.url("/")})
    assert found.status_code == 200, found.text
    assert [c["url"] for c in found.json()["found"]] == [server.url("/rss.xml")]

    added = client.post(
        f"{API}/sources", headers=admin, json={"url": server.url("/"), "name": "site"}
    )
    assert added.status_code == 201, added.text
    assert added.json()["source"]["url"] == server.url("/rss.xml")


def test_channels_are_listed_without_their_url_or_secret(sqlite_site, admin):
    answer = sqlite_site.client().get(f"{API}/channels", headers=admin)
    assert answer.json() == [{"name": "ops", "kind": "webhook", "active": True, "reason": None}]


def test_testing_an_unknown_channel_is_404(sqlite_site, admin):
    answer = sqlite_site.client().post(f"{API}/channels/nope/test", headers=admin)
    assert_error(answer, 404, "not_found")


# -- alerts --------------------------------------------------------------------------


def make_dead_alerts(site: Site, count: int) -> None:
    site.app.add_watchlist("drones", ["طائرة مسيرة"], ["ops"])
    for number in range(count):
        store_article(
            site, f"إسقاط طائرة مسيرة رقم {number}", f"طائرة مسيرة {number}", f"d{number}"
        )
    with site.app.db.transaction() as session:
        session.execute(text("UPDATE alert_outbox SET status = 'dead', attempts = 1"))


def test_alerts_are_listed_by_status_and_paged(site):
    headers = token_for(site, "amal", "admin")
    make_dead_alerts(site, 3)
    client = site.client()
    first = client.get(f"{API}/alerts", headers=headers, params={"status": "dead", "limit": 2})
    assert first.status_code == 200, first.text
    page = first.json()
    assert len(page["items"]) == 2 and page["next"]
    ids = [item["id"] for item in page["items"]]
    assert ids == sorted(ids, reverse=True)
    rest = client.get(page["next"], headers=headers).json()
    assert len(rest["items"]) == 1 and rest["next"] is None
    assert rest["items"][0]["id"] < ids[-1]
    assert client.get(f"{API}/alerts?status=sent", headers=headers).json()["items"] == []


def test_a_dead_alert_is_retried_and_a_queued_one_is_409(site):
    headers = token_for(site, "amal", "admin")
    make_dead_alerts(site, 2)
    client = site.client()
    dead = client.get(f"{API}/alerts?status=dead", headers=headers).json()["items"]
    one = dead[0]["id"]
    assert client.post(f"{API}/alerts/{one}/retry", headers=headers).json() == {"queued": 1}
    assert_error(client.post(f"{API}/alerts/{one}/retry", headers=headers), 409, "conflict")
    assert_error(client.post(f"{API}/alerts/999999/retry", headers=headers), 404)
    assert_error(
        client.post(f"{API}/alerts/retry", headers=headers, json={"all_dead": False}),
        422,
        "invalid",
    )
    everything = client.post(f"{API}/alerts/retry", headers=headers, json={"all_dead": True})
    assert everything.json() == {"queued": 1}
    assert client.get(f"{API}/alerts?status=dead", headers=headers).json()["items"] == []


def test_an_unknown_alert_status_is_422(sqlite_site, admin):
    answer = sqlite_site.client().get(f"{API}/alerts?status=lost", headers=admin)
    assert_error(answer, 422, "invalid")


# -- users ---------------------------------------------------------------------------


def test_an_admin_manages_users_and_their_tokens(site):
    headers = token_for(site, "amal", "admin")
    client = site.client()
    created = client.post(
        f"{API}/users",
        headers=headers,
        json={"name": "rami", "role": "viewer", "password": PASSWORD},
    )
    assert created.status_code == 201, created.text
    assert set(created.json()) == {"name", "role", "created_at", "time_zone", "language"}
    promoted = client.put(f"{API}/users/rami/role", headers=headers, json={"role": "editor"})
    assert promoted.json()["role"] == "editor"

    made = client.post(f"{API}/users/rami/tokens", headers=headers, json={"label": "script"})
    assert made.status_code == 201
    secret = made.json()["token"]
    assert secret.startswith("rsd_")
    assert client.get(f"{API}/me", headers={"X-Auth-Token": secret}).json()["name"] == "rami"
    listed = client.get(f"{API}/users/rami/tokens", headers=headers)
    assert [t["label"] for t in listed.json()] == ["script"]
    assert secret not in listed.text

    assert client.delete(f"{API}/users/rami", headers=headers).status_code == 204
    assert_error(client.get(f"{API}/me", headers={"X-Auth-Token": secret}), 401)
    assert [u["name"] for u in client.get(f"{API}/users", headers=headers).json()] == ["amal"]


def test_the_last_admin_cannot_be_removed_or_demoted(sqlite_site, admin):
    client = sqlite_site.client()
    assert_error(client.delete(f"{API}/users/amal", headers=admin), 409, "conflict")
    demoted = client.put(f"{API}/users/amal/role", headers=admin, json={"role": "viewer"})
    assert_error(demoted, 409, "conflict")
    assert_error(client.delete(f"{API}/users/nobody", headers=admin), 404, "not_found")


def test_a_weak_password_and_an_unknown_role_are_422(sqlite_site, admin):
    client = sqlite_site.client()
    weak = client.post(
        f"{API}/users", headers=admin, json={"name": "x", "role": "viewer", "password": "short"}
    )
    assert_error(weak, 422, "invalid")
    odd = client.post(
        f"{API}/users", headers=admin, json={"name": "x", "role": "root", "password": PASSWORD}
    )
    assert_error(odd, 422, "invalid")


def test_a_viewer_makes_a_token_for_themselves(sqlite_site):
    viewer = token_for(sqlite_site, "rami", "viewer")
    client = sqlite_site.client()
    made = client.post(f"{API}/me/tokens", headers=viewer, json={"label": "feed reader"})
    assert made.status_code == 201
    assert made.json()["info"]["user"] == "rami"


# -- queries, search, stories --------------------------------------------------------


def test_a_query_check_gives_the_problem_and_its_position(sqlite_site, admin):
    client = sqlite_site.client()
    ok = client.post(f"{API}/queries/check", headers=admin, json={"query": "طائرة مسيرة"})
    assert ok.json() == {"ok": True, "error": None}
    bad = client.post(f"{API}/queries/check", headers=admin, json={"query": "(طائرة OR"}).json()
    assert bad["ok"] is False
    assert isinstance(bad["error"]["position"], int)
    assert bad["error"]["message"]


def test_a_huge_or_deeply_nested_query_is_refused_cleanly(sqlite_site, admin):
    """Scenario 36 through the API."""
    client = sqlite_site.client()
    nested = client.post(
        f"{API}/queries/check", headers=admin, json={"query": "(" * 10_000 + "a" + ")" * 10_000}
    )
    assert nested.status_code in (200, 422)
    huge = client.post(f"{API}/queries/check", headers=admin, json={"query": "a " * 500_000})
    assert_error(huge, 422, "invalid")
    assert client.get(f"{API}/me", headers=admin).status_code == 200


def test_search_finds_stored_articles_with_their_surface_forms(site):
    headers = token_for(site, "rami", "viewer")
    seed = store_article(site, "هجوم على عين الأسد", SEED.read_text(encoding="utf-8"), "seed")
    store_article(site, "مسيرة في بغداد", PROTEST, "protest")
    answer = site.client().get(f"{API}/search", headers=headers, params={"q": "طائرة مسيرة"})
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [item["id"] for item in items] == [seed]
    assert "بطائرتين مسيرتين" in [hit["text"] for hit in items[0]["hits"]]
    assert answer.json()["next"] is None


def test_search_with_a_malformed_query_or_since_is_422(sqlite_site, admin):
    client = sqlite_site.client()
    assert_error(
        client.get(f"{API}/search", headers=admin, params={"q": "(a"}), 422, "query_syntax"
    )
    odd = client.get(f"{API}/search", headers=admin, params={"q": "a", "since": "yesterday"})
    assert_error(odd, 422, "invalid")


def test_stories_list_who_reported_them(sqlite_site, admin):
    body = SEED.read_text(encoding="utf-8")
    store_article(sqlite_site, "هجوم على عين الأسد", body, "seed")
    store_article(sqlite_site, "هجوم على عين الأسد", "مقدمة جديدة. " + body, "copy")
    stories = sqlite_site.client().get(f"{API}/stories?since=7d", headers=admin).json()
    assert len(stories) == 1
    assert [o["url"] for o in stories[0]["outlets"]] == [
        "https://news.example/seed",
        "https://news.example/copy",
    ]


# -- matches and the live preview ---------------------------------------------------


def test_matches_are_paged_newest_first_and_filtered(site):
    headers = token_for(site, "rami", "viewer")
    site.app.add_watchlist("drones", ["طائرة مسيرة"])
    for number in range(3):
        store_article(
            site, f"إسقاط طائرة مسيرة رقم {number}", f"طائرة مسيرة {number}", f"d{number}"
        )
    client = site.client()
    first = client.get(f"{API}/matches", headers=headers, params={"limit": 2}).json()
    assert [item["title"] for item in first["items"]] == [
        "إسقاط طائرة مسيرة رقم 2",
        "إسقاط طائرة مسيرة رقم 1",
    ]
    assert first["items"][0]["title_segments"][1] == {"text": "طائرة مسيرة", "hit": True}
    rest = client.get(first["next"], headers=headers).json()
    assert [item["title"] for item in rest["items"]] == ["إسقاط طائرة مسيرة رقم 0"]
    assert rest["next"] is None

    def count(**params: str) -> int:
        return len(client.get(f"{API}/matches", headers=headers, params=params).json()["items"])

    assert count(watchlist="drones", source="wire") == 3
    assert count(watchlist="from-file") == 0
    assert count(source="elsewhere") == 0
    assert count(since="1h") == 3
    assert count(since="2030-01-01T00:00:00Z") == 0
    assert count(until="2020-01-01") == 0
    assert_error(client.get(f"{API}/matches?limit=201", headers=headers), 422, "invalid")
    assert_error(client.get(f"{API}/matches?until=soon", headers=headers), 422, "invalid")


def test_a_match_shows_the_other_outlets_of_its_story(sqlite_site, admin):
    sqlite_site.app.add_watchlist("asad", ["عين الأسد"])
    body = SEED.read_text(encoding="utf-8")
    store_article(sqlite_site, "هجوم على عين الأسد", body, "seed")
    store_article(sqlite_site, "هجوم على عين الأسد", "مقدمة جديدة. " + body, "copy", "other")
    items = sqlite_site.client().get(f"{API}/matches?watchlist=asad", headers=admin).json()["items"]
    assert [o["url"] for o in items[0]["also_reported_by"]] == ["https://news.example/seed"]
    assert items[0]["also_more"] == 0


def test_the_preview_shows_hits_recent_articles_and_surface_forms(site):
    headers = token_for(site, "rami", "viewer")
    seed = store_article(site, "هجوم على عين الأسد", SEED.read_text(encoding="utf-8"), "seed")
    store_article(site, "مسيرة في بغداد", PROTEST, "protest")
    answer = site.client().post(
        f"{API}/queries/preview",
        headers=headers,
        json={"query": "طائرة مسيرة", "text": "أسقطت الدفاعات الجوية طائرتين مسيرتين فجرا"},
    )
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["text_hits"] == 1
    assert {"text": "طائرتين مسيرتين", "hit": True} in found["text_segments"]
    assert [article["article_id"] for article in found["articles"]] == [seed]
    assert found["searched"] == 2 and found["matched"] == 1
    forms = {form["text"]: form["count"] for form in found["forms"]}
    assert forms["بطائرتين مسيرتين"] >= 1


def test_the_preview_of_a_malformed_query_is_422(sqlite_site, admin):
    answer = sqlite_site.client().post(
        f"{API}/queries/preview", headers=admin, json={"query": '"طائرة'}
    )
    assert_error(answer, 422, "query_syntax")


def test_a_surface_form_is_excluded_with_one_call(sqlite_site, admin):
    answer = sqlite_site.client().post(
        f"{API}/queries/exclude",
        headers=admin,
        json={"query": "مسيرة", "phrase": "مسيرة احتجاجية"},
    )
    assert answer.status_code == 200, answer.text
    query = answer.json()["query"]
    assert "مسيرة احتجاجية" in query and query.startswith("(مسيرة)")
    assert sqlite_site.app.try_query(query, PROTEST).matched is False


# -- CSRF, methods and hosts (scenario 38) -------------------------------------------


def test_a_cookie_post_without_the_csrf_header_is_403_and_changes_nothing(sqlite_site):
    client = sqlite_site.signed_in("huda", "editor")
    body = {"name": "drones", "queries": ["طائرة مسيرة"]}
    assert_error(client.post(f"{API}/watchlists", json=body), 403, "csrf")
    assert_error(
        client.post(f"{API}/watchlists", json=body, headers={"X-CSRF-Token": "guess"}), 403, "csrf"
    )
    assert "drones" not in [w.name for w in sqlite_site.app.list_watchlists()]


def test_a_cookie_post_with_the_csrf_header_is_accepted(sqlite_site):
    client = sqlite_site.signed_in("huda", "editor")
    page = client.get("/account")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text[:200]
    body = {"name": "drones", "queries": ["طائرة مسيرة"]}
    answer = client.post(f"{API}/watchlists", json=body, headers={"X-CSRF-Token": token.group(1)})
    assert answer.status_code == 201, answer.text
    cross = client.post(
        f"{API}/watchlists",
        json={**body, "name": "other"},
        headers={"X-CSRF-Token": token.group(1), "Origin": "https://evil.test"},
    )
    assert_error(cross, 403, "cross_site")
    assert "other" not in [w.name for w in sqlite_site.app.list_watchlists()]


def test_a_mutating_path_refuses_get(sqlite_site, admin):
    sqlite_site.app.add_source("wire", "https://news.example/feed")
    client = sqlite_site.client()
    for path in ["/sources/wire/pause", "/alerts/retry", "/queries/check", "/users/amal/tokens"]:
        answer = client.get(API + path, headers=admin)
        if path == "/users/amal/tokens":
            assert answer.status_code == 200  # a read; making one is POST
            continue
        assert_error(answer, 405, "method_not_allowed")
    assert sqlite_site.app.list_sources()[0].state == "active"


def test_another_host_is_400(sqlite_site, admin):
    answer = sqlite_site.client(host="evil.test").get(f"{API}/watchlists", headers=admin)
    assert answer.status_code == 400


def test_with_no_user_a_loopback_script_is_the_local_admin_but_needs_csrf_to_write(sqlite_site):
    client = sqlite_site.client()
    assert client.get(f"{API}/me").json()["role"] == "admin"
    answer = client.post(f"{API}/watchlists", json={"name": "x", "queries": ["a"]})
    assert_error(answer, 403, "csrf")


# -- no secret in any answer (scenario 39) -------------------------------------------


def test_no_get_route_shows_a_channel_secret_a_hash_or_a_token(sqlite_site, admin):
    make_dead_alerts(sqlite_site, 1)
    sqlite_site.app.add_user("rami", "viewer", PASSWORD)
    made = sqlite_site.app.create_token("rami", "reader")
    client = sqlite_site.client()
    schema = client.get(f"{API}/openapi.json").json()
    values = {
        "name": "from-file",
        "watchlist": "drones",
        "alert_id": "1",
        "token_id": str(made.info.id),
    }
    walked = 0
    for path, operations in schema["paths"].items():
        if "get" not in operations:
            continue
        filled = re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "amal"), path)
        params = {"q": "طائرة مسيرة"} if path.endswith("/search") else {}
        answer = client.get(filled, headers=admin, params=params)
        assert answer.status_code < 500, (path, answer.text)
        for secret in [*SECRETS, made.secret, made.secret[8:]]:
            assert secret not in answer.text, (path, secret)
        walked += 1
    assert walked >= 10


def test_channels_are_added_and_removed_through_the_api_without_echoing_secrets(sqlite_site):
    sqlite_site.app.add_user("root", "admin", "correct horse battery")
    token = sqlite_site.app.create_token("root", "api").secret
    client = sqlite_site.client()
    headers = {"Authorization": f"Bearer {token}"}
    made = client.post(
        "/api/v1/channels",
        json={
            "name": "desk",
            "kind": "webhook",
            "url": "https://hooks.example.org/zz9secret",
            "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        },
        headers=headers,
    )
    assert made.status_code == 201, made.text
    assert made.json() == {"name": "desk", "kind": "webhook", "signed": True}
    listed = client.get("/api/v1/channels", headers=headers).text
    assert "desk" in listed and "zz9secret" not in listed
    assert client.delete("/api/v1/channels/ops", headers=headers).status_code == 409
    assert client.delete("/api/v1/channels/desk", headers=headers).status_code == 204
    assert client.delete("/api/v1/channels/desk", headers=headers).status_code == 404


def test_apprise_and_email_channels_are_added_through_the_api_and_checked(sqlite_site):
    sqlite_site.app.add_user("root", "admin", "correct horse battery")
    token = sqlite_site.app.create_token("root", "api").secret
    client = sqlite_site.client()
    headers = {"Authorization": f"Bearer {token}"}

    def add(name: str, kind: str, url: str):
        body = {"name": name, "kind": kind, "url": url}
        return client.post("/api/v1/channels", json=body, headers=headers)

    made = add("team", "apprise", "ntfy://ntfy.example.org/rasid-zz9secret")
    assert made.status_code == 201, made.text
    assert made.json() == {"name": "team", "kind": "apprise", "signed": False}
    mail = add("desk-mail", "email", "mailtos://user:pw@mail.example.org?to=desk@example.org")
    assert mail.status_code == 201, mail.text
    # Checked as every channel is (this site allows private networks; an unknown
    # scheme is still refused).
    refused = add("inner", "apprise", "nosuchservice://example.org/hook")
    assert refused.status_code == 422, refused.text
    listed = client.get("/api/v1/channels", headers=headers).text
    assert "team" in listed and "zz9secret" not in listed and "pw@" not in listed


def test_the_instances_on_the_database_are_listed_with_what_each_holds(site, clock):
    from monitor import instances

    site.app.add_user("root", "viewer", "correct horse battery")
    token = site.app.create_token("root", "api").secret
    instances.register(site.app.db, "live-instance", clock.now())
    instances.register(site.app.db, "dead-instance", clock.now() - timedelta(minutes=5))
    listed = (
        site.client().get("/api/v1/instances", headers={"Authorization": f"Bearer {token}"}).json()
    )
    assert [(view["token"], view["alive"]) for view in listed] == [
        ("live-instance", True),
        ("dead-instance", False),
    ]
    assert listed[0]["sources"] == listed[0]["pages"] == listed[0]["alerts"] == 0
