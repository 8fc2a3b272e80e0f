"""Broken sources are recorded on themselves, with a clear message; the others go on."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.conftest import accepting, posted_json
from tests.support.http import Recorded, Reply

MALFORMED = Path(__file__).resolve().parents[1] / "fixtures" / "malformed"


def _slow(_request: Recorded) -> Reply:
    time.sleep(4)
    return Reply(200, "<rss/>", content_type="application/rss+xml")


@pytest.fixture
def broken_site(news_site):
    server = news_site.server
    server.route("/missing.xml", Reply(404, "no such feed"))
    server.route("/crash.xml", Reply(500, "internal error"))
    server.route(
        "/page.html", Reply(200, "<html><body><h1>مرحبا</h1><p>صفحة عادية</p></body></html>")
    )
    server.route(
        "/broken.xml",
        Reply(
            200,
            (MALFORMED / "fp_undeclared_namespace.xml").read_bytes(),
            content_type="application/xml",
        ),
    )
    server.route("/slow.xml", _slow)
    server.route(
        "/huge.xml",
        Reply(200, b"<rss>" + b"x" * (2 * 1024 * 1024) + b"</rss>", content_type="application/xml"),
    )
    server.route("/loop-a", Reply(302, "", {"Location": server.url("/loop-b")}))
    server.route("/loop-b", Reply(302, "", {"Location": server.url("/loop-a")}))
    return news_site


def test_each_broken_source_gets_its_own_clear_error_and_the_good_one_alerts(
    broken_site, receiver, rasid_factory
):
    url = broken_site.server.url
    rasid = rasid_factory(
        sources={
            "good": broken_site.feed_url,
            "missing": url("/missing.xml"),
            "crash": url("/crash.xml"),
            "html": url("/page.html"),
            "broken": url("/broken.xml"),
            "slow": url("/slow.xml"),
            "huge": url("/huge.xml"),
            "loop": url("/loop-a"),
        },
        webhook_url=accepting(receiver),
        crawl={"max_response_size": "1MiB", "timeout": "2s"},
    )

    result = rasid.run("run", "--once")

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert len(posted_json(receiver.requests_to("/hook"))) == 2
    errors = {s["name"]: s["last_error"] for s in rasid.status()["sources"]}
    assert errors["good"] is None
    assert "HTTP 404" in errors["missing"]
    assert "HTTP 500" in errors["crash"]
    assert "not a feed" in errors["html"]
    assert "malformed" in errors["broken"] or "unbound prefix" in errors["broken"]
    assert "timed out" in errors["slow"]
    assert "too large" in errors["huge"]
    assert "redirect" in errors["loop"]


def test_a_failing_source_backs_off_and_counts_failures(broken_site, receiver, rasid_factory):
    rasid = rasid_factory(
        sources={"missing": broken_site.server.url("/missing.xml")},
        webhook_url=accepting(receiver),
    )

    rasid.run("run", "--once")
    rasid.run("run", "--once")

    status = rasid.source_status("missing")
    assert status["failure_count"] == 2
    assert status["last_status"] == "error"


def test_a_private_address_in_settings_is_refused_at_load(news_site, receiver, rasid_factory):
    rasid = rasid_factory(
        sources={"site": news_site.feed_url},
        webhook_url=accepting(receiver).replace("127.0.0.1", "localhost"),
        crawl={"allow_private_networks": False},
    )

    result = rasid.run("run", "--once")

    assert result.returncode == 2
    assert 'sources[0] ("site").url: refused: 127.0.0.1 is a private' in result.stderr
    assert "Traceback" not in result.stderr
    assert news_site.server.requests == []


def test_a_host_name_resolving_to_a_private_address_is_refused_at_fetch(
    news_site, receiver, rasid_factory
):
    rasid = rasid_factory(
        sources={"site": news_site.feed_url.replace("127.0.0.1", "localhost")},
        webhook_url=accepting(receiver).replace("127.0.0.1", "localhost"),
        crawl={"allow_private_networks": False},
    )

    result = rasid.run("run", "--once")

    assert result.returncode == 1, result.stderr  # its only source failed
    assert news_site.server.requests_to("/feeds/main.xml") == []
    assert "private" in rasid.source_status("site")["last_error"]


BOMB = (
    '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY {chr(98 + n)} "{("&" + chr(97 + n) + ";") * 10}">' for n in range(8))
    + ']><rss version="2.0"><channel><title>&i;</title></channel></rss>'
)


def test_a_one_line_entity_bomb_is_refused_and_the_other_sources_go_on(
    news_site, receiver, rasid_factory
):
    server = news_site.server
    server.route("/bomb.xml", Reply(200, BOMB, content_type="application/rss+xml"))
    rasid = rasid_factory(
        sources={"bomb": server.url("/bomb.xml"), "site": news_site.feed_url},
        webhook_url=accepting(receiver),
    )

    result = rasid.run("run", "--once")

    assert result.returncode == 0, result.stderr
    assert "declares XML entities" in rasid.source_status("bomb")["last_error"]
    assert rasid.source_status("site")["last_status"] == "ok"
    assert len(receiver.requests_to("/hook")) == 2


def test_an_article_page_carrying_an_entity_bomb_is_replaced_by_the_feed_text(
    news_site, receiver, rasid_factory
):
    seed = "/news/ain-al-asad-drones"
    page = news_site.server.routes[seed].body
    hostile = page.replace("<!DOCTYPE html>", '<!DOCTYPE html [<!ENTITY lol "lol">]>', 1)
    news_site.server.route(seed, Reply(body=hostile))
    rasid = rasid_factory(sources={"site": news_site.feed_url}, webhook_url=accepting(receiver))

    result = rasid.run("run", "--once")

    assert result.returncode == 0, result.stderr
    assert rasid.source_status("site")["extraction_fallbacks"] == 1
    assert "declares XML entities" in result.stderr
