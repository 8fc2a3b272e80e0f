from __future__ import annotations

from pathlib import Path

import pytest

from crawler.charset import (
    decode_document,
    decode_html,
    looks_like_mojibake,
    normalize_encoding,
    remove_bidi_controls,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HEADLINE = "خبر عاجل من دمشق"
ARTICLE = "أكدت جهات سورية معارضة أن فصائل مسلحة معارضة سيطرت على مستودعات للأسلحة"


def page(head: str = "", padding: int = 0) -> str:
    filler = f"<!-- {'x' * padding} -->" if padding else ""
    return (
        f"<!DOCTYPE html><html lang='ar'><head>{filler}{head}<title>{HEADLINE}</title>"
        f"</head><body><p>{ARTICLE}</p></body></html>"
    )


def test_meta_charset_after_the_first_kilobyte_is_honoured():
    body = page('<meta charset="windows-1256">', padding=3000).encode("cp1256")

    text, encoding = decode_html(body, "text/html")

    assert encoding == "windows-1256"
    assert HEADLINE in text


def test_meta_http_equiv_charset_is_honoured():
    head = '<meta http-equiv="Content-Type" content="text/html; charset=windows-1256">'
    text, encoding = decode_html(page(head).encode("cp1256"), None)

    assert encoding == "windows-1256"
    assert ARTICLE in text


def test_header_charset_is_used_when_the_page_declares_nothing():
    text, encoding = decode_html(page().encode("cp1256"), "text/html; charset=Windows-1256")

    assert encoding == "windows-1256"
    assert HEADLINE in text


def test_undeclared_windows_1256_is_detected():
    text, encoding = decode_html(page().encode("cp1256"), "text/html")

    assert encoding == "windows-1256"
    assert HEADLINE in text and ARTICLE in text


def test_wrong_header_charset_does_not_win_over_a_correct_meta():
    body = page('<meta charset="windows-1256">').encode("cp1256")

    text, encoding = decode_html(body, "text/html; charset=utf-8")

    assert encoding == "windows-1256"
    assert HEADLINE in text


def test_utf8_bytes_declared_as_windows_1252_come_out_as_utf8():
    body = page('<meta charset="windows-1252">').encode("utf-8")

    text, encoding = decode_html(body, "text/html; charset=ISO-8859-1")

    assert encoding == "utf-8"
    assert HEADLINE in text


def test_windows_1256_bytes_declared_as_latin1_come_out_as_arabic():
    text, encoding = decode_html(page().encode("cp1256"), "text/html; charset=iso-8859-1")

    assert encoding == "windows-1256"
    assert HEADLINE in text


def test_a_bom_outranks_the_header():
    body = b"\xef\xbb\xbf" + page().encode("utf-8")

    text, encoding = decode_html(body, "text/html; charset=windows-1256")

    assert encoding == "utf-8"
    assert text.startswith("<!DOCTYPE html>")


def test_a_stray_byte_in_utf8_is_replaced_not_redetected():
    body = page().encode("utf-8").replace(b"<p>", b"<p>\x92")

    decoded = decode_document(body, "text/html; charset=utf-8", markup="html")

    assert decoded.encoding == "utf-8"
    assert decoded.replacements == 1
    assert ARTICLE in decoded.text


def test_undeclared_hebrew_feed_is_detected_as_windows_1255():
    body = (FIXTURES / "malformed" / "fp_chardet_windows1255_undeclared.xml").read_bytes()

    decoded = decode_document(body, None, markup="xml")

    assert decoded.encoding == "windows-1255"
    assert decoded.declared is None
    assert "האם תדפיס נייר" in decoded.text


@pytest.mark.parametrize(
    "text",
    [
        ARTICLE.encode("utf-8").decode("cp1252", "replace"),
        ARTICLE.encode("utf-8").decode("latin-1"),
        ARTICLE.encode("cp1256").decode("cp1252"),
        "ÎÈÑ ÚÇÌá",
        "Euro â‚¬",
        "CafÃ© crÃ¨me",
    ],
)
def test_mojibake_is_recognised(text):
    assert looks_like_mojibake(text)


@pytest.mark.parametrize(
    "text",
    [
        ARTICLE,
        "Euro €",
        "Café crème à la française, été comme hiver",
        "INFORMAÇÃO São Paulo Über Ärger",
        "plain ASCII",
        "",
        (FIXTURES / "real" / "bbc-urdu_rss_2018-10-24.xml").read_text("utf-8"),
    ],
)
def test_clean_text_is_not_mojibake(text):
    assert not looks_like_mojibake(text)


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("windows-1256", "windows-1256"),
        ("CP1256", "windows-1256"),
        ("utf8", "utf-8"),
        ("UTF-8", "utf-8"),
        ("ISO-8859-6", "iso-8859-6"),
        ("iso-8859-1", "windows-1252"),
        ("us-ascii", "windows-1252"),
        ("bogus", None),
        ("utf-7", None),
        ("base64", None),
        ("utf-16", None),
        ("", None),
    ],
)
def test_charset_labels_are_normalized(label, expected):
    assert normalize_encoding(label) == expected


@pytest.mark.parametrize("control", list("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))
def test_every_bidi_embedding_override_and_isolate_is_removed(control):
    assert remove_bidi_controls(f"{control}عين{control} الأسد{control}") == "عين الأسد"


def test_plain_direction_marks_are_kept():
    assert remove_bidi_controls("عين\u200f الأسد\u200e 2026") == "عين\u200f الأسد\u200e 2026"
