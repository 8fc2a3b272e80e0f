"""The issue 16 benchmarks (bench/alert_delivery.py, digest.py, alert_backlog.py) run, at
a tiny size, and count what they should; their times are not looked at."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str):
    path = list(sys.path)
    sys.path.insert(0, str(BENCH))  # the scripts import each other, as run from bench/
    try:
        return importlib.import_module(name)
    finally:
        sys.path[:] = path  # the other tests need bench/ off the path


alert_delivery = _load("alert_delivery")


@pytest.fixture
def receivers():
    receiver, inbox = alert_delivery.Receiver(), alert_delivery.SmtpInbox()
    try:
        yield receiver, inbox
    finally:
        receiver.stop()
        inbox.stop()


@pytest.mark.parametrize("kind", alert_delivery.KINDS)
def test_every_queued_alert_arrives_as_one_message_of_its_kind(kind, receivers, tmp_path):
    receiver, inbox = receivers

    row = alert_delivery.deliver_kind(kind, 3, None, tmp_path, receiver, inbox)

    assert (row.alerts, row.messages, row.summary.failed, row.summary.dead) == (3, 3, 0, 0)


def test_sixty_alerts_queued_at_once_reach_slack_as_three_messages(receivers, tmp_path):
    receiver, inbox = receivers

    row = alert_delivery.slack_paced_at_once(None, tmp_path, receiver, inbox)

    assert (row.alerts, row.messages) == (60, 3)


def _run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_digest_bench_sends_one_digest_of_every_match_to_each_channel():
    out = _run("digest.py", "--matches", "40", "--stories", "12")

    assert "Digest of 40 matches in 12 stories from 8 outlets" in out
    assert "send: one dispatch round, 3 sent" in out


def test_the_backlog_bench_drains_the_backlog_and_delivers_the_new_stories():
    out = _run("alert_backlog.py", "--backlog", "20", "--stories", "2", "--every", "0.3")

    assert "Backlog of 20 alerts under `rasid run` (SQLite; 20 delivered)" in out
    delivered = re.search(r"new stories \((\d+) of (\d+) delivered", out)
    assert delivered is not None and delivered[1] == delivered[2]
