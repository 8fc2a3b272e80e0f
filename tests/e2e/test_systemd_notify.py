"""`rasid run` under systemd's notify protocol (deploy/systemd/rasid.service,
Type=notify): READY once it works, WATCHDOG at its poll ticks, RELOADING then READY
around SIGHUP, STOPPING at SIGTERM, each read from a real datagram socket bound where
systemd's would be."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Rasid, clean_env, settings_text

# An idle service with no sources is ready in about a second here.
STARTED_WITHIN = 20.0


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    # A short directory: a Unix socket path is at most 107 bytes.
    with tempfile.TemporaryDirectory(prefix="rasid-") as directory:
        path = str(Path(directory) / "notify")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(path)
            yield sock, path


def _rasid(tmp_path: Path, **crawl: object) -> Rasid:
    """No sources, and SQLite: the protocol does not depend on the database."""
    config = tmp_path / "settings.toml"
    database = f"sqlite:///{tmp_path / 'rasid.db'}"
    text = settings_text(database_url=database, sources={}, webhook_url=None, crawl=crawl)
    config.write_text(text, encoding="utf-8")
    return Rasid(config)


def _start_under_systemd(rasid: Rasid, socket_path: str) -> subprocess.Popen[str]:
    env = {**clean_env(), "NOTIFY_SOCKET": socket_path, "WATCHDOG_USEC": "10000000"}
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(rasid.config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=rasid.config.parent,
    )


def _messages_until(
    sock: socket.socket, wanted, timeout: float, process: subprocess.Popen[str] | None = None
) -> list[list[str]]:
    """Messages (each a list of fields) received until ``wanted(messages)`` holds, the
    time is up, or ``process`` has ended."""
    received: list[list[str]] = []
    deadline = time.monotonic() + timeout
    while not wanted(received) and time.monotonic() < deadline:
        sock.settimeout(0.2)
        try:
            received.append(sock.recv(4096).decode("utf-8").split("\n"))
        except TimeoutError:
            if process is not None and process.poll() is not None:
                break
    return received


def _count(messages: list[list[str]], field: str) -> int:
    return sum(field in message for message in messages)


def test_the_service_says_it_is_ready_alive_and_stopping(tmp_path, notify_socket):
    sock, path = notify_socket
    process = _start_under_systemd(_rasid(tmp_path, poll_tick="200ms"), path)
    try:
        started = _messages_until(
            sock,
            lambda got: _count(got, "READY=1") and _count(got, "WATCHDOG=1") >= 2,
            STARTED_WITHIN,
            process,
        )
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
    stopped = _messages_until(sock, lambda got: _count(got, "STOPPING=1"), 5)

    assert process.returncode == 0, err
    assert _count(started, "READY=1") == 1
    assert _count(started, "WATCHDOG=1") >= 2
    assert _count(stopped, "STOPPING=1") == 1


def test_sighup_is_a_reload_systemd_can_follow(tmp_path, notify_socket):
    sock, path = notify_socket
    process = _start_under_systemd(_rasid(tmp_path), path)
    try:
        _messages_until(sock, lambda got: _count(got, "READY=1"), STARTED_WITHIN, process)
        sent_at = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        process.send_signal(signal.SIGHUP)
        reload = _messages_until(sock, lambda got: _count(got, "READY=1"), 30, process)
        still_running = process.poll() is None
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)

    assert still_running, err
    reloading = next(message for message in reload if "RELOADING=1" in message)
    (monotonic,) = [field for field in reloading if field.startswith("MONOTONIC_USEC=")]
    assert int(monotonic.partition("=")[2]) >= sent_at
    assert reload.index(reloading) < max(i for i, m in enumerate(reload) if "READY=1" in m)
