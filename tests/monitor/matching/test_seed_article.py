"""The seed article: why rasid exists. Every mention must be found, with its surface form."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.matching import compile_query

SEED = (
    Path(__file__).resolve().parents[2] / "fixtures" / "seed" / "ain-al-asad-drones.txt"
).read_text(encoding="utf-8")


def test_drone_query_finds_all_five_mentions_with_their_surface_forms():
    hits = compile_query("طائرة مسيرة").search(SEED)

    assert [h.text for h in hits] == [
        "بالطائرات المسيرة",
        "بطائرتين مسيرتين",
        "طائرتين مسيرتين",
        "بطائرتين مسيرتين",
        "طائرة أميركية مسيّرة",
    ]


def test_ain_al_asad_query_finds_all_five_mentions():
    assert len(compile_query("عين الأسد").search(SEED)) == 5


@pytest.mark.parametrize("query", ["طائرة مسيرة", "عين الأسد"])
def test_hit_offsets_give_back_the_surface_text(query):
    for hit in compile_query(query).search(SEED):
        assert SEED[hit.start : hit.end] == hit.text


def test_protest_march_query_does_not_match_the_drone_article():
    assert compile_query("مسيرة احتجاجية").search(SEED) == []
