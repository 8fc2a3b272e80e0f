"""What the end-to-end tests of the web need: the address a running command prints, an
account made the way an admin makes one, and Debian's Chromium (or why it is missing)."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import clean_env

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "a long enough password"
ADDRESS = re.compile(r"web page and API: (http://127\.0\.0\.1:\d+)")


def web_address(process: subprocess.Popen[str], timeout: float = 60) -> str:
    """The address `rasid run` or `rasid web` prints when it listens (its stdout piped),
    read by a thread so that a silent command fails after ``timeout`` instead of hanging."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen = []
    deadline = time.monotonic() + timeout
    while (line := lines.get(timeout=max(deadline - time.monotonic(), 0.1))) is not None:
        seen.append(line)
        if found := ADDRESS.search(line):
            return found.group(1)
    raise AssertionError(f"no web address was printed: {''.join(seen)!r}")


def add_user(config: Path, name: str, role: str = "admin") -> None:
    """`rasid users add NAME --role ROLE --password-stdin`, as a deployment script runs it."""
    added = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor",
            "--config",
            str(config),
            "users",
            "add",
            name,
            "--role",
            role,
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        env=clean_env(),
        check=False,
    )
    assert added.returncode == 0, added.stderr


def chromium() -> Path:
    """Debian's Chromium; skips the module with the reason when it is not installed,
    unless $RASID_REQUIRE_BROWSER=1 (set by .ci/run), which makes that an error."""
    if not CHROMIUM.exists():
        reason = "Debian's chromium is not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("RASID_REQUIRE_BROWSER") == "1":
            raise RuntimeError(f"RASID_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason, allow_module_level=True)
    return CHROMIUM
