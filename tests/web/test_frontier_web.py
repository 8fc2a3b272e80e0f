"""Article pages the frontier gave up, seen and queued again without a terminal: the
sources page's section (admins retry one or all, with the CSRF token; viewers only read)
and the API's /frontier routes, with their refusals as JSON."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from crawler.items import FeedEntry
from monitor import frontier
from monitor.clock import FakeClock
from monitor.db.models import FrontierEntry, Source
from monitor.sources import due_source
from tests.web.conftest import Site, csrf_of
from tests.web.test_api import assert_error, token_for

API = "/api/v1"
LEASE = timedelta(seconds=30)


def found_by_a_poll(site: Site, count: int, source: str = "wire") -> list[int]:
    """Queue ``count`` new entries as a poll of ``source`` does, claimed by a process
    that then died; their ids."""
    app = site.app
    if not any(known.name == source for known in app.list_sources()):
        app.add_source(source, f"https://{source}.example/feed")
    with app.db.transaction() as session:
        due = due_source(session.scalars(select(Source).where(Source.name == source)).one())
    entries = [
        FeedEntry(
            url=f"https://{source}.example/news/{number}",
            guid=None,
            title=f"خبر عاجل رقم {number}",
            summary="",
        )
        for number in range(count)
    ]
    with app.db.connection() as connection:
        discovery = frontier.discover(
            connection,
            due,
            entries,
            feed_url=due.url,
            now=site.context.clock.now(),
            token="died",
            lease=LEASE,
            limit=1000,
        )
    return sorted(work.frontier_id for work in discovery.work)


def give_up(site: Site, count: int, source: str = "wire") -> list[int]:
    """``count`` entries whose pages were given up: claimed once by a process that died,
    then given up by the next claim (one attempt allowed)."""
    ids = found_by_a_poll(site, count, source)
    clock = site.context.clock
    assert isinstance(clock, FakeClock)
    clock.advance(LEASE * 2)  # the dead process's lease runs out
    assert frontier.claim(site.app.db, clock.now(), token="next", lease=LEASE, max_attempts=1) == []
    return ids


def given_up_ids(site: Site) -> list[int]:
    return [entry.id for entry in site.app.list_failed_entries()]


# -- the sources page ----------------------------------------------------------------


def test_the_sources_page_lists_each_page_given_up_with_its_last_error(site):
    [entry] = give_up(site, 1)
    page = site.signed_in("amal", "admin").get("/sources")

    assert page.status_code == 200
    assert "صفحات متروكة" in page.text
    row = page.text.split(f'<tr id="entry-{entry}">')[1].split("</tr>")[0]
    assert "<bdi>wire</bdi>" in row
    assert 'href="https://wire.example/news/0"' in row and "خبر عاجل رقم 0" in row
    assert "given up after 1 attempts" in row
    assert "2026-03-01" in row  # when a poll found it, in the site's time zone
    assert f'name="entry" value="{entry}"' in row
    assert "أعد كل الصفحات المتروكة" in page.text


def test_with_nothing_given_up_the_sources_page_says_so(site):
    found_by_a_poll(site, 1)  # pending, not given up
    page = site.signed_in("amal", "viewer").get("/sources").text
    assert "لا توجد صفحات متروكة." in page
    assert 'action="/frontier/retry"' not in page


def test_the_section_speaks_english_after_the_switch(site):
    give_up(site, 1)
    client = site.signed_in("amal", "admin")
    token = csrf_of(client, "/sources")
    client.post("/preferences", data={"csrf_token": token, "language": "en", "next": "/"})
    page = client.get("/sources").text
    assert ">Pages given up<" in page and ">Retry every page given up<" in page


def test_an_admin_retries_one_page_then_every_page(site):
    first, *rest = give_up(site, 3)
    client = site.signed_in("amal", "admin")
    token = csrf_of(client, "/sources")

    one = client.post("/frontier/retry", data={"csrf_token": token, "entry": str(first)})
    assert one.status_code == 303 and one.headers["location"].startswith("/sources?notice=")
    assert given_up_ids(site) == rest
    assert "1 صفحة أُعيدت إلى الطابور." in client.get(one.headers["location"]).text

    every = client.post("/frontier/retry", data={"csrf_token": token})
    assert every.status_code == 303
    assert given_up_ids(site) == []
    with site.app.db.connection() as connection:
        assert frontier.counts(connection) == frontier.FrontierCounts(pending=3, failed=0)


def test_retrying_a_page_not_given_up_shows_why_and_queues_nothing(site):
    given = give_up(site, 1, source="other")
    [pending] = found_by_a_poll(site, 1)  # claimed now, its lease running
    client = site.signed_in("amal", "admin")
    token = csrf_of(client, "/sources")
    answer = client.post("/frontier/retry", data={"csrf_token": token, "entry": str(pending)})
    assert answer.status_code == 409 and "not given up" in answer.text
    unknown = client.post("/frontier/retry", data={"csrf_token": token, "entry": "999999"})
    assert unknown.status_code == 404 and "no entry has id 999999" in unknown.text
    assert given_up_ids(site) == given


def test_retrying_without_the_csrf_token_is_refused(site):
    [entry] = give_up(site, 1)
    client = site.signed_in("amal", "admin")
    assert client.post("/frontier/retry", data={"entry": str(entry)}).status_code == 403
    assert client.post("/frontier/retry", data={"csrf_token": "forged"}).status_code == 403
    assert given_up_ids(site) == [entry]


def test_a_viewer_sees_pages_given_up_but_cannot_retry_them(site):
    [entry] = give_up(site, 1)
    client = site.signed_in("rami", "viewer")
    page = client.get("/sources").text
    assert f'<tr id="entry-{entry}">' in page and 'action="/frontier/retry"' not in page
    token = csrf_of(client, "/sources")
    refused = client.post("/frontier/retry", data={"csrf_token": token, "entry": str(entry)})
    assert refused.status_code == 403
    assert given_up_ids(site) == [entry]


def test_a_hostile_title_is_text_and_a_javascript_link_is_no_link(site):
    [entry] = give_up(site, 1)
    with site.app.db.connection() as connection:
        connection.execute(
            update(FrontierEntry)
            .where(FrontierEntry.id == entry)
            .values(title="<img src=x onerror=alert(1)>", url="javascript:alert(2)")
        )
    page = site.signed_in("amal", "viewer").get("/sources").text
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert 'href="javascript:' not in page
    headers = token_for(site, "omar", "viewer")
    listed = site.client().get(f"{API}/frontier/failed", headers=headers).json()
    assert listed["items"][0]["url"] is None


# -- the API -------------------------------------------------------------------------


def test_given_up_entries_are_listed_newest_first_and_paged(site):
    ids = give_up(site, 3)
    headers = token_for(site, "amal", "viewer")
    client = site.client()

    first = client.get(f"{API}/frontier/failed", headers=headers, params={"limit": 2})
    assert first.status_code == 200, first.text
    page = first.json()
    assert [item["id"] for item in page["items"]] == [ids[2], ids[1]] and page["next"]
    newest = page["items"][0]
    assert newest["source"] == "wire" and newest["url"] == "https://wire.example/news/2"
    assert newest["title"] == "خبر عاجل رقم 2" and newest["attempts"] == 1
    assert newest["last_error"].startswith("given up after 1 attempts")
    assert newest["discovered_at"].startswith("2026-03-01T12:00:00")
    rest = client.get(page["next"], headers=headers).json()
    assert [item["id"] for item in rest["items"]] == [ids[0]] and rest["next"] is None


def test_with_nothing_given_up_the_list_is_empty(site):
    found_by_a_poll(site, 2)
    answer = site.client().get(f"{API}/frontier/failed", headers=token_for(site, "amal", "viewer"))
    assert answer.json() == {"items": [], "next": None}


def test_a_given_up_entry_is_retried_once_and_others_are_refused(site):
    headers = token_for(site, "amal", "admin")
    first, second = give_up(site, 2, source="other")
    [pending] = found_by_a_poll(site, 1)
    client = site.client()

    assert client.post(f"{API}/frontier/{first}/retry", headers=headers).json() == {"queued": 1}
    assert_error(client.post(f"{API}/frontier/{first}/retry", headers=headers), 409, "conflict")
    assert_error(client.post(f"{API}/frontier/{pending}/retry", headers=headers), 409, "conflict")
    assert_error(client.post(f"{API}/frontier/999999/retry", headers=headers), 404, "not_found")
    assert given_up_ids(site) == [second]


def test_every_given_up_entry_is_retried_with_all_failed(site):
    headers = token_for(site, "amal", "admin")
    give_up(site, 2)
    client = site.client()
    assert_error(
        client.post(f"{API}/frontier/retry", headers=headers, json={"all_failed": False}),
        422,
        "invalid",
    )
    assert_error(client.post(f"{API}/frontier/retry", headers=headers, json={}), 422, "invalid")
    assert given_up_ids(site) != []

    answer = client.post(f"{API}/frontier/retry", headers=headers, json={"all_failed": True})
    assert answer.json() == {"queued": 2}
    assert given_up_ids(site) == []
    again = client.post(f"{API}/frontier/retry", headers=headers, json={"all_failed": True})
    assert again.json() == {"queued": 0}


def test_a_viewer_lists_given_up_entries_but_cannot_retry_them(sqlite_site):
    [entry] = give_up(sqlite_site, 1)
    headers = token_for(sqlite_site, "rami", "viewer")
    client = sqlite_site.client()
    assert client.get(f"{API}/frontier/failed", headers=headers).status_code == 200
    assert_error(client.post(f"{API}/frontier/{entry}/retry", headers=headers), 403, "forbidden")
    retry_all = client.post(f"{API}/frontier/retry", headers=headers, json={"all_failed": True})
    assert_error(retry_all, 403, "forbidden")
    assert_error(client.get(f"{API}/frontier/failed"), 401)
    assert given_up_ids(sqlite_site) == [entry]


def test_a_cookie_retry_needs_the_csrf_header(sqlite_site):
    [entry] = give_up(sqlite_site, 1)
    client = sqlite_site.signed_in("amal", "admin")
    assert_error(client.post(f"{API}/frontier/{entry}/retry"), 403, "csrf")
    token = csrf_of(client, "/sources")
    answer = client.post(f"{API}/frontier/{entry}/retry", headers={"X-CSRF-Token": token})
    assert answer.json() == {"queued": 1}
