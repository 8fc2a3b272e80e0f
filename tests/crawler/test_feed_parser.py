from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crawler.feed_parser import FeedParseError, parse_feed

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MALFORMED = FIXTURES / "malformed"
TAG = re.compile(r"<[A-Za-z!/][^<>]*>")
FEED_URL = "https://news.example/rss/main.xml"
TITLE = "خبر عاجل من دمشق: اشتباكات في ريف العاصمة"
SUMMARY = "أكدت جهات سورية معارضة أن فصائل مسلحة سيطرت على مستودعات للأسلحة"


def arabic_rss(encoding_attribute: str = "", items: str = "") -> str:
    """A small Arabic RSS 2.0 document; encode it to get the bytes under test."""
    declaration = f' encoding="{encoding_attribute}"' if encoding_attribute else ""
    items = (
        items
        or f"""<item><title>{TITLE}</title><link>/news/1</link>
<guid isPermaLink="false">12345</guid>
<description>&lt;p&gt;{SUMMARY}&lt;/p&gt;</description>
<pubDate>Sat, 03 Aug 2013 10:00:00 +0300</pubDate><author>desk@news.example (مكتب دمشق)</author>
</item>"""
    )
    return f"""<?xml version="1.0"{declaration}?>
<rss version="2.0"><channel><title>أخبار الصباح</title><link>https://news.example/</link>
{items}</channel></rss>"""


# Outcome per malformed fixture: number of entries, or "error" for FeedParseError.
MALFORMED_OUTCOMES = {
    "fp_bozo_bogus_encoding.xml": 0,
    "fp_bozo_double-encoded-html.xml": 1,
    "fp_bozo_encoding_mismatch_crash.xml": 1,
    "fp_bozo_invalid-bytes-with-bom.xml": "error",
    "fp_bozo_linenoise.xml": 1,
    "fp_chardet_windows1255_undeclared.xml": 1,
    "fp_rss_incomplete_cdata.xml": 1,
    "fp_rss_item_link_corrupted_ampersands.xml": 1,
    "fp_undeclared_namespace.xml": "error",
    "fp_x80_windows-1256.xml": 0,
    "mf_utf8-incorrect-prolog.xml": 1,
    "mf_windows-1252-incorrect-prolog.xml": 0,
    "nfp_iconv_windows-1251.xml": 10,
    "nfp_illegally-nested.xml": 20,
    "nfp_saxerror.xml": 3,
}


def test_the_outcome_table_covers_every_malformed_fixture():
    assert sorted(MALFORMED_OUTCOMES) == sorted(p.name for p in MALFORMED.glob("*.xml"))


@pytest.mark.parametrize(("name", "outcome"), sorted(MALFORMED_OUTCOMES.items()))
def test_malformed_fixture_gives_entries_or_a_feed_parse_error(name, outcome):
    body = (MALFORMED / name).read_bytes()
    if outcome == "error":
        with pytest.raises(FeedParseError, match=r"malformed feed: .* at line \d+, column \d+"):
            parse_feed(body, url=FEED_URL)
        return
    feed = parse_feed(body, url=FEED_URL)
    assert len(feed.entries) == outcome
    for entry in feed.entries:
        # No markup survives; a lone "<" in plain text (line noise, "a < b") may.
        assert not TAG.search(entry.title) and not TAG.search(entry.summary)


def test_recovered_entries_carry_the_parse_error_as_a_warning():
    feed = parse_feed((MALFORMED / "nfp_saxerror.xml").read_bytes(), url=FEED_URL)

    assert [e.title for e in feed.entries][:2] == ["Good Item", "Bad Item"]
    assert any("not well-formed (invalid token) at line" in w for w in feed.warnings)


def test_bozo_without_entries_names_feedparsers_error():
    body = (MALFORMED / "fp_undeclared_namespace.xml").read_bytes()

    with pytest.raises(FeedParseError, match="unbound prefix at line 9, column 0; no entries"):
        parse_feed(body, url=FEED_URL)


def test_windows_1256_declared_in_the_prolog_decodes():
    x80 = parse_feed((MALFORMED / "fp_x80_windows-1256.xml").read_bytes(), url=FEED_URL)
    feed = parse_feed(arabic_rss("windows-1256").encode("cp1256"), url=FEED_URL)

    assert (x80.encoding, x80.title, x80.entries) == ("windows-1256", "€", [])
    assert feed.encoding == "windows-1256"
    assert feed.entries[0].title == TITLE
    assert feed.warnings == []


@pytest.mark.parametrize(
    "content_type",
    ["application/rss+xml; charset=windows-1256", "text/xml; charset=windows-1256"],
)
def test_windows_1256_declared_only_in_the_header_decodes(content_type):
    feed = parse_feed(arabic_rss().encode("cp1256"), url=FEED_URL, content_type=content_type)

    assert feed.encoding == "windows-1256"
    assert (feed.title, feed.entries[0].title) == ("أخبار الصباح", TITLE)
    assert feed.entries[0].summary == SUMMARY


@pytest.mark.parametrize("content_type", [None, "text/xml", "application/rss+xml; charset=utf-8"])
def test_undeclared_or_misdeclared_windows_1256_is_repaired_with_a_warning(content_type):
    feed = parse_feed(arabic_rss().encode("cp1256"), url=FEED_URL, content_type=content_type)

    assert feed.entries[0].title == TITLE
    assert feed.encoding == "windows-1256"
    assert any("decoded as windows-1256" in w for w in feed.warnings)


def test_utf8_declared_as_windows_1252_is_repaired():
    body = (MALFORMED / "mf_windows-1252-incorrect-prolog.xml").read_bytes()

    feed = parse_feed(body, url=FEED_URL)

    assert feed.title == "Euro €"
    assert "charset: declared windows-1252, decoded as utf-8" in feed.warnings


def test_mojibake_that_no_charset_repairs_is_reported():
    garbled = TITLE.encode("utf-8").decode("cp1252", "replace")  # garbled by the source
    items = f"<item><title>{garbled}</title><link>https://news.example/a</link></item>"

    feed = parse_feed(arabic_rss("utf-8", items).encode(), url=FEED_URL)

    assert feed.entries[0].title == garbled
    assert any("looks like mojibake" in w for w in feed.warnings)


def test_undeclared_hebrew_is_detected_not_read_as_windows_1252():
    body = (MALFORMED / "fp_chardet_windows1255_undeclared.xml").read_bytes()

    feed = parse_feed(body, url=FEED_URL)

    assert feed.encoding == "windows-1255"
    assert feed.entries[0].summary.startswith("האם תדפיס נייר")


def test_bbc_urdu_feed_parses_completely():
    body = (FIXTURES / "real" / "bbc-urdu_rss_2018-10-24.xml").read_bytes()

    feed = parse_feed(body, url="https://feeds.bbci.co.uk/urdu/rss.xml")

    assert (len(feed.entries), feed.version, feed.encoding, feed.warnings) == (
        26,
        "rss20",
        "utf-8",
        [],
    )
    first = feed.entries[0]
    assert first.title.startswith("امریکی عسکری امداد کی بندش کی وجوہات")
    assert first.url == "http://www.bbc.com/urdu/pakistan-42575603"
    assert first.guid == first.url
    assert first.published_at == datetime(2018, 1, 5, 16, 51, tzinfo=UTC)
    assert all(e.url and e.url.startswith("http://www.bbc.com/urdu/") for e in feed.entries)
    assert all(e.title and e.published_at for e in feed.entries)
    # Farsi yeh and keheh come through untouched: normalizing them is the matcher's job.
    titles = " ".join(e.title for e in feed.entries)
    assert "\u06cc" in titles and "\u06a9" in titles


def test_entry_fields_are_plain_text_absolute_and_utc():
    entry = parse_feed(arabic_rss("utf-8").encode(), url=FEED_URL).entries[0]

    assert entry.url == "https://news.example/news/1"
    assert entry.guid == "12345"
    assert entry.summary == SUMMARY
    assert entry.author == "مكتب دمشق"
    assert entry.published_at == datetime(2013, 8, 3, 7, 0, tzinfo=UTC)


def test_markup_never_survives_in_titles_or_summaries():
    items = """<item><title>&lt;img src=x onerror=alert(1)&gt; عنوان</title><description>
&lt;p&gt;نص &lt;b&gt;عريض&lt;/b&gt;&lt;script&gt;steal()&lt;/script&gt;&lt;/p&gt;</description>
<link>https://news.example/a</link></item>
<item><title><![CDATA[<img src=x onerror=alert(1)>]]></title><link>https://news.example/b</link></item>
<item><title>AT&amp;amp;T   &amp;amp;
  Q&amp;amp;A</title><link>https://news.example/c</link></item>"""
    feed = parse_feed(arabic_rss("utf-8", items).encode(), url=FEED_URL)

    titles = [e.title for e in feed.entries]
    assert titles[0] == "عنوان"
    assert titles[1] == ""
    assert titles[2] == "AT&T & Q&A"
    assert feed.entries[0].summary == "نص عريض"


@pytest.mark.parametrize(
    "link", ["javascript:alert(1)", "data:text/html,hi", "file:///etc/passwd", " java\tscript:x"]
)
def test_non_http_links_are_dropped_with_a_warning(link):
    items = f"<item><title>عنوان</title><link>{link}</link></item>"

    feed = parse_feed(arabic_rss("utf-8", items).encode(), url=FEED_URL)

    assert feed.entries[0].url is None
    assert any("not http(s); dropped" in w for w in feed.warnings)


def test_missing_and_unparseable_dates_are_none():
    items = """<item><title>بلا تاريخ</title><link>https://news.example/a</link></item>
<item><title>تاريخ تالف</title><link>https://news.example/b</link><pubDate>غدا</pubDate></item>"""

    feed = parse_feed(arabic_rss("utf-8", items).encode(), url=FEED_URL)

    assert [e.published_at for e in feed.entries] == [None, None]


def test_atom_entries_use_xml_base_and_updated_dates():
    atom = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://atom.example/ar/">
<title type="html">أخبار &amp;amp; تقارير</title><id>tag:atom.example,2024:feed</id>
<entry><title type="html">&lt;b&gt;عنوان&lt;/b&gt; &amp;amp; تفاصيل</title>
<link rel="alternate" href="news/7"/><id>tag:atom.example,2024:7</id>
<updated>2024-05-01T12:30:00+02:00</updated>
<author><name>سارة</name><email>sara@atom.example</email></author>
<summary type="html">&lt;p&gt;ملخص&lt;/p&gt;</summary></entry></feed>"""

    feed = parse_feed(atom.encode(), url="https://atom.example/feed.atom")

    entry = feed.entries[0]
    assert feed.title == "أخبار & تقارير"
    assert (entry.title, entry.summary, entry.author) == ("عنوان & تفاصيل", "ملخص", "سارة")
    assert entry.url == "https://atom.example/ar/news/7"
    assert entry.guid == "tag:atom.example,2024:7"
    assert entry.published_at == datetime(2024, 5, 1, 10, 30, tzinfo=UTC)


def test_a_valid_feed_without_entries_is_not_an_error():
    feed = parse_feed(arabic_rss("utf-8", "<!-- nothing yet -->").encode(), url=FEED_URL)

    assert (feed.title, feed.entries, feed.warnings) == ("أخبار الصباح", [], [])


@pytest.mark.parametrize("body", [b"", b"  \r\n\t", b"\xef\xbb\xbf"])
def test_an_empty_body_is_a_clear_error(body):
    with pytest.raises(FeedParseError, match="empty response"):
        parse_feed(body, url=FEED_URL)


def test_an_html_page_names_the_feeds_it_advertises():
    page = """<!DOCTYPE html><html lang="ar"><head><title>الصباح</title>
<link rel="alternate" type="application/rss+xml" title="RSS" href="/rss-feed.xml">
<link rel="alternate" type="application/atom+xml" href="https://www.assabah.com.tn/atom?a=1&amp;b=2">
<link rel="stylesheet" href="/style.css"></head><body><p>مرحبا</p></body></html>"""

    with pytest.raises(FeedParseError) as caught:
        parse_feed(page.encode(), url="https://www.assabah.com.tn/", content_type="text/html")

    message = str(caught.value)
    assert message.startswith("not a feed: the response is an HTML page (served as text/html)")
    assert "https://www.assabah.com.tn/rss-feed.xml" in message
    assert "https://www.assabah.com.tn/atom?a=1&b=2" in message
    assert "style.css" not in message


def test_an_html_page_without_feed_links_says_so():
    page = "<html><body><h1>مرحبا</h1><p>صفحة عادية</p></body></html>"

    with pytest.raises(FeedParseError, match=r"not a feed: .*advertises no feed"):
        parse_feed(page.encode(), url=FEED_URL)


def test_xml_that_is_not_a_feed_is_an_error():
    body = b'<?xml version="1.0"?><config><site name="x"/></config>'

    with pytest.raises(FeedParseError, match="not a feed"):
        parse_feed(body, url=FEED_URL)


def test_a_body_naming_a_local_file_is_never_read_from_disk(tmp_path):
    local = tmp_path / "feed.xml"
    local.write_text(arabic_rss("utf-8"), encoding="utf-8")

    # Had feedparser opened the path, this would be a feed with one entry.
    with pytest.raises(FeedParseError):
        parse_feed(str(local).encode(), url=FEED_URL)


@pytest.mark.parametrize(
    ("body", "cause"),
    [
        (b'<?xml version="1.0" encoding="\xbd"?><rss version="2.0"/>', "UnicodeDecodeError"),
        (
            b'<rss version="2.0"><channel><image></height></image><item><title>x</title>',
            "TypeError",
        ),
    ],
)
def test_feedparser_crashes_on_broken_bytes_become_feed_parse_errors(body, cause):
    with pytest.raises(FeedParseError, match=f"feedparser failed on it \\({cause}"):
        parse_feed(body, url=FEED_URL)


def test_a_nul_in_the_header_charset_is_ignored():
    feed = parse_feed(
        arabic_rss("utf-8").encode(), url=FEED_URL, content_type="text/xml; charset=\0"
    )

    assert feed.entries[0].title == TITLE


def test_bidi_controls_are_removed_from_titles_summaries_and_authors():
    items = (
        "<item><title>\u202eعاجل\u202c: قصف \u2067قاعدة\u2069 عين\u200f الأسد</title>"
        "<link>/news/1</link><description>&lt;p&gt;\u202bنص\u202c &amp;#8237;الخبر"
        "&lt;/p&gt;</description><author>desk@news.example (\u2066مكتب\u2069 دمشق)</author>"
        "</item>"
    )

    entry = parse_feed(arabic_rss(items=items).encode(), url=FEED_URL).entries[0]

    assert entry.title == "عاجل: قصف قاعدة عين\u200f الأسد"
    assert entry.summary == "نص الخبر"
    assert entry.author == "مكتب دمشق"


def test_full_content_beside_a_summary_is_kept_as_the_entrys_content():
    feed = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>t</title>'
        "<item><title>خبر</title><link>https://news.example/1</link>"
        "<description>ملخص قصير</description>"
        "<content:encoded><![CDATA[<p>النص <b>الكامل</b> للخبر</p>]]></content:encoded></item>"
        "<item><title>آخر</title><link>https://news.example/2</link>"
        "<description>ملخص فقط</description></item></channel></rss>"
    ).encode()

    full, short = parse_feed(feed, url="https://news.example/rss.xml").entries

    assert (full.summary, full.content) == ("ملخص قصير", "النص الكامل للخبر")
    assert (short.summary, short.content) == ("ملخص فقط", "")


def test_relative_links_under_a_relative_xml_base_resolve_against_the_feed():
    atom = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="/ar/"><title>أخبار</title>
<entry><title>خبر</title><link href="news/7"/><id>news/7</id></entry>
<entry><title>آخر</title><link href="/en/8"/><id>tag:atom.example,2024:8</id></entry></feed>"""

    first, second = parse_feed(atom.encode(), url="https://atom.example/feed.atom").entries

    assert first.url == "https://atom.example/ar/news/7"
    assert second.url == "https://atom.example/en/8"
