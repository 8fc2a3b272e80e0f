from __future__ import annotations

import pytest

from monitor.errors import QuerySyntaxError
from monitor.matching import compile_query, compile_watchlists, snippet


def test_protest_march_does_not_fire_the_drone_query():
    assert compile_query("طائرة مسيرة").search("خرجت مسيرة احتجاجية في بغداد.") == []


def test_one_word_between_is_allowed_two_are_not():
    query = compile_query("طائرة مسيرة")

    assert query.search("طائرة أميركية مسيّرة")
    assert not query.search("الطائرة التي سقطت مسيرة")


def test_slop_is_settable():
    assert compile_query("طائرة مسيرة", slop=0).search("طائرة أميركية مسيرة") == []
    assert compile_query("طائرة مسيرة", slop=2).search("الطائرة التي سقطت مسيرة")


def test_words_must_come_in_order():
    assert compile_query("عين الأسد").search("الأسد ثم عين") == []


def test_a_phrase_does_not_cross_a_full_stop():
    assert compile_query("طائرة مسيرة").search("وصلت الطائرة. مسيرة المشيعين") == []


def test_latin_words_are_case_insensitive_and_whole():
    assert compile_query("Ain al-Asad").search("the AIN AL ASAD base")
    assert compile_query("Asad").search("مدينة Asadabad") == []
    assert compile_query("UN").search("تقرير UNESCO") == []


@pytest.mark.parametrize("query", ["", "   ", "...", "في من"])
def test_empty_or_stopword_queries_are_refused_with_a_reason(query):
    with pytest.raises(QuerySyntaxError) as caught:
        compile_query(query)
    assert "query" in str(caught.value)


def test_index_reports_only_matching_watchlists():
    index = compile_watchlists(
        {"drones": ["طائرة مسيرة"], "base": ["عين الأسد"], "oil": ["أسعار النفط"]}
    )

    found = index.match("هاجمت طائرتان مسيرتان قاعدة عين الأسد")

    assert set(found) == {"drones", "base"}
    assert found["drones"][0].text == "طائرتان مسيرتان"


def test_words_written_differently_with_one_stem_each_keep_their_watchlist():
    index = compile_watchlists(
        {"a": ["طائرة"], "b": ["الطائرة"], "c": ["طائرة OR صاروخ"], "d": ["=طائرات"]}
    )

    found = index.match("أسقطت الدفاعات طائرات")

    assert set(found) == {"a", "b", "c", "d"}
    assert [hit.query for hit in found["b"]] == ["الطائرة"]


def test_a_word_of_several_forms_shows_each_place_once_in_text_order():
    # "طائرات" is looked for under three forms; "الطائرات" carries two of them.
    index = compile_watchlists({"a": ["طائرات"], "b": ["طائرات OR صواريخ"]})

    found = index.match("أسقطت طائرة ثم الطائرات وطائرتين")

    expected = ["طائرة", "الطائرات", "وطائرتين"]
    assert [hit.text for hit in found["a"]] == expected
    assert [hit.text for hit in found["b"]] == expected


def test_words_of_several_forms_match_in_phrases_beside_queries_of_one_of_those_forms():
    # "طائرات" is looked for as طائرات, طائرة and طائر: one group key for the index, which
    # the text word records beside the one-form key of the query "طائرة".
    index = compile_watchlists(
        {
            "phrase": ["طائرات مسيرات"],
            "near": ["طائرات NEAR/3 القاعدة -صواريخ"],
            "single": ["طائرة"],
            "prefix": ["طائر*"],
        }
    )

    found = index.match("أسقطت طائرتين مسيرتين قرب القاعدة")

    assert {name: [hit.text for hit in hits] for name, hits in found.items()} == {
        "phrase": ["طائرتين مسيرتين"],
        "near": ["طائرتين", "القاعدة"],
        "single": ["طائرتين"],
        "prefix": ["طائرتين"],
    }
    assert "near" not in index.match("أسقطت طائرتين قرب القاعدة وصواريخ")


def test_an_or_query_with_several_phrases_matched_shows_each_place_once_in_order():
    # Each phrase is handed out on its own; the query's hits are then merged.
    index = compile_watchlists({"w": ["صاروخ OR طائرة OR الطائرة OR طائرة مسيرة"]})

    found = index.match_fields(
        {"title": "صاروخ يصيب طائرة", "body": "طائرة مسيرة ثم صاروخ ثم الطائرة"}
    )

    assert [(hit.field, hit.text) for hit in found["w"]] == [
        ("title", "صاروخ"),
        ("title", "طائرة"),
        ("body", "طائرة"),
        ("body", "طائرة مسيرة"),
        ("body", "صاروخ"),
        ("body", "الطائرة"),
    ]


def test_a_full_word_cache_is_emptied_without_changing_what_matches(monkeypatch):
    import monitor.matching.index as index_module

    watchlists = {"drones": ["طائرة مسيرة"], "base": ["عين الأسد"], "words": ["الحشد"]}
    texts = [
        "هاجمت طائرتان مسيرتان قاعدة عين الأسد",
        "قال الحشد الشعبي إن طائرة أميركية مسيّرة حلقت",
        "مسيرة احتجاجية في بغداد",
    ]
    expected = [compile_watchlists(watchlists).match(text) for text in texts]
    monkeypatch.setattr(index_module, "REACH_CACHE_SIZE", 4)
    small = compile_watchlists(watchlists)

    assert [small.match(text) for text in texts * 2] == expected * 2
    assert len(small._reach) <= 8  # emptied before it grew past one text's words


def test_match_fields_tags_hits_with_their_field():
    index = compile_watchlists({"drones": ["طائرة مسيرة"]})

    found = index.match_fields({"title": "إسقاط طائرة مسيرة", "body": "أسقطت طائرة مسيرة أخرى"})

    assert [h.field for h in found["drones"]] == ["title", "body"]


def test_any_query_of_a_watchlist_matches():
    index = compile_watchlists({"iraq": ["الحشد الشعبي", "عين الأسد"]})

    assert index.match("قاعدة عين الأسد")["iraq"][0].query == "عين الأسد"


def test_snippet_centres_on_the_hit_and_marks_cuts():
    text = "كلمة " * 200 + "بطائرتين مسيرتين" + " نهاية" * 200
    hits = compile_query("طائرة مسيرة").search(text)

    excerpt = snippet(text, hits, length=120)

    assert "بطائرتين مسيرتين" in excerpt
    assert excerpt.startswith("…") and excerpt.endswith("…")
    assert len(excerpt) <= 122


def test_snippet_shows_a_hit_whose_words_are_two_spaces_apart():
    text = "كلمة " * 200 + "بطائرتين  مسيرتين" + " نهاية" * 200
    hits = compile_query("طائرة مسيرة").search(text)

    excerpt = snippet(text, hits, length=120)

    assert "بطائرتين مسيرتين" in excerpt


def test_broken_plural_table_does_not_turn_civil_into_cities():
    assert compile_query("مدينة").search("وصلت فرق الدفاع المدني") == []


def test_near_counts_words_across_a_full_stop_unlike_a_phrase():
    # As docs/queries.md says: a phrase stays in one sentence, NEAR only counts words.
    text = "أسقطت طائرة. مسيرة في المدينة"

    assert compile_query("طائرة NEAR/2 مسيرة").search(text)
    assert compile_query("طائرة مسيرة").search(text) == []
