from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from difflib import SequenceMatcher
from pathlib import Path

import pytest

from crawler.extract import extract_article, html_to_text

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"
CNN_URL = "http://arabic.cnn.com/2013/middle_east/8/3/syria.clashes/index.html"
JAWHARA_URL = "http://www.jawharafm.net/ar/article/x/92/79209"
PARAGRAPH = "أكدت جهات سورية معارضة أن فصائل مسلحة معارضة لنظام الرئيس سيطرت على مستودعات. "


def squash(text: str) -> str:
    return " ".join(text.split())


def real(name: str) -> str:
    return (REAL / name).read_text(encoding="utf-8")


def page(title: str, body: str = PARAGRAPH * 6, head: str = "", lang: str = "") -> str:
    lang_attribute = f' lang="{lang}"' if lang else ""
    return (
        f"<html{lang_attribute}><head><title>{title}</title>{head}</head>"
        f"<body><div><p>{body}</p><p>{body}</p></div></body></html>"
    )


@pytest.fixture(scope="module")
def cnn():
    return extract_article(real("cnn-arabic_2013-08-03_syria-clashes.article.html"), url=CNN_URL)


@pytest.fixture(scope="module")
def assabah():
    expected = json.loads(real("assabah-tn_164913.expected.json"))
    return expected, extract_article(real(expected["file"]), url=expected["url"])


@pytest.fixture(scope="module")
def jawhara():
    return extract_article(real("jawharafm_79209.article.html"), url=JAWHARA_URL)


def test_cnn_text_matches_the_ground_truth(cnn):
    expected = squash(real("cnn-arabic_2013-08-03_syria-clashes.expected.txt"))

    ratio = SequenceMatcher(None, squash(cnn.text), expected, autojunk=False).ratio()

    assert ratio > 0.85
    for paragraph in real("cnn-arabic_2013-08-03_syria-clashes.expected.txt").split("\n\n"):
        assert squash(paragraph) in squash(cnn.text)


def test_cnn_navigation_written_as_character_references_stays_out(cnn):
    for navigation in ("الأكثر تصفحاً", "خدمة آخر خبر للرسائل النصية", "بيان الخصوصية"):
        assert navigation not in cnn.text
    assert "&#" not in cnn.text


def test_cnn_metadata(cnn):
    assert cnn.title == "معارضون يسيطرون على مخازن للصواريخ بريف دمشق"
    assert cnn.language == "ar"


def test_assabah_keeps_the_interview_and_drops_sidebar_and_comment_form(assabah):
    expected, extracted = assabah

    for kept in expected["with"]:
        assert kept in extracted.text
    for dropped in expected["without"]:
        assert dropped not in extracted.text
    assert extracted.title == squash(expected["title"])
    assert extracted.language == "ar"


def test_jawhara_text_is_the_article_body(jawhara):
    document = real("jawharafm_79209.ant-doc.txt")
    body = re.search(r"<TEXT>(.*)</TEXT>", document, re.S).group(1)

    assert squash(body) in squash(jawhara.text)
    assert len(squash(jawhara.text)) < 1.2 * len(squash(body))
    for sidebar in ("جوهرة سبور", "مونديال كرة اليد", "بوليتيكا ليوم"):
        assert sidebar not in jawhara.text


def test_jawhara_title_loses_its_bidi_embedding_mark(jawhara):
    assert jawhara.title == "حمة الهمامي : اعتذار الغرياني عن الوزارة مخرج من ورطة"


def test_bidi_controls_are_removed_from_page_titles_and_text():
    override = "\u202e"
    body = f"{override}{PARAGRAPH}\u202c \u2067{PARAGRAPH}\u2069 عين\u200f الأسد " * 3
    title = f"\u202bقصف\u202c {override}قاعدة\u202c عين\u200f الأسد"

    extracted = extract_article(page(title, body), url=CNN_URL)

    # trafilatura drops direction marks (U+200F) itself; rasid keeps them elsewhere.
    assert extracted.title.replace("\u200f", "") == "قصف قاعدة عين الأسد"
    assert squash(PARAGRAPH) in extracted.text
    for control in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069":
        assert control not in extracted.text + extracted.title


def test_bidi_controls_written_as_escaped_references_are_removed_too():
    body = "&amp;#8238;" + PARAGRAPH * 6

    extracted = extract_article(page("عنوان", body), url=CNN_URL)

    assert "\u202e" not in extracted.text
    assert squash(PARAGRAPH) in extracted.text


def test_text_written_as_numeric_character_references_is_decoded():
    escaped = "".join(f"&#{ord(char)};" for char in PARAGRAPH * 4)
    twice_escaped = escaped.replace("&#", "&amp;#")

    extracted = extract_article(page("عنوان", escaped + " " + twice_escaped), url=CNN_URL)

    assert squash(PARAGRAPH) in extracted.text
    assert "&#" not in extracted.text


@pytest.mark.parametrize(
    ("raw", "url", "expected"),
    [
        ("معارضون يسيطرون على مخازن - CNNArabic.com", CNN_URL, "معارضون يسيطرون على مخازن"),
        (
            "عنوان الحوار - الصباح | Assabah",
            "https://www.assabah.com.tn/a",
            "عنوان الحوار - الصباح",
        ),
        ("عنوان الخبر | موقع الأخبار", "https://news.example/a", "عنوان الخبر"),
        # Hyphens and colons inside Arabic headlines are headline, not site name.
        ("لواء الاسلام - جبهة النصرة", "https://news.example/a", "لواء الاسلام - جبهة النصرة"),
        ("حمة الهمامي : اعتذار الغرياني", JAWHARA_URL, "حمة الهمامي : اعتذار الغرياني"),
        ("U.S. strikes Syria - Al Jazeera", "https://www.aljazeera.net/a", "U.S. strikes Syria"),
    ],
)
def test_site_suffixes_are_stripped_from_raw_titles(raw, url, expected):
    assert extract_article(page(raw), url=url).title == expected


def test_page_date_is_aware_utc():
    head = '<meta property="article:published_time" content="2017-03-02T13:44:00+01:00">'

    extracted = extract_article(page("عنوان", head=head), url=JAWHARA_URL)

    assert extracted.published_at == datetime(2017, 3, 2, 12, 44, tzinfo=UTC)


def test_language_comes_from_the_page_or_from_the_script():
    declared = extract_article(
        page("Title", "Some English text here. " * 40, lang="en-GB"), url=CNN_URL
    )
    arabic = extract_article(page("عنوان"), url=CNN_URL)
    urdu_text = "پاکستان کے وزیر دفاع نے کہا ہے کہ امریکہ کی جانب سے فوجی امداد کی بندش ہوئی۔ " * 6
    urdu = extract_article(page("عنوان", urdu_text), url=CNN_URL)

    assert (declared.language, arabic.language, urdu.language) == ("en", "ar", None)


@pytest.mark.parametrize(
    "html", ["", "   ", "<html></html>", "plain words", "\x00\x01<<<>>>", "<p>قصير</p>"]
)
def test_pages_without_an_article_give_empty_text_not_an_error(html):
    extracted = extract_article(html, url=CNN_URL)

    assert len(extracted.text) < 10


def test_html_fragments_become_text_with_paragraphs_apart():
    fragment = "<p>الفقرة الأولى</p><p>الثانية &amp; <b>عريض</b></p><script>x()</script><br>سطر"

    assert " ".join(html_to_text(fragment).split()) == "الفقرة الأولى الثانية & عريض سطر"
