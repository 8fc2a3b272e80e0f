"""bench/real_text.py on two tiny articles written here (never the ANT sample)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "real_text.py"


def _load():
    path = list(sys.path)
    spec = importlib.util.spec_from_file_location("real_text", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["real_text"] = module  # dataclasses look their module up by name
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = path  # the script puts bench/ first; the other tests need it not
    return module


real_text = _load()
Article, Found, Judgment = real_text.Article, real_text.Found, real_text.Judgment

ARTICLES = [
    Article("A-1", "test", "العراق اليوم", "زار الوزير العراق أمس. وقال إن العراق بلد كبير"),
    Article("A-2", "test", "خبر", "وصل وفد إلى بغداد ثم عاد والعراق يستعد للانتخابات"),
]


def _found(docno: str, start: int, form: str, query: str = "العراق") -> object:
    return Found(query, docno, "body", start, start + len(form), form, form)


def _write(path: Path, articles: list[object]) -> Path:
    rows = [
        {"docno": a.docno, "source": a.source, "title": a.title, "body": a.body} for a in articles
    ]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def test_forms_are_counted_per_query_most_frequent_first():
    found, refused = real_text.find_hits("monitor", ["العراق"], ARTICLES)
    figures = real_text.figures_of("العراق", found["العراق"])
    assert refused == {}
    assert (figures.articles, figures.hits) == (2, 4)
    assert figures.forms == [("العراق", 3), ("والعراق", 1)]


def test_forms_are_the_hit_text_as_the_matcher_compares_it():
    assert real_text.form_of("طائرة  مسيّرة") == "طايره مسيره"


def test_before_and_after_give_the_forms_and_articles_gained_and_lost():
    before = [_found("A-1", 0, "العراق"), _found("A-2", 5, "والعراق"), _found("A-3", 9, "عراقة")]
    after = [
        _found("A-1", 0, "العراق"),
        _found("A-2", 5, "والعراق"),
        _found("A-4", 2, "العراقية"),
        _found("A-4", 30, "العراقية"),
        _found("A-1", 40, "عراقي"),
    ]
    change = real_text.compare("العراق", before, after)
    assert (change.articles_before, change.hits_before) == (3, 3)
    assert change.articles_gained == ["A-4"]
    assert change.articles_lost == ["A-3"]
    assert change.forms_gained == [("العراقية", 2), ("عراقي", 1)]
    assert change.forms_lost == [("عراقة", 1)]
    assert [hit.start for hit in change.gained] == [2, 30, 40]


def test_precision_counts_the_judged_hits_still_found_and_lists_the_others():
    found = {
        "العراق": [_found("A-1", 0, "العراق"), _found("A-1", 20, "عراقة"), _found("A-2", 5, "x")]
    }
    judgments = [
        Judgment("العراق", "A-1", "body", 0, "العراق", True, ""),
        Judgment("العراق", "A-1", "body", 20, "عراقة", False, "form: heritage"),
        Judgment("العراق", "A-9", "body", 3, "العراقي", True, ""),  # now lost
        Judgment("العراق", "A-2", "body", 5, "x", None, ""),  # not judged yet
        Judgment("صلاح", "A-1", "body", 7, "صلاحية", False, "form: validity"),  # not run
    ]
    verdicts = real_text.judge(found, judgments)
    [row] = verdicts.per_query
    assert (row.judged, row.correct, row.value, row.unjudged) == (2, 1, 0.5, 1)
    assert [j.docno for j in verdicts.correct_lost] == ["A-9"]
    assert [j.text for j in verdicts.false_found] == ["عراقة"]
    assert verdicts.not_run == 1
    assert verdicts.overall.value == 0.5


def test_an_absent_or_empty_judgments_file_holds_no_judgments(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n", "utf-8")
    assert real_text.read_judgments(tmp_path / "absent.jsonl") == []
    assert real_text.read_judgments(tmp_path / "empty.jsonl") == []


def test_the_shipped_judgments_file_reads():
    for judgment in real_text.read_judgments(real_text.JUDGMENTS):
        assert judgment.correct in (True, False, None)


def test_context_marks_the_hit_between_eight_words_either_side():
    text = " ".join(f"w{n}" for n in range(20))
    start = text.index("w10")
    shown = real_text.context(text, start, start + 3)
    assert shown == "…w2 w3 w4 w5 w6 w7 w8 w9 ⟦w10⟧ w11 w12 w13 w14 w15 w16 w17 w18…"


def test_a_missing_corpus_exits_2_saying_where_it_looked(tmp_path, capsys):
    missing = tmp_path / "ant_corpus_v2.1_sample.jsonl"
    with pytest.raises(SystemExit) as exit:
        real_text.main(["--corpus", str(missing)])
    assert exit.value.code == 2
    assert str(missing) in capsys.readouterr().err


def test_a_sample_is_written_for_a_reviewer_to_judge(tmp_path, capsys):
    corpus = _write(tmp_path / "tiny.jsonl", ARTICLES)
    sample = tmp_path / "sample.jsonl"
    real_text.main(
        [
            *("--corpus", str(corpus), "--query", "العراق", "--json"),
            *("--judgments", str(tmp_path / "none.jsonl")),
            *("--sample", "2", "--write-sample", str(sample)),
        ]
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed["articles"] == 2
    assert printed["queries"][0]["forms"] == {"العراق": 3, "والعراق": 1}
    assert all("⟦" in row["context"] for row in printed["sample"])
    written = [json.loads(line) for line in sample.read_text("utf-8").splitlines()]
    assert len(written) == 2
    assert {row["correct"] for row in written} == {None}


def test_against_a_revision_runs_its_engine_beside_the_working_tree(tmp_path, capsys):
    corpus = _write(tmp_path / "tiny.jsonl", ARTICLES)
    real_text.main(
        [
            *("--corpus", str(corpus), "--query", "بغداد", "--json"),
            *("--judgments", str(tmp_path / "none.jsonl"), "--against", "HEAD"),
        ]
    )
    [query] = json.loads(capsys.readouterr().out)["queries"]
    assert query["against"]["articles"] == 1
    assert query["against"]["forms_gained"] == query["against"]["forms_lost"] == {}
    assert "engine_against" not in sys.modules
