"""NEAR and phrases with slop find every place on a long text, as on its paragraphs.

The reference implementations below try every pair and every chain, with no cap and no
shortcut; the engine's sweep must give exactly their spans, in their order.
"""

from __future__ import annotations

from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.arabic.tokenize import WORDS_AND_GAPS
from monitor.matching import Hit, compile_query, verify
from monitor.matching.syntax import Near, Node, Or, Phrase, Term
from monitor.matching.verify import FieldScan, Span

PARAGRAPHS = 320

# Words on either side keep each NEAR hit more than NEAR/4 from the paragraph's edges, so
# only the sweep (not a pairing across paragraphs) can make the long text differ.
PARAGRAPH = (
    "قال مصدر أمني في المدينة اليوم إن صاروخ سقط قرب مطار أربيل صباحا وإن طائرة "
    "أميركية مسيرة حلقت فوق القاعدة. وذكر أن {rocket} آخر سقط في الصحراء بعيدا جدا عن "
    "أي مدينة كما شوهدت طائرة ثم مروحية ثم مسيرة احتجاجية في {city} رقم {number} "
    "وانتهى البيان دون تفاصيل أخرى عن الخسائر أو الجهة المسؤولة"
)
ROCKETS = ["صاروخ", "قذيفة", "صاروخان"]
CITIES = ["أربيل", "حرير", "بغداد"]

QUERIES = [
    "صاروخ NEAR/4 أربيل",
    "(صاروخ OR قذيفة) NEAR/4 (أربيل OR حرير OR مطار)",
    "طائرة مسيرة",
    "طائرة NEAR/2 مسيرة",
]


def _paragraphs() -> list[str]:
    return [
        PARAGRAPH.format(
            rocket=ROCKETS[number % len(ROCKETS)],
            city=CITIES[number % len(CITIES)],
            number=number,
        )
        for number in range(PARAGRAPHS)
    ]


def _shifted(hits: list[Hit], offset: int) -> list[Hit]:
    return [hit._replace(start=hit.start + offset, end=hit.end + offset) for hit in hits]


def test_a_long_text_gives_the_hits_of_its_paragraphs_searched_alone():
    paragraphs = _paragraphs()
    text = "\n".join(paragraphs)
    for query in QUERIES:
        compiled = compile_query(query)
        expected: list[Hit] = []
        offset = 0
        for paragraph in paragraphs:
            alone = compiled.search(paragraph)
            assert alone, (query, paragraph)
            expected += _shifted(alone, offset)
            offset += len(paragraph) + 1

        assert compiled.search(text) == expected, query


def test_a_three_word_phrase_with_slop_finds_every_paragraph_of_a_long_text():
    paragraphs = _paragraphs()
    text = "\n".join(paragraphs)
    compiled = compile_query("طائرة مسيرة القاعدة", slop=2)
    expected: list[Hit] = []
    offset = 0
    for paragraph in paragraphs:
        alone = compiled.search(paragraph)
        assert len(alone) == 1
        expected += _shifted(alone, offset)
        offset += len(paragraph) + 1

    assert compiled.search(text) == expected


def test_five_thousand_places_of_each_side_all_pair():
    unit = "rocket near erbil one two three four five six seven"  # 10 words, 1 between
    text = " ".join([unit] * 5000)

    hits = compile_query("rocket NEAR/5 erbil").search(text)

    assert len(hits) == 10_000
    assert {hit.text for hit in hits} == {"rocket", "erbil"}


def test_a_long_phrase_of_repeated_words_is_settled_without_backtracking():
    query = compile_query("alpha " + "beta " * 14 + "gamma", slop=3)
    betas = "beta " * 200

    assert query.search("alpha " + betas + "gamma") == []  # gamma beyond any chain
    assert [hit.text for hit in query.search("alpha " + betas[:70] + "gamma")] == [
        "alpha " + betas[:70] + "gamma"
    ]


# The property tests: words of a three-letter alphabet, "." ending a sentence.

WORDS = ["a", "b", "c"]
texts = st.lists(st.sampled_from([*WORDS, "."]), max_size=40).map(" ".join)
phrases = st.builds(
    lambda words, slop: Phrase(tuple(_term(word) for word in words), slop, None, ""),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=4),
    st.integers(min_value=0, max_value=3),
)


def _term(word: str) -> Term:
    return Term(word, "exact", frozenset({word}))


def _scan(text: str) -> tuple[FieldScan, list[str], list[int]]:
    """The text as the engine sees it (each word its own key), its words and the
    sentence of each word."""
    pieces = WORDS_AND_GAPS.split(text)
    words = pieces[1::2]
    positions: dict[str, list[int]] = {}
    for place, word in enumerate(words):
        positions.setdefault(word, []).append(place)
    sentences, sentence = [], 0
    for gap in pieces[0:-1:2]:
        sentence += "." in gap
        sentences.append(sentence)
    return FieldScan(text, pieces, positions), words, sentences


def _reference_phrase(phrase: Phrase, words: list[str], sentences: list[int]) -> list[Span]:
    """Every chain of places of the phrase's words tried: from each place of the first
    word past the previous occurrence, the occurrence that ends earliest."""
    keys = [next(iter(term.keys)) for term in phrase.terms]

    def ends(position: int, previous: int) -> list[int]:
        if position == len(keys):
            return [previous]
        return [
            end
            for place in range(previous + 1, len(words))
            if words[place] == keys[position]
            and place - previous - 1 <= phrase.slop
            and sentences[place] == sentences[previous]
            for end in ends(position + 1, place)
        ]

    spans: list[Span] = []
    last_end = -1
    for first, word in enumerate(words):
        if word == keys[0] and first > last_end:
            found = ends(1, first)
            if found:
                spans.append((first, min(found), ((first, min(found)),)))
                last_end = min(found)
    return spans


def _reference_spans(node: Node, words: list[str], sentences: list[int]) -> list[Span]:
    if isinstance(node, Phrase):
        return _reference_phrase(node, words, sentences)
    if isinstance(node, Or):
        return [
            span for child in node.children for span in _reference_spans(child, words, sentences)
        ]
    assert isinstance(node, Near)
    found: list[Span] = []
    for one in _reference_spans(node.left, words, sentences):
        for other in _reference_spans(node.right, words, sentences):
            if one[1] < other[0]:
                gap = other[0] - one[1] - 1
            elif other[1] < one[0]:
                gap = one[0] - other[1] - 1
            else:
                continue
            if gap <= node.distance:
                found.append((min(one[0], other[0]), max(one[1], other[1]), one[2] + other[2]))
    return found


@settings(max_examples=400)
@given(texts, phrases)
def test_phrase_spans_equal_trying_every_chain(text, phrase):
    scan, words, sentences = _scan(text)

    assert scan.phrase_spans(phrase) == _reference_phrase(phrase, words, sentences)


distances = st.integers(min_value=1, max_value=4)
operands = st.one_of(
    phrases,
    st.builds(lambda one, other: Or((one, other)), phrases, phrases),
    st.builds(
        lambda one, other, distance: Near(one, other, distance, None), phrases, phrases, distances
    ),
)


@pytest.mark.parametrize("few_pairs", [0, verify.FEW_PAIRS], ids=["sweep", "as-configured"])
@settings(max_examples=400)
@given(texts, operands, operands, distances)
def test_near_spans_equal_trying_every_pair(few_pairs, text, left, right, distance):
    scan, words, sentences = _scan(text)
    near = Near(left, right, distance, None)

    with patch.object(verify, "FEW_PAIRS", few_pairs):  # short texts have few pairs
        found = verify._spans(near, {"text": scan}).get("text", [])

    assert found == _reference_spans(near, words, sentences)
