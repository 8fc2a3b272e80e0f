"""The Arabic matching development set (tests/fixtures/eval), scored on every run.

Precision must stay perfect (a false alert costs more than a miss). Recall: light
stemming alone misses broken plurals (دواعش, سدود, صواريخ, قتلى); rasid meets these
through its table of common news broken plurals (monitor/arabic/variants.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from monitor.matching import compile_query

CASES = Path(__file__).resolve().parents[2] / "fixtures" / "eval" / "arabic_dev_cases.jsonl"


def test_dev_set_precision_is_perfect_and_f1_high():
    cases = [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines() if line]
    outcomes = {"tp": [], "fp": [], "fn": [], "tn": []}
    for case in cases:
        found = bool(compile_query(case["query"]).search(case["text"]))
        key = ("t" if found == case["match"] else "f") + ("p" if found else "n")
        outcomes[key].append(case["id"])
    tp, fp, fn = len(outcomes["tp"]), len(outcomes["fp"]), len(outcomes["fn"])
    precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    f1 = 2 * precision * recall / (precision + recall)
    report = (
        f"{len(cases)} cases: precision {precision:.3f}, recall {recall:.3f}, F1 {f1:.3f}; "
        f"false positives {outcomes['fp']}, misses {outcomes['fn']}"
    )
    print(report)
    assert len(cases) == 106
    assert precision == 1.0, report
    assert f1 == 1.0, report
