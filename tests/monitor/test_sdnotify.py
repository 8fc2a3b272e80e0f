"""sd_notify messages arrive, as systemd reads them, on a real Unix datagram socket."""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from monitor import sdnotify


@pytest.fixture
def systemd():
    """A datagram socket bound where systemd's would be, and the environment naming it.

    Bound in a short temporary directory: a Unix socket path is at most 107 bytes, which
    pytest's tmp_path can exceed.
    """
    with tempfile.TemporaryDirectory(prefix="rasid-") as directory:
        path = str(Path(directory) / "notify")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(path)
            sock.settimeout(2)
            yield sock, {"NOTIFY_SOCKET": path}


@pytest.fixture(autouse=True)
def _fresh_failure_state(monkeypatch):
    monkeypatch.setattr(sdnotify, "_failing", False)


def _received(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode("utf-8").split("\n")


def test_ready_is_sent_to_the_socket_named_by_notify_socket(systemd):
    sock, env = systemd

    assert sdnotify.ready(env=env)
    assert _received(sock) == ["READY=1"]


def test_ready_can_carry_a_status_line(systemd):
    sock, env = systemd

    assert sdnotify.ready("polling 8 sources", env=env)
    assert _received(sock) == ["READY=1", "STATUS=polling 8 sources"]


def test_the_process_environment_is_read_when_none_is_given(systemd, monkeypatch):
    sock, env = systemd
    monkeypatch.setenv("NOTIFY_SOCKET", env["NOTIFY_SOCKET"])

    assert sdnotify.stopping()
    assert _received(sock) == ["STOPPING=1"]


def test_an_abstract_socket_is_reached_through_its_at_sign_name():
    name = f"rasid-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)

        assert sdnotify.watchdog(env={"NOTIFY_SOCKET": "@" + name})
        assert _received(sock) == ["WATCHDOG=1"]


def test_reloading_carries_the_monotonic_time_systemd_matches_it_by(systemd):
    sock, env = systemd
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000

    assert sdnotify.reloading(env=env)
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000

    reload_field, monotonic_field = _received(sock)
    assert reload_field == "RELOADING=1"
    name, _, value = monotonic_field.partition("=")
    assert name == "MONOTONIC_USEC"
    assert before <= int(value) <= after


def test_a_status_with_line_breaks_stays_one_field(systemd):
    sock, env = systemd

    assert sdnotify.status("database unavailable:\nretrying", env=env)
    assert _received(sock) == ["STATUS=database unavailable: retrying"]


def test_arabic_status_text_is_sent_as_utf8(systemd):
    sock, env = systemd

    assert sdnotify.status("راصد يعمل", env=env)
    assert _received(sock) == ["STATUS=راصد يعمل"]


def test_without_notify_socket_nothing_is_sent_and_nothing_fails(systemd):
    sock, _ = systemd
    sock.settimeout(0.2)

    assert not sdnotify.ready(env={})
    assert not sdnotify.watchdog(env={"NOTIFY_SOCKET": ""})
    with pytest.raises(TimeoutError):
        sock.recv(4096)


def test_a_vanished_socket_is_logged_once_and_never_raises(caplog):
    with tempfile.TemporaryDirectory(prefix="rasid-") as directory:
        env = {"NOTIFY_SOCKET": str(Path(directory) / "gone")}
        with caplog.at_level(logging.WARNING, logger="monitor.sdnotify"):
            assert not sdnotify.watchdog(env=env)
            assert not sdnotify.watchdog(env=env)

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "cannot notify systemd" in warnings[0].getMessage()


def test_sending_works_again_after_a_failure_and_says_so(systemd, caplog):
    sock, env = systemd
    gone = {"NOTIFY_SOCKET": env["NOTIFY_SOCKET"] + "-gone"}
    with caplog.at_level(logging.INFO, logger="monitor.sdnotify"):
        assert not sdnotify.watchdog(env=gone)
        assert sdnotify.watchdog(env=env)

    assert _received(sock) == ["WATCHDOG=1"]
    assert "works again" in caplog.text


def test_a_socket_that_is_not_a_unix_path_is_refused_without_raising(caplog):
    with caplog.at_level(logging.WARNING, logger="monitor.sdnotify"):
        assert not sdnotify.ready(env={"NOTIFY_SOCKET": "vsock:2:1234"})

    assert "is not a Unix socket path" in caplog.text


def test_the_watchdog_interval_is_read_from_watchdog_usec():
    env = {"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid())}

    assert sdnotify.watchdog_interval(env=env) == timedelta(seconds=60)
    assert sdnotify.watchdog_interval(env={"WATCHDOG_USEC": "1500000"}) == timedelta(seconds=1.5)


def test_the_watchdog_is_not_this_process_when_watchdog_pid_names_another():
    env = {"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "1"}

    assert sdnotify.watchdog_interval(env=env, pid=4242) is None
    assert sdnotify.watchdog_interval(env=env, pid=1) == timedelta(seconds=60)


@pytest.mark.parametrize("usec", ["", "0", "-5", "soon"])
def test_no_watchdog_without_a_positive_interval(usec):
    assert sdnotify.watchdog_interval(env={"WATCHDOG_USEC": usec}) is None


def test_no_watchdog_outside_systemd():
    assert sdnotify.watchdog_interval(env={}) is None
