"""rasid's own matching cases (tests/fixtures/eval/rasid_cases.jsonl), beside the shared
development set: one or more cases for every rule the development set does not reach
(nisba, pronouns on ة nouns, names, function words, broken plurals, two-letter nouns,
built-in synonyms, Turkish and Urdu letters). Each must come out right."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.config import MatchingSettings
from monitor.matching import Synonyms, compile_query

CASES = Path(__file__).resolve().parents[2] / "fixtures" / "eval" / "rasid_cases.jsonl"
ALL = [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines() if line]
DEFAULTS = Synonyms(MatchingSettings().synonym_groups)


@pytest.mark.parametrize("case", ALL, ids=[case["id"] for case in ALL])
def test_case(case):
    found = compile_query(case["query"], synonyms=DEFAULTS).search(case["text"])
    assert bool(found) == case["match"], case["why"]


def test_the_set_has_cases_on_both_sides():
    assert sum(case["match"] for case in ALL) >= 20
    assert sum(not case["match"] for case in ALL) >= 15


def test_the_builtin_drone_group_can_be_switched_off():
    off = Synonyms(MatchingSettings(builtin_synonyms=False).synonym_groups)
    text = "أسقطت الدفاعات طائرة بدون طيار."
    assert compile_query("طائرة مسيرة", synonyms=DEFAULTS).search(text)
    assert not compile_query("طائرة مسيرة", synonyms=off).search(text)
