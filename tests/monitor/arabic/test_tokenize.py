from __future__ import annotations

from bisect import bisect_left

from hypothesis import given
from hypothesis import strategies as st

from monitor.arabic.tokenize import (
    WORD,
    WORDS_AND_GAPS,
    piece_ends,
    segment_breaks,
    tokenize,
    word_segments,
)


def test_shadda_inside_a_word_keeps_one_token():
    tokens = tokenize("طائرة أميركية مسيّرة")

    assert [t.text for t in tokens] == ["طائرة", "أميركية", "مسيّرة"]


def test_tatweel_and_tanween_stay_inside_their_word():
    assert [t.text for t in tokenize("الحشــد طائرةٌ")] == ["الحشــد", "طائرةٌ"]


def test_offsets_index_the_original_text():
    text = "قال: «بطائرتين مسيّرتين» فجر الثلاثاء."

    for token in tokenize(text):
        assert text[token.start : token.end] == token.text


def test_latin_hyphen_splits_words_and_scripts_split():
    assert [t.norm for t in tokenize("Ain al-Asad قاعدةUN")] == ["ain", "al", "asad", "قاعده", "un"]


def test_sentence_punctuation_starts_a_new_segment():
    tokens = tokenize("سقطت طائرة. مسيرة احتجاجية؟ نعم")

    assert [t.segment for t in tokens] == [0, 0, 1, 1, 2]


def test_arabic_punctuation_is_not_part_of_words():
    assert [t.text for t in tokenize("بغداد، أربيل؛ الموصل؟")] == ["بغداد", "أربيل", "الموصل"]


@given(st.text())
def test_tokens_always_lie_inside_the_text(text):
    for token in tokenize(text):
        assert 0 <= token.start < token.end <= len(text)
        assert text[token.start : token.end] == token.text
        assert token.norm


@given(st.text(alphabet=st.sampled_from("طائرةمسيّـ ٌ،.\nAb-1٣\u200f")) | st.text())
def test_split_words_and_their_offsets_are_those_the_word_pattern_finds(text):
    pieces = WORDS_AND_GAPS.split(text)

    assert pieces[1::2] == WORD.findall(text)
    ends = piece_ends(pieces)
    spans = [(ends[2 * word], ends[2 * word + 1]) for word in range(len(pieces) // 2)]
    assert spans == [match.span() for match in WORD.finditer(text)]


@given(st.text(alphabet=st.sampled_from("طائرة مسيّرة.؟؛\n\r!ab۔ ")) | st.text())
def test_words_share_a_segment_exactly_when_no_break_lies_between_them(text):
    pieces = WORDS_AND_GAPS.split(text)
    breaks = segment_breaks(text)
    by_offset = [bisect_left(breaks, match.start()) for match in WORD.finditer(text)]
    segments = word_segments(pieces)

    assert len(segments) == len(by_offset)
    for later in range(1, len(segments)):
        same = segments[later - 1] == segments[later]
        assert same == (by_offset[later - 1] == by_offset[later])
