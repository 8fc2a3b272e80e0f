from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.arabic.normalize import normalize
from monitor.arabic.stem import clitic_keys, query_keys, text_keys


def _matches(query_word: str, text_word: str) -> bool:
    """As the index decides: a text word's stems, and its clitic forms for a name."""
    norm = normalize(text_word)
    return not query_keys(normalize(query_word)).isdisjoint(text_keys(norm) + clitic_keys(norm))


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("طائرة", "طائرتين"),  # feminine dual keeps the ت of the taa marbuta
        ("طائرة", "بطائرتين"),  # a lone ب before a long stem
        ("طائرة", "بالطائرات"),
        ("طائرة", "وللطائرات"),
        ("مسيرة", "مسيرتين"),
        ("وزارة", "وزارتي"),  # construct dual
        ("سفارة", "سفاراتهم"),  # plural then pronoun
        ("صاروخ", "صاروخان"),
        ("سد", "سدين"),
        ("سليماني", "لسليماني"),
        ("داعش", "ولداعش"),
        ("حرير", "بحرير"),
        ("هجوم", "فهجوم"),
        ("كركوك", "كركوكي"),
        ("صحفي", "صحفية"),
        ("أمريكي", "الأميركية"),
        ("صاروخ", "الصواريخ"),
        ("جندي", "جنودا"),  # a broken plural with the accusative alef
        ("دولة", "دولها"),  # a broken plural with a pronoun
        ("ميليشيا", "الميليشيات"),
        ("صحفي", "صحافيون"),
    ],
)
def test_inflected_and_cliticized_forms_match(query, text):
    assert _matches(query, text)


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("سد", "الأسد"),
        ("سد", "أسدى"),
        ("عين", "معينا"),
        ("عين", "عيان"),
        ("عين", "عينة"),
        ("دين", "المدينة"),
        ("أمن", "المؤمنون"),
        ("حرير", "تحرير"),
        ("متظاهر", "التظاهر"),
        ("صحفي", "صحيفة"),
        ("مسلح", "السلاح"),
        ("جندي", "التجنيد"),
        ("الموصل", "المواصلات"),
        ("لبنان", "اللبن"),
        ("مدينة", "المدني"),  # civil is not cities (مدن), though the letters are
        ("دولة", "الدولي"),  # international is not states (دول)
        ("حد", "الحدودي"),
    ],
)
def test_words_inside_other_words_do_not_match(query, text):
    assert not _matches(query, text)


def test_a_query_word_keeps_a_leading_letter_that_may_be_a_clitic():
    assert query_keys(normalize("بغداد")) == frozenset({"بغداد"})


@given(
    st.text(alphabet=st.sampled_from("وفبكلالتينهامسيرطائرةصدقىيوناتكمها"), min_size=1, max_size=12)
)
def test_every_stem_of_a_word_has_two_letters_or_more_in_a_fixed_order(word):
    keys = text_keys(normalize(word))

    assert all(len(key) >= 2 for key in keys)
    assert list(keys) == sorted(set(keys))
