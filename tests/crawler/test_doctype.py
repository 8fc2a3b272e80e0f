"""Documents whose DOCTYPE declares entities are refused before any parser sees them, by
every parser a source's bytes reach (feed, sitemap, listing page, article page); plain
DOCTYPEs and every real fixture pass untouched (scenarios 9, 10 and 42)."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from crawler.charset import decode_html
from crawler.doctype import (
    DECLARES_ENTITIES,
    MAX_PROLOG,
    PROLOG_TOO_LONG,
    EntityDeclarationError,
    refuse_entity_declarations,
)
from crawler.documents import parse_document
from crawler.extract import extract_article
from crawler.feed_parser import parse_feed
from crawler.sitemap import parse_sitemap, root_name
from monitor.errors import SourceError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
URL = "https://news.example/source"
LAUGHS = ['<!ENTITY lol "lol">'] + [
    f'<!ENTITY lol{i} "{(f"&lol{i - 1};" if i > 1 else "&lol;") * 10}">' for i in range(1, 10)
]
ROOTS = {
    "rss": '<rss version="2.0"><channel><title>t</title><item><title>&lol9;</title>'
    "<link>https://news.example/a</link></item></channel></rss>",
    "urlset": '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    "<url><loc>https://news.example/&lol9;</loc></url></urlset>",
    "html": "<html><head><title>&lol9;</title></head><body><h3><a href='/a'>&lol9;</a></h3>"
    "<p>&lol9;</p></body></html>",
}


def one_line_bomb(root: str) -> bytes:
    return f'<?xml version="1.0"?><!DOCTYPE {root} [{"".join(LAUGHS)}]>{ROOTS[root]}'.encode()


def multi_line_bomb(root: str) -> bytes:
    subset = "\n".join(LAUGHS)
    return f'<?xml version="1.0"?>\n<!DOCTYPE {root} [\n{subset}\n]>\n{ROOTS[root]}'.encode()


def parameter_entity_bomb(root: str) -> bytes:
    # Parameter entities expand inside the DTD itself, before any element is read.
    laughs = "".join(
        f"<!ENTITY % p{i} '{f'&#37;p{i - 1};' * 10 if i else 'lol'}'>" for i in range(10)
    )
    return f"<!DOCTYPE {root} [{laughs}<!ENTITY x '%p9;'>]>{ROOTS[root]}".encode()


def xxe(root: str) -> bytes:
    return (
        f'<?xml version="1.0"?><!DOCTYPE {root} [<!ENTITY lol9 SYSTEM "file:///etc/passwd">]>'
        f"{ROOTS[root]}"
    ).encode()


def utf16_bomb(root: str) -> bytes:
    return one_line_bomb(root).decode().replace("1.0", '1.0" encoding="utf-16').encode("utf-16")


BOMBS = {
    "one-line billion laughs": one_line_bomb,
    "multi-line billion laughs": multi_line_bomb,
    "parameter-entity bomb": parameter_entity_bomb,
    "XXE file:///etc/passwd": xxe,
    "UTF-16 billion laughs": utf16_bomb,
}


def article_page(body: bytes) -> object:
    # The spider decodes the page first; extract_article gets the text.
    text, _encoding = decode_html(body, None)
    return extract_article(text, url=URL)


PARSERS: dict[str, tuple[str, Callable[[bytes], object]]] = {
    "feed": ("rss", lambda body: parse_feed(body, url=URL)),
    "feed through parse_document": ("rss", lambda body: parse_document(body, url=URL)),
    "sitemap": ("urlset", lambda body: parse_document(body, url=URL, kind="sitemap")),
    "sitemap root": ("urlset", root_name),
    "sitemap parser": ("urlset", lambda body: parse_sitemap(body, url=URL)),
    "listing page": ("html", lambda body: parse_document(body, url=URL, kind="html", links="a")),
    "article page": ("html", article_page),
}


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("bomb", BOMBS)
def test_a_document_declaring_entities_is_refused_by_every_parser(bomb, parser):
    root, parse = PARSERS[parser]

    with pytest.raises(EntityDeclarationError) as refused:
        parse(BOMBS[bomb](root))

    assert str(refused.value) == DECLARES_ENTITIES


def test_the_refusal_is_a_source_error_saying_what_to_do():
    with pytest.raises(SourceError, match="declares XML entities in its DOCTYPE"):
        refuse_entity_declarations(one_line_bomb("rss"))


@pytest.mark.parametrize(
    "document",
    [
        "<!DOCTYPE html><html><body>a</body></html>",
        '<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"'
        ' "http://my.netscape.com/publish/formats/rss-0.91.dtd"><rss version="0.91"/>',
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd"><html/>',
        "<!DOCTYPE r [<!ELEMENT r ANY><!ATTLIST r a CDATA 'x>]'><!-- <!ENTITY --><?pi ?>]><r/>",
        '<!DOCTYPE r [<!ATTLIST r a CDATA "<!ENTITY x">]><r/>',
        "<html><body><pre><!ENTITY written about, after the root></pre></body></html>",
        '{"version": "https://jsonfeed.org/version/1.1", "items": []}',
        "",
    ],
    ids=[
        "html5",
        "rss 0.91 public",
        "xhtml public",
        "elements and attributes only",
        "entity text in a value",
        "after the root element",
        "json",
        "empty",
    ],
)
def test_a_doctype_declaring_no_entities_passes_untouched(document):
    refuse_entity_declarations(document)
    refuse_entity_declarations(document.encode())


def test_a_feed_with_a_public_doctype_still_parses():
    feed = (
        '<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"'
        ' "http://my.netscape.com/publish/formats/rss-0.91.dtd"><rss version="0.91"><channel>'
        "<title>t</title><item><title>خبر</title><link>https://news.example/a</link></item>"
        "</channel></rss>"
    )

    assert [entry.title for entry in parse_feed(feed.encode(), url=URL).entries] == ["خبر"]


@pytest.mark.parametrize(
    "document",
    [
        '<?xml version="1.0"?><!-- <rss> --><?style <rss>?>\n<!DOCTYPE rss [<!-- ]> <rss> -->'
        '<!ENTITY a "b">]><rss/>',
        '\ufeff<!doctype html [<!entity a "b">]><html/>',
        "<!DOCTYPE r><!DOCTYPE r [<!ENTITY a 'b'>]><r/>",
        '<!DOCTYPE r [ @@ <!ENTITY a "b">]><r/>',
        '<!DOCTYPE r [%ext; <!ENTITY % ext SYSTEM "http://evil.example/x.dtd">]><r/>',
    ],
    ids=["behind comments", "lower case after a BOM", "second doctype", "malformed", "external"],
)
def test_a_declaration_is_found_however_it_is_laid_out(document):
    with pytest.raises(EntityDeclarationError):
        refuse_entity_declarations(document)
    with pytest.raises(EntityDeclarationError):
        refuse_entity_declarations(document.encode())


def _declaring(declaration: str, *, hide: Callable[[str], str]) -> bytes:
    tail = f"<!DOCTYPE rss [{''.join(LAUGHS)}]>{ROOTS['rss']}"
    return f'<?xml version="1.0"{declaration}?>{hide(tail)}'.encode()


@pytest.mark.parametrize(
    ("document", "charset"),
    [
        (_declaring(' encoding="utf-7"', hide=lambda t: t.replace("<", "+ADw-")), None),
        (_declaring(' encoding="unicode_escape"', hide=lambda t: t.replace("<", "\\u003c")), None),
        (_declaring("", hide=lambda t: t.replace("<", "+ADw-")), "utf-7"),
        (
            one_line_bomb("rss").decode().replace("1.0", '1.0" encoding="cp037').encode("cp037"),
            None,
        ),
        (one_line_bomb("rss").decode().encode("utf-32-be"), None),
        (one_line_bomb("rss").decode().encode("utf-16-le"), None),
    ],
    ids=["utf-7 declared", "unicode_escape declared", "utf-7 header", "ebcdic", "utf-32", "utf-16"],
)
def test_a_declaration_hidden_by_an_encoding_a_parser_honours_is_found(document, charset):
    # feedparser decodes all of these before expat expands the entities.
    with pytest.raises(EntityDeclarationError):
        refuse_entity_declarations(document, charset=charset)


def test_a_feed_hiding_its_bomb_behind_a_utf7_header_is_refused():
    body = _declaring("", hide=lambda t: t.replace("<", "+ADw-"))

    with pytest.raises(EntityDeclarationError):
        parse_feed(body, url=URL, content_type="application/rss+xml; charset=utf-7")


@pytest.mark.parametrize(
    "padding",
    [" " * MAX_PROLOG, "<!-- padding -->" * (MAX_PROLOG // 16), "<!-- " + "x" * MAX_PROLOG],
    ids=["whitespace", "comments", "one long comment"],
)
def test_a_declaration_pushed_past_the_window_is_refused_as_too_long(padding):
    document = f"{padding}<!DOCTYPE r [<!ENTITY a 'b'>]><r/>"

    with pytest.raises(EntityDeclarationError) as refused:
        refuse_entity_declarations(document)

    assert str(refused.value) == PROLOG_TOO_LONG


def test_an_internal_subset_running_past_the_window_is_refused_as_too_long():
    subset = "<!ELEMENT r ANY>" * (MAX_PROLOG // 16) + "<!-- ]> --><!ENTITY a 'b'>"

    with pytest.raises(EntityDeclarationError, match="before its first element"):
        refuse_entity_declarations(f"<!DOCTYPE r [{subset}]><r/>".encode())


def test_a_long_document_with_a_short_prolog_passes():
    refuse_entity_declarations(b'<?xml version="1.0"?><rss>' + b"x" * (4 * MAX_PROLOG) + b"</rss>")


def test_every_real_and_malformed_fixture_passes():
    paths = [*FIXTURES.glob("real/*"), *FIXTURES.glob("malformed/*")]

    for path in paths:
        refuse_entity_declarations(path.read_bytes())
    assert len(paths) > 20


def test_refusing_a_one_line_bomb_takes_under_10_ms_and_no_memory():
    bomb = one_line_bomb("rss")
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        with pytest.raises(EntityDeclarationError):
            parse_feed(bomb, url=URL)
        timings.append(time.perf_counter() - start)
    tracemalloc.start()
    try:
        with pytest.raises(EntityDeclarationError):
            parse_feed(bomb, url=URL)
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Before the check: 0.8 s and 67 MB (feedparser handed expat the bomb).
    assert min(timings) <= 0.010
    assert peak < 256 * 1024
