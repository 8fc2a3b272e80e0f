"""`rasid sources add https://site/`: feeds discovered from link tags, robots.txt and
common paths, shown, and the chosen one added."""

from __future__ import annotations

import json
import re

from tests.e2e.conftest import Rasid, recent, settings_text
from tests.support.http import Reply
from tests.support.site import rss, seed_story

HOME = """<html><head><title>الموقع</title>
<link rel="alternate" type="application/rss+xml" title="آخر الأخبار" href="/feeds/latest.xml">
</head><body><h1>الموقع</h1></body></html>"""


def _rasid(tmp_path, database_url) -> Rasid:
    config = tmp_path / "settings.toml"
    config.write_text(
        settings_text(database_url=database_url, sources={}, webhook_url=None), encoding="utf-8"
    )
    return Rasid(config)


def _site(server):
    base = server.url("").rstrip("/")
    feed = rss("الموقع", base, [seed_story(recent(1))])
    server.route("/", Reply(body=HOME))
    server.route("/feeds/latest.xml", Reply(body=feed, content_type="application/rss+xml"))
    server.route("/rss.xml", Reply(body=feed, content_type="application/rss+xml"))
    return base


def _sources(rasid) -> list[dict]:
    return json.loads(rasid.run("sources", "list", "--json").stdout)


def test_a_home_page_lists_its_feeds_and_pick_adds_one(server, tmp_path, database_url):
    base = _site(server)
    server.route(
        "/robots.txt", Reply(body=f"Sitemap: {base}/news-sitemap.xml\n", content_type="text/plain")
    )
    rasid = _rasid(tmp_path, database_url)

    listed = rasid.run("sources", "add", f"{base}/", "--name", "site")

    assert listed.returncode == 1
    shown = re.sub(r"[\s│┃]+", "", listed.stdout)  # unwrap the table's cells
    assert "feeds/latest.xml" in shown and "alternate" in shown and "--pick" in listed.stderr
    added = rasid.run("sources", "add", f"{base}/", "--name", "site", "--pick", "1")
    assert added.returncode == 0, added.stderr
    assert _sources(rasid)[0]["url"] == f"{base}/feeds/latest.xml"


def test_a_feed_url_is_added_as_it_is(server, tmp_path, database_url):
    base = _site(server)
    rasid = _rasid(tmp_path, database_url)

    added = rasid.run("sources", "add", f"{base}/rss.xml", "--name", "rss")

    assert added.returncode == 0, added.stderr
    assert "is a feed with 1 entries" in added.stdout


def test_a_page_without_feeds_says_what_to_do(server, tmp_path, database_url):
    server.route("/", Reply(body="<html><body><a href='/x'>x</a></body></html>"))
    rasid = _rasid(tmp_path, database_url)

    result = rasid.run("sources", "add", server.url("/"), "--name", "none")

    assert result.returncode == 1
    assert 'kind = "html"' in result.stderr
    assert _sources(rasid) == []


def test_a_feed_without_entries_is_refused_as_empty_not_swapped_for_another(
    server, tmp_path, database_url
):
    base = _site(server)
    empty = '<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>'
    server.route("/empty.xml", Reply(body=empty, content_type="application/rss+xml"))
    rasid = _rasid(tmp_path, database_url)

    result = rasid.run("sources", "add", f"{base}/empty.xml", "--name", "empty", "--pick", "1")

    assert result.returncode == 1
    assert f"{base}/empty.xml is a feed without any entry" in result.stderr
    assert _sources(rasid) == []
