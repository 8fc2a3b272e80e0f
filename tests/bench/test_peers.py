"""bench/peers.py runs at a tiny size and rasid stores every item it serves; the
times are not looked at."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_peers_bench_runs_rasid_on_its_local_feeds():
    result = subprocess.run(
        [
            sys.executable,
            "bench/peers.py",
            *("--feeds", "3", "--items", "4", "--rounds", "1"),
            "--tools",
            "rasid",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert "(12 new entries)" in result.stdout
    assert "rasid stored" not in result.stdout  # every served item was a new article
    [row] = [line for line in result.stdout.splitlines() if line.startswith("rasid ")]
    assert len(row.split()) == 7  # name, then six figures
