"""bench/soak.py runs, at a tiny size for a few seconds, and its accounting holds: every
published item stored, every alert received once. Its times are not looked at."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"
TINY = ["--feeds", "40", "--queries", "30", "--rate", "2", "--interval", "4", "--sample", "2"]


def _soak(tmp_path: Path, *args: str) -> dict:
    report = tmp_path / "soak.json"
    done = subprocess.run(
        [sys.executable, str(SOAK), *TINY, "--drain", "60", "--json", str(report), *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    # 1: the run ended but its accounting found something; the report says what.
    assert done.returncode in (0, 1) and report.exists(), done.stdout[-3000:] + done.stderr
    return json.loads(report.read_text(encoding="utf-8"))


def _told(report: dict) -> dict:
    """What a failure needs to be understood (the report itself is long)."""
    keys = (
        "drained", "published_items", "articles_stored", "outbox_rows", "outbox_by_status",
        "outbox_by_kind", "deliveries", "distinct_delivered", "lost", "duplicates", "unknown",
        "story_duplicates",
    )  # fmt: skip
    return {key: report.get(key) for key in keys}


def _assert_nothing_lost_or_repeated(report: dict, *, killed: bool = False) -> None:
    """Every item stored, every alert sent and received, none unknown. Without a kill no
    alert arrives twice; after kill -9 an alert the killed instance had sent but not yet
    recorded as sent is sent again, with the same webhook-id (at least once: the
    receiver drops the repeat by its id), never a third time."""
    told = _told(report)
    assert report["drained"], told
    assert report["published_items"] > 0, told
    assert report["articles_stored"] == report["published_items"], told
    assert report["deliveries"] > 0, told
    assert report["outbox_by_status"] == {"sent": report["outbox_rows"]}, told
    assert report["distinct_delivered"] == report["outbox_rows"], told
    assert (report["lost"], report["unknown"]) == ([], []), told
    if killed:
        assert all(repeat["count"] == 2 for repeat in report["duplicates"].values()), told
    else:
        assert report["deliveries"] == report["distinct_delivered"], told
        assert report["duplicates"] == {}, told


def test_a_short_soak_on_sqlite_stores_every_item_and_delivers_each_alert_once(tmp_path):
    report = _soak(tmp_path, "--minutes", "0.25")

    _assert_nothing_lost_or_repeated(report)
    assert report["story_duplicates"] == {}
    assert report["polls"] > 0
    assert all(m["peak_mb"] for m in report["memory"])
    assert report["command"].startswith(".venv/bin/python bench/soak.py")


@pytest.mark.postgres
def test_two_instances_on_postgresql_with_one_killed_lose_and_repeat_nothing(tmp_path):
    report = _soak(
        tmp_path, "--minutes", "0.3", "--database", "postgres", "--instances", "2",
        "--kill-at", "0.1",
    )  # fmt: skip

    # The story index is shared through the database (monitor/stories.py): copies of
    # one story stored by the two instances alert once.
    _assert_nothing_lost_or_repeated(report, killed=True)
    assert report["story_duplicates"] == {}
    killed = report["instances"][1]
    assert killed["killed_at_s"] is not None and killed["stop_s"] is None
    assert report["instances"][0]["exit_code"] == 0
