"""The watchlist query language, construct by construct (docs/queries.md)."""

from __future__ import annotations

import pytest

from monitor.errors import QuerySyntaxError
from monitor.matching import Synonyms, compile_query, compile_watchlists

ATTACK = "هاجمت طائرة أميركية مسيّرة قاعدة عين الأسد غرب العراق."
PROTEST = "وخرجت مسيرة احتجاجية في بغداد تنديدا بالغلاء."


def texts(query: str, text: str, **options) -> list[str]:
    return [hit.text for hit in compile_query(query, **options).search(text)]


def test_a_plain_phrase_allows_one_word_between_and_inflection():
    assert texts("طائرة مسيرة", ATTACK) == ["طائرة أميركية مسيّرة"]
    assert texts("طائرة مسيرة", "أسقطت بطائرتين مسيرتين") == ["بطائرتين مسيرتين"]


def test_a_quoted_phrase_needs_adjacent_words_but_still_inflects():
    assert texts('"طائرة مسيرة"', ATTACK) == []
    assert texts('"طائرة مسيرة"', "أسقطت بطائرتين مسيرتين") == ["بطائرتين مسيرتين"]
    assert texts("«طائرة مسيرة»", "الطائرات المسيرة") == ["الطائرات المسيرة"]


def test_a_marked_word_takes_clitics_but_no_suffix_and_ignores_diacritics():
    assert texts("=مسيرة", "طائرة مسيّرة") == ["مسيّرة"]
    assert texts("=مسيرة", "المسيرات والمسيرة مسيرتين") == ["والمسيرة"]
    assert texts("=الأسد", "أسد والأسد للأسد الأسود") == ["والأسد", "للأسد"]


def test_prefix_matches_the_start_of_a_stem_after_clitics():
    assert texts("مسير*", "بالمسيرات الحديثة") == ["بالمسيرات"]
    assert texts("Erbil*", "Erbil's airport") == ["Erbil"]
    assert texts("مسير*", "ميسرة") == []


def test_or_and_and_not():
    assert texts("صاروخ OR مسيرة", ATTACK) == ["مسيّرة"]
    assert texts("مسيرة AND بغداد", ATTACK) == []
    assert texts("مسيرة AND بغداد", ATTACK + " " + PROTEST) == ["مسيّرة", "مسيرة", "بغداد"]
    assert texts("مسيرة NOT احتجاجية", ATTACK) == ["مسيّرة"]
    assert texts("مسيرة -احتجاجية", PROTEST) == []


def test_side_by_side_items_must_all_match():
    assert texts('"عين الأسد" العراق', ATTACK) == ["عين الأسد", "العراق"]
    assert texts('"عين الأسد" سوريا', ATTACK) == []


def test_parentheses_group():
    query = "(طائرة OR صاروخ) NEAR/3 (قاعدة OR مطار)"
    assert texts(query, ATTACK) == ["طائرة", "قاعدة"]
    assert texts("(احتجاجية OR تظاهرة) AND (بغداد OR البصرة)", PROTEST) == ["احتجاجية", "بغداد"]


def test_near_is_in_any_order_within_the_distance():
    assert texts("الأسد NEAR/2 قاعدة", ATTACK) == ["قاعدة", "الأسد"]
    assert texts("العراق NEAR/2 طائرة", ATTACK) == []
    assert texts("العراق NEAR/7 طائرة", ATTACK) == ["طائرة", "العراق"]


def test_field_scopes_see_only_their_field():
    query = compile_query('title:(مسيرة) body:"عين الأسد"')
    assert query.search_fields({"title": "هجوم بمسيرة", "body": ATTACK})
    assert not query.search_fields({"title": "هجوم", "body": ATTACK})
    assert [hit.field for hit in query.search_fields({"title": "مسيرة", "body": ATTACK})] == [
        "title",
        "body",
    ]
    # A plain text stands for a body.
    assert texts('body:"عين الأسد"', ATTACK) == ["عين الأسد"]
    assert texts("title:عين", ATTACK) == []


def test_mixed_scripts_and_latin_case():
    query = '"Ain al-Asad" OR "عين الأسد"'
    assert texts(query, "Rockets hit AIN AL-ASAD airbase") == ["AIN AL-ASAD"]
    assert texts(query, ATTACK) == ["عين الأسد"]


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("طائرة مسيرة", PROTEST),  # a protest march is not a drone
        ("عين الأسد", "قال الرئيس بشار الأسد في خطاب"),  # the president
        ("عين الأسد", "وكان الأسد قد عيّن وزيرا جديدا"),  # appointed, wrong order
        ("سد", "سدد اللاعب الكرة"),  # inside another word
        ("أمن", "الأمنيات كثيرة"),
    ],
)
def test_hard_negatives_do_not_fire(query, text):
    assert compile_query(query).search(text) == []


def test_synonym_groups_apply_to_whole_phrases_and_single_words():
    synonyms = Synonyms([["درون", "طائرة مسيرة"], ["طائرة", "طيارة"]])
    assert texts("درون", ATTACK, synonyms=synonyms) == ["طائرة أميركية مسيّرة"]
    assert texts("الطائرات المسيرة", "أسقط الجيش درونا", synonyms=synonyms) == ["درونا"]
    assert texts("طائرة حربية", "طيارة حربية", synonyms=synonyms) == ["طيارة حربية"]
    assert texts("=طائرة", "طيارة", synonyms=synonyms) == []


def test_one_index_over_many_watchlists_with_their_own_slop():
    index = compile_watchlists(
        {"drones": ["طائرة مسيرة"], "loose": ["الطائرة سقطت"], "ain": ['"عين الأسد"']},
        slops={"loose": 3},
    )
    found = index.match("الطائرة التي قيل إنها سقطت قرب عين الأسد")
    assert set(found) == {"loose", "ain"}


@pytest.mark.parametrize(
    ("query", "position", "expected"),
    [
        ("طائرة OR", 8, "after OR"),
        ("(طائرة", 0, "never closed"),
        ("طائرة)", 5, "closes no ("),
        ('"طائرة', 0, "closing"),
        ("طائرة AND", 9, "after AND"),
        ("OR طائرة", 0, "expected a word"),
        ("NOT طائرة", 0, "nothing to look for"),
        ("طائرة OR -مسيرة", 9, "NOT inside OR"),
        ("مس*", 0, "at least 3 letters"),
        ("ta*rget", 2, "only end a word"),
        ("author:x", 0, "expected title: or body:"),
        ("a NEAR/99 b", 7, "1 to 50"),
        ("(طائرة AND مسيرة) NEAR/3 قاعدة", 0, "NEAR joins"),
        ("title:(body:x)", 7, "can never match"),
        ("()", 0, "empty parentheses"),
        ('""', 0, "empty quotes"),
        ("في OR مسيرة", 0, "only common words"),
    ],
)
def test_syntax_errors_name_the_position_and_what_was_expected(query, position, expected):
    with pytest.raises(QuerySyntaxError) as caught:
        compile_query(query)
    assert caught.value.position == position
    message = str(caught.value)
    assert expected in message
    assert f"(at character {position + 1})" in message
    caret_line = message.splitlines()[-1]
    assert caret_line.index("^") == 2 + position


def test_the_caret_skips_harakat_which_take_no_column():
    with pytest.raises(QuerySyntaxError) as caught:
        compile_query("مسيّرة OR")
    assert caught.value.position == 9  # the end: 6 letters, a shadda, a space, OR
    assert str(caught.value).splitlines()[-1].index("^") == 2 + 8


@pytest.mark.parametrize(
    "query",
    [
        "x" * 501,
        " ".join(f"(كلمة{n}" for n in range(10)) + ")" * 10,
        " OR ".join(f"كلمة{n}" for n in range(40)),
        " ".join(["مسيرة"] * 17),
    ],
)
def test_limits_refuse_runaway_queries(query):
    with pytest.raises(QuerySyntaxError):
        compile_query(query)
