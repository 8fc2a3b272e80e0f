"""Source documents of every kind: sitemaps, listing pages, and the malformed set read as
any kind never raise anything but a per-source error."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crawler.doctype import EntityDeclarationError
from crawler.documents import parse_document
from crawler.sitemap import MAX_INFLATED, SitemapError
from monitor.errors import SourceError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MALFORMED = sorted((FIXTURES / "malformed").glob("*.xml"))
URL = "https://news.example/sitemap.xml"

NEWS_SITEMAP = """<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
<url><loc>https://news.example/a/1</loc><news:news>
  <news:publication_date>2022-01-04T10:00:00+03:00</news:publication_date>
  <news:title>طائرة مسيرة</news:title>
</news:news></url>
<url><loc>/a/2</loc><lastmod>2022-01-05</lastmod></url>
<url><loc>javascript:alert(1)</loc></url>
</urlset>""".encode()


def test_a_news_sitemap_gives_titles_and_utc_dates_newest_first():
    sitemap = parse_document(NEWS_SITEMAP, url=URL)

    assert [entry.url for entry in sitemap.entries] == [
        "https://news.example/a/2",
        "https://news.example/a/1",
    ]
    first = sitemap.entries[1]
    assert first.title == "طائرة مسيرة"
    assert first.published_at == datetime(2022, 1, 4, 7, 0, tzinfo=UTC)
    assert sitemap.entries[0].published_at == datetime(2022, 1, 5, tzinfo=UTC)


def test_a_sitemap_index_names_its_newest_children():
    index = b"""<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
    <sitemap><loc>https://news.example/2020.xml</loc><lastmod>2020-01-01</lastmod></sitemap>
    <sitemap><loc>https://news.example/today.xml</loc><lastmod>2026-11-24</lastmod></sitemap>
    </sitemapindex>"""

    parsed = parse_document(index, url=URL)

    assert parsed.entries == []
    assert parsed.children[0] == "https://news.example/today.xml"


def test_gzip_sitemaps_are_read_and_bombs_refused():
    assert len(parse_document(gzip.compress(NEWS_SITEMAP), url=URL).entries) == 2
    bomb = gzip.compress(b" " * (MAX_INFLATED + 10))
    with pytest.raises(SitemapError, match="inflates past"):
        parse_document(bomb, url=URL)


def test_a_sitemap_reading_a_local_file_through_an_entity_is_refused():
    hostile = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
    <urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
    <url><loc>https://news.example/&e;</loc></url></urlset>"""

    with pytest.raises(EntityDeclarationError, match="declares XML entities"):
        parse_document(hostile, url=URL)


def test_bidi_controls_are_removed_from_sitemap_titles():
    sitemap = NEWS_SITEMAP.replace(
        "<news:title>طائرة مسيرة</news:title>".encode(),
        "<news:title>\u2067طائرة\u202e مسيرة\u2069\u200f</news:title>".encode(),
    )

    titles = [entry.title for entry in parse_document(sitemap, url=URL).entries]

    assert "طائرة مسيرة\u200f" in titles


def test_bidi_controls_are_removed_from_listing_titles():
    page = """<html><head><title>\u202bآخر الأخبار\u202c</title></head><body>
    <h3><a href="/a/1">\u202eقصف\u202c \u2066قاعدة\u2069 عين\u200f الأسد</a></h3>
    </body></html>""".encode()

    listing = parse_document(page, url=URL, kind="html", links="h3 a")

    assert listing.title == "آخر الأخبار"
    assert [entry.title for entry in listing.entries] == ["قصف قاعدة عين\u200f الأسد"]


def test_kind_sitemap_on_a_feed_says_what_it_found():
    with pytest.raises(SitemapError, match="expected <urlset> or <sitemapindex>, found <rss>"):
        parse_document(b'<rss version="2.0"><channel></channel></rss>', url=URL, kind="sitemap")


def test_a_listing_selector_that_matches_nothing_is_a_clear_error():
    page = b"<html><body><a href='/about'>about</a></body></html>"
    with pytest.raises(SourceError, match="matched no article links"):
        parse_document(page, url=URL, kind="html", links="h3.title a")


@pytest.mark.parametrize("kind", ["auto", "feed", "sitemap", "html"])
@pytest.mark.parametrize("path", MALFORMED, ids=[path.name for path in MALFORMED])
def test_every_malformed_file_parses_or_fails_with_a_source_error(path, kind):
    links = "a" if kind == "html" else None
    try:
        parsed = parse_document(path.read_bytes(), url=URL, kind=kind, links=links)
    except SourceError as exc:
        assert str(exc)
    else:
        assert all(entry.url is None or entry.url.startswith("http") for entry in parsed.entries)
