"""Properties of the parser and the index that must hold for any input."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.errors import QuerySyntaxError
from monitor.matching import compile_query, compile_watchlists

ARABIC_WORDS = [
    "طائرة",
    "الطائرة",
    "طائرات",
    "مسيرة",
    "عين",
    "الأسد",
    "بغداد",
    "صاروخ",
    "في",
    "قاعدة",
    "Erbil",
]
OPERATORS = ["OR", "AND", "NOT", "-", "NEAR/3", "(", ")", '"', "title:", "body:", "=", "*"]

# Query-like strings: real words and operators glued in any order, plus raw Unicode.
query_like = st.lists(st.sampled_from(ARABIC_WORDS + OPERATORS), max_size=12).map(" ".join)
any_query = st.one_of(query_like, st.text(max_size=80))
texts = st.one_of(
    st.lists(st.sampled_from([*ARABIC_WORDS, ".", "،", "\n", "ّ", "ـ"]), max_size=40).map(" ".join),
    st.text(max_size=200),
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(any_query)
def test_any_query_compiles_or_is_refused_with_a_position_inside_it(query):
    try:
        compile_query(query)
    except QuerySyntaxError as exc:
        assert exc.position is None or 0 <= exc.position <= len(query)
        assert str(exc)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(query_like, texts)
def test_hits_always_point_inside_the_text_at_what_they_say(query, text):
    try:
        compiled = compile_query(query)
    except QuerySyntaxError:
        return
    for hit in compiled.search(text):
        assert 0 <= hit.start < hit.end <= len(text)
        assert text[hit.start : hit.end] == hit.text


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(query_like, min_size=1, max_size=6), texts)
def test_the_index_agrees_with_each_query_alone(queries, text):
    valid = []
    for query in queries:
        try:
            compile_query(query)
        except QuerySyntaxError:
            continue
        valid.append(query)
    index = compile_watchlists({f"w{n}": [query] for n, query in enumerate(valid)})

    found = index.match(text)

    for number, query in enumerate(valid):
        alone = compile_query(query).search(text)
        assert bool(alone) == (f"w{number}" in found)
