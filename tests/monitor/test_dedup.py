from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.dedup import MIN_BODY_CHARS_FOR_KEY, canonical_url, content_hash, dedup_keys

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"
JAWHARA_IRI = (
    "http://www.jawharafm.net/ar/article/"
    "حمة-الهمامي--اعتذار-الغرياني-عن-الوزارة-مخرج-من-ورطة/92/79209"
)
BODY = "أكدت جهات سورية معارضة أن فصائل مسلحة معارضة لنظام الرئيس سيطرت على مستودعات. " * 5


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://news.example/a?utm_source=tw&utm_medium=social&UTM_Campaign=x&id=7",
            "https://news.example/a?id=7",
        ),
        (
            "https://news.example/a?fbclid=1&gclid=2&dclid=3&msclkid=4&mc_cid=5&mc_eid=6&_ga=7"
            "&yclid=8&igshid=9&ocid=10&cmpid=11&at_medium=12&at_campaign=13&ref_src=14&spm=15",
            "https://news.example/a",
        ),
        ("https://news.example/a#comments", "https://news.example/a"),
        ("http://news.example:80/a", "http://news.example/a"),
        ("https://news.example:443/a", "https://news.example/a"),
        ("https://news.example:8443/a", "https://news.example:8443/a"),
        ("HTTPS://News.EXAMPLE./Path/A", "https://news.example/Path/A"),
        ("https://news.example", "https://news.example/"),
        ("https://news.example?b=2", "https://news.example/?b=2"),
        ("https://news.example/a?z=1&b=2&a=3&b=1", "https://news.example/a?a=3&b=2&b=1&z=1"),
        ("https://news.example/%7euser/%41%2f", "https://news.example/~user/A%2F"),
        ("https://news.example/a b?q=ا ب", "https://news.example/a%20b?q=%D8%A7%20%D8%A8"),
        ("https://news.example/100%/x", "https://news.example/100%25/x"),
        ("http://مثال.إختبار/خبر", "http://xn--mgbh0fb.xn--kgbechtv/%D8%AE%D8%A8%D8%B1"),
        ("https://[2001:DB8::1]:443/a", "https://[2001:db8::1]/a"),
        ("https://spa.example/#!/story/42", "https://spa.example/#!/story/42"),
        ("  https://news.example/a  ", "https://news.example/a"),
    ],
)
def test_canonical_url(url, expected):
    assert canonical_url(url) == expected


def test_jawhara_iri_and_its_percent_encoded_form_are_one_url():
    encoded = quote(JAWHARA_IRI, safe=":/").lower().replace("http", "HTTP", 1)

    canonical = canonical_url(JAWHARA_IRI)

    assert canonical_url(encoded) == canonical
    assert canonical.isascii()
    # The double hyphen after the first name is part of the slug, not a separator to fold.
    assert "%D9%8A--%D8%A7%D8%B9%D8%AA%D8%B0%D8%A7%D8%B1" in canonical


def test_every_raw_arabic_link_on_the_jawhara_page_matches_its_encoded_form():
    html = (REAL / "jawharafm_79209.article.html").read_text(encoding="utf-8")
    iris = {href for href in re.findall(r'href="([^"]+)"', html) if not href.isascii()}

    assert len(iris) > 20
    for iri in iris:
        absolute = iri if iri.startswith("http") else "http://www.jawharafm.net" + iri
        assert canonical_url(absolute) == canonical_url(quote(absolute, safe=":/?&=%"))


def test_the_ant_record_url_matches_the_page_url():
    record = (REAL / "jawharafm_79209.ant-doc.txt").read_text(encoding="utf-8")
    url = re.search(r"<URL>(.*)</URL>", record).group(1)

    assert canonical_url(url) == canonical_url(JAWHARA_IRI)


URL_CHARACTERS = st.sampled_from([*"aZ09:/?#[]@!$&'()*+,;=%-._~ \t", "ح", "ة", "\x00"])


@given(
    st.sampled_from(["", "http://", "https://News.Example:443/", "HTTP://[::1]", "http://u@h:"]),
    st.text(alphabet=URL_CHARACTERS, max_size=40)
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40),
)
def test_canonical_url_is_idempotent(prefix, rest):
    once = canonical_url(prefix + rest)

    assert canonical_url(once) == once


def keys_of(kind, **kwargs):
    defaults = {"guid": None, "content_hash": "", "feed_url": None}
    return {key for k, key in dedup_keys(**{**defaults, **kwargs}) if k == kind}


def test_keys_are_sha256_hex():
    keys = dedup_keys(
        url=JAWHARA_IRI,
        guid="79209",
        content_hash=content_hash("t", BODY),
        feed_url="http://www.jawharafm.net/ar/rss/showRss/88/1/1",
        body_chars=len(BODY),
    )

    assert [kind for kind, _ in keys] == ["url", "guid", "body"]
    assert all(re.fullmatch(r"[0-9a-f]{64}", key) for _, key in keys)


def test_http_and_https_copies_share_the_url_key():
    assert keys_of("url", url="http://news.example/a?utm_source=x") == keys_of(
        "url", url="https://news.example/a"
    )
    assert keys_of("url", url="https://news.example/a") != keys_of(
        "url", url="https://other.example/a"
    )


def test_permalink_guids_are_canonical_urls():
    first = keys_of("guid", url="x", guid="http://news.example/a?utm_medium=rss", feed_url="a")
    second = keys_of("guid", url="y", guid="https://NEWS.example/a#top", feed_url="b")

    assert first == second


def test_numeric_guids_from_two_outlets_do_not_collide():
    one = keys_of("guid", url="https://a.example/1", guid="12345", feed_url="https://a.example/rss")
    two = keys_of("guid", url="https://b.example/1", guid="12345", feed_url="https://b.example/rss")

    assert one != two


def test_a_numeric_guid_without_a_feed_gets_no_key():
    assert not keys_of("guid", url="https://a.example/1", guid="12345", feed_url=None)


def test_a_numeric_guid_keeps_its_key_across_feed_url_changes():
    keys = [
        keys_of("guid", url="u", guid="12345", feed_url=feed)
        for feed in ("http://a.example/rss", "https://www.a.example/feeds/all.xml")
    ]

    assert keys[0] == keys[1]


def test_body_key_needs_a_long_enough_body():
    fingerprint = content_hash("عنوان", BODY)

    assert keys_of("body", url="u", content_hash=fingerprint, body_chars=len(BODY))
    assert not keys_of("body", url="u", content_hash=fingerprint, body_chars=50)
    assert not keys_of("body", url="u", content_hash=fingerprint)
    assert not keys_of("body", url="u", content_hash="", body_chars=len(BODY))
    assert len(BODY) >= MIN_BODY_CHARS_FOR_KEY


def test_content_hash_ignores_whitespace_diacritics_tatweel_and_case():
    plain = content_hash("الطائرة المسيرة", "قصفت الطائرة لاحقا القاعدة. Drone strike")
    decorated = content_hash(
        "  الطَّائِرَةُ   المُسيّرة ",
        "قصــفت الطائرة\u200f لاحقًا\n\n القاعدة.\tDRONE Strike",
    )
    # Arabic presentation forms (ﻻ) and full-width Latin come from old CMS exports.
    compatibility = content_hash("الطائرة المسيرة", "قصفت الطائرة ﻻحقا القاعدة. Ｄｒｏｎｅ strike")

    assert plain == decorated == compatibility


def test_content_hash_tells_different_texts_and_fields_apart():
    assert content_hash("a", "b c") != content_hash("a b", "c")
    assert content_hash("عنوان", "نص") != content_hash("عنوان", "نص آخر")


def test_content_hash_is_frozen():
    # If this fails, stored hashes no longer match: never change the normalization.
    # The value is sha256("عنوان\nنص الخبر"): title and body, normalized, on two lines.
    assert content_hash("عنوانٌ", "نصُّ  الخبر") == (
        "ee848160971a96831a78740c11b0c992f2b583375e5853389fd712072472717b"
    )
