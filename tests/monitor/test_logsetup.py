"""The service's log: text lines for a terminal, one JSON object per line for a collector.

``setup_logging`` configures the root logger once per process, so it is checked in a
fresh interpreter (this one's logging belongs to pytest), and through the real command.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from monitor.logsetup import JsonFormatter
from tests.support.http import LocalServer, Reply

PROJECT_ROOT = Path(__file__).resolve().parents[2]

LOG_SOME = """
import logging, sys
from monitor.config import Settings
from monitor.logsetup import setup_logging

setup_logging(Settings(), sys.argv[1])
log = logging.getLogger("monitor.example")
log.info("مصدر %s: تم", "الجزيرة", extra={"source": "aljazeera", "polled": 3})
try:
    1 / 0
except ZeroDivisionError:
    log.exception("storing failed")
logging.getLogger("scrapy.core").info("chatty library")
"""


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("RASID_")}


def _log_some(fmt: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", LOG_SOME, fmt],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=_env(),
        check=True,
    )
    return result.stderr.splitlines()


def _record(**extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord(
        {"name": "monitor.service", "levelno": logging.WARNING, "levelname": "WARNING"}
    )
    record.msg, record.args = "source %s: %s", ("news", "HTTP 503")
    record.__dict__.update(extra)
    return record


def test_a_json_line_carries_time_level_logger_message_and_extra_fields():
    line = JsonFormatter().format(_record(source="news", attempt=2))

    entry = json.loads(line)
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "monitor.service"
    assert entry["message"] == "source news: HTTP 503"
    assert (entry["source"], entry["attempt"]) == ("news", 2)
    assert datetime.fromisoformat(entry["time"]).utcoffset() == timedelta(0)
    assert "exception" not in entry


def test_an_extra_field_json_cannot_hold_is_written_as_text():
    moment = datetime(2026, 3, 1, 12, 0)

    entry = json.loads(JsonFormatter().format(_record(next_poll=moment)))

    assert entry["next_poll"] == "2026-03-01 12:00:00"


def test_json_logging_writes_one_parsable_object_per_line_with_the_traceback():
    lines = _log_some("json")

    entries = [json.loads(line) for line in lines]
    assert [entry["message"] for entry in entries] == ["مصدر الجزيرة: تم", "storing failed"]
    assert entries[0]["source"] == "aljazeera"
    assert "ZeroDivisionError: division by zero" in entries[1]["exception"]
    assert "Traceback" in entries[1]["exception"]


def test_text_logging_keeps_its_line_format_and_quiets_chatty_libraries():
    lines = _log_some("text")

    assert lines[0].endswith(" INFO monitor.example: مصدر الجزيرة: تم")
    assert lines[1].endswith(" ERROR monitor.example: storing failed")
    assert "ZeroDivisionError: division by zero" in lines[-1]
    assert not any("chatty library" in line for line in lines)


def test_the_command_logs_json_when_asked_by_option_or_environment(server: LocalServer, tmp_path):
    server.route("/feed.xml", Reply(404, "gone"))
    config = tmp_path / "settings.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "rasid.db"}"\n'
        '[crawl]\nallow_private_networks = true\ntimeout = "5s"\nautothrottle = false\n'
        f'[[sources]]\nname = "gone"\nurl = "{server.url("/feed.xml")}"\n',
        encoding="utf-8",
    )
    by_option = [sys.executable, "-m", "monitor", "--log-format", "json"]
    by_env = [sys.executable, "-m", "monitor"]
    runs = [(by_option, _env()), (by_env, {**_env(), "RASID_LOG_FORMAT": "json"})]

    for command, env in runs:
        result = subprocess.run(
            [*command, "--config", str(config), "run", "--once"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=120,
            check=False,
        )
        logged = [json.loads(line) for line in result.stderr.splitlines()]
        assert any(
            entry["level"] == "WARNING" and entry["message"].startswith("source gone:")
            for entry in logged
        ), result.stderr
