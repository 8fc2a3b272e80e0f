"""What the end-to-end tests of the web need: the address a running command prints, and
an account made the way an admin makes one. (Whether Chromium is there for the browser
tests is decided with PostgreSQL's in tests/conftest.py, by the ``browser`` marker.)"""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.e2e.conftest import clean_env

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
