"""Every kind of source end to end: `rasid run --once` crawls a local site through a news
sitemap, a sitemap index (with a gzip child) or an HTML listing page, and alerts."""

from __future__ import annotations

import gzip
import html
import json

import pytest

from tests.e2e.conftest import accepting, posted_json, recent, settings_text
from tests.support.http import Reply
from tests.support.site import Story, article_page, seed_story


def news_sitemap(base_url: str, stories: list[Story]) -> bytes:
    urls = "".join(
        f"""<url><loc>{base_url}/news/{s.slug}</loc>
<news:news><news:publication><news:name>الموقع</news:name><news:language>ar</news:language>
</news:publication><news:publication_date>{s.published.isoformat()}</news:publication_date>
<news:title>{html.escape(s.title)}</news:title></news:news></url>"""
        for s in stories
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
        f"{urls}</urlset>"
    ).encode()


def listing_page(base_url: str, stories: list[Story]) -> str:
    items = "".join(
        f'<li class="item"><h3 class="title"><a href="/news/{s.slug}">{html.escape(s.title)}</a>'
        "</h3></li>"
        for s in stories
    )
    return (
        '<html lang="ar" dir="rtl"><head><meta charset="utf-8"><title>آخر الأخبار</title></head>'
        '<body><nav><a href="/about">من نحن</a><a href="/sport">رياضة</a></nav>'
        f'<ul class="latest">{items}</ul><footer><a href="/privacy">الخصوصية</a></footer>'
        "</body></html>"
    )


@pytest.fixture
def site(server):
    story = seed_story(recent(1))
    server.route(f"/news/{story.slug}", Reply(body=article_page(story)))
    base = server.url("").rstrip("/")
    return server, base, story


def _run(tmp_path, database_url, receiver, source: str):
    config = tmp_path / "settings.toml"
    text = settings_text(database_url=database_url, sources={}, webhook_url=accepting(receiver))
    config.write_text(text + "\n" + source, encoding="utf-8")
    from tests.e2e.conftest import Rasid

    return Rasid(config)


def _alerts(receiver) -> list[str]:
    return sorted(a["watchlist"] for a in posted_json(receiver.requests_to("/hook")))


def test_a_news_sitemap_source_alerts(site, receiver, tmp_path, database_url):
    server, base, story = site
    server.route(
        "/sitemap-news.xml", Reply(body=news_sitemap(base, [story]), content_type="text/xml")
    )
    rasid = _run(
        tmp_path,
        database_url,
        receiver,
        f'[[sources]]\nname = "sitemap"\nurl = "{base}/sitemap-news.xml"\n',
    )

    result = rasid.run("run", "--once")

    assert result.returncode == 0, result.stderr
    assert _alerts(receiver) == ["ain-al-asad", "drones"]
    status = rasid.source_status("sitemap")
    assert status["last_status"] == "ok", status


def test_a_sitemap_index_reads_its_newest_child_even_gzipped(
    site, receiver, tmp_path, database_url
):
    server, base, story = site
    index = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{base}/old.xml</loc><lastmod>2019-01-01</lastmod></sitemap>"
        f"<sitemap><loc>{base}/news.xml.gz</loc><lastmod>2026-11-24</lastmod></sitemap>"
        "</sitemapindex>"
    )
    server.route("/sitemap.xml", Reply(body=index.encode(), content_type="application/xml"))
    server.route(
        "/news.xml.gz",
        Reply(body=gzip.compress(news_sitemap(base, [story])), content_type="application/gzip"),
    )
    server.route("/old.xml", Reply(body=news_sitemap(base, []), content_type="application/xml"))
    rasid = _run(
        tmp_path,
        database_url,
        receiver,
        f'[[sources]]\nname = "index"\nurl = "{base}/sitemap.xml"\n',
    )

    assert rasid.run("run", "--once").returncode == 0

    assert _alerts(receiver) == ["ain-al-asad", "drones"]


@pytest.mark.parametrize("links", ["ul.latest h3.title a", "//ul[@class='latest']//a"])
def test_an_html_listing_page_with_a_css_or_xpath_selector(
    site, receiver, tmp_path, database_url, links
):
    server, base, story = site
    server.route("/latest", Reply(body=listing_page(base, [story])))
    rasid = _run(
        tmp_path,
        database_url,
        receiver,
        f'[[sources]]\nname = "listing"\nurl = "{base}/latest"\nkind = "html"\n'
        f"links = {json.dumps(links)}\n",
    )

    result = rasid.run("run", "--once")

    assert result.returncode == 0, result.stderr
    assert _alerts(receiver) == ["ain-al-asad", "drones"]
    # Only the selected links were followed: not the navigation or the footer.
    assert not server.requests_to("/about") and not server.requests_to("/privacy")


def test_a_listing_page_without_a_selector_says_how_to_follow_it(
    site, receiver, tmp_path, database_url
):
    server, base, story = site
    server.route("/latest", Reply(body=listing_page(base, [story])))
    rasid = _run(
        tmp_path,
        database_url,
        receiver,
        f'[[sources]]\nname = "listing"\nurl = "{base}/latest"\n',
    )

    assert rasid.run("run", "--once").returncode == 1  # its only source failed

    error = rasid.source_status("listing")["last_error"]
    assert 'kind = "html"' in error and "links" in error


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('kind = "html"', "needs links"),
        ('kind = "html"\nlinks = "h3["', "invalid CSS selector"),
        ('links = "h3 a"', 'only read for kind = "html"'),
        ('kind = "atom-ish"', "kind"),
    ],
)
def test_bad_source_kinds_are_refused_at_start(tmp_path, database_url, source, expected):
    config = tmp_path / "settings.toml"
    config.write_text(
        f'[database]\nurl = "{database_url}"\n[[sources]]\nname = "x"\n'
        f'url = "https://news.example/"\n{source}\n',
        encoding="utf-8",
    )
    from tests.e2e.conftest import Rasid

    result = Rasid(config).run("run", "--once")  # refused before any poll

    assert result.returncode == 2
    assert expected in result.stderr
    assert "sources[0]" in result.stderr
    assert "Traceback" not in result.stderr
