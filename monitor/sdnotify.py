"""Telling systemd how the service is doing: the sd_notify protocol, without libsystemd.

Under a unit with ``Type=notify`` (deploy/systemd/rasid.service) systemd passes the path
of a datagram socket in ``NOTIFY_SOCKET``, and the service sends it newline-separated
``KEY=VALUE`` lines (sd_notify(3)): ``READY=1`` once it works (until then ``systemctl
start`` waits), ``WATCHDOG=1`` at least once per ``WatchdogSec`` (a service that goes
quiet that long is killed and restarted), ``RELOADING=1`` while it reloads its settings,
``STOPPING=1`` when it begins to stop, and ``STATUS=`` a line ``systemctl status`` shows.

Outside systemd (no ``NOTIFY_SOCKET``) every call does nothing and returns False, so the
service makes them unconditionally. A socket path starting with ``@`` is in Linux's
abstract namespace: the ``@`` stands for a leading NUL byte.

Guarantees: no call raises. A message that cannot be sent (the socket is gone, systemd
restarting) is logged once until a send succeeds again, not once per watchdog ping, and
the call returns False: the service's work never depends on systemd hearing it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping
from datetime import timedelta

logger = logging.getLogger(__name__)

SOCKET_ENV_VAR = "NOTIFY_SOCKET"
WATCHDOG_USEC_ENV_VAR = "WATCHDOG_USEC"
WATCHDOG_PID_ENV_VAR = "WATCHDOG_PID"

# Whether the last send failed: a failure is logged when it starts, not on every ping.
_failing = False


def notify(*fields: str, env: Mapping[str, str] | None = None) -> bool:
    """Send ``fields`` ("READY=1", "STATUS=...") as one message; True when sent."""
    global _failing
    env = os.environ if env is None else env
    path = env.get(SOCKET_ENV_VAR, "")
    if not path:
        return False
    if path.startswith("@"):
        address = "\0" + path[1:]
    elif path.startswith("/"):
        address = path
    else:
        # systemd 254+ may pass "vsock:..." to a virtual machine's init: not ours to serve.
        _failed(f"{SOCKET_ENV_VAR}={path!r} is not a Unix socket path")
        return False
    message = "\n".join(fields).encode("utf-8")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message, address)
    except OSError as exc:
        _failed(f"cannot notify systemd at {path}: {exc}")
        return False
    if _failing:
        logger.info("notifying systemd at %s works again", path)
        _failing = False
    return True


def _failed(reason: str) -> None:
    global _failing
    if not _failing:
        logger.warning("%s (the service goes on; systemd may time it out)", reason)
        _failing = True


def ready(status: str | None = None, *, env: Mapping[str, str] | None = None) -> bool:
    """The service is started (or has finished reloading) and works."""
    fields = ["READY=1"] if status is None else ["READY=1", _status_field(status)]
    return notify(*fields, env=env)


def reloading(*, env: Mapping[str, str] | None = None) -> bool:
    """The service begins to reload its settings; :func:`ready` says when it is done.

    MONOTONIC_USEC is what ``Type=notify-reload`` (systemd 253+) matches against the
    moment it sent SIGHUP, to tell this reload from an earlier one.
    """
    now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify("RELOADING=1", f"MONOTONIC_USEC={now}", env=env)


def stopping(*, env: Mapping[str, str] | None = None) -> bool:
    """The service begins to stop (systemd no longer expects watchdog pings)."""
    return notify("STOPPING=1", env=env)


def status(text: str, *, env: Mapping[str, str] | None = None) -> bool:
    """A one-line state for ``systemctl status`` ("polling 8 sources", "database down")."""
    return notify(_status_field(text), env=env)


def watchdog(*, env: Mapping[str, str] | None = None) -> bool:
    """The service is alive: resets the ``WatchdogSec`` countdown."""
    return notify("WATCHDOG=1", env=env)


def watchdog_interval(
    *, env: Mapping[str, str] | None = None, pid: int | None = None
) -> timedelta | None:
    """How often systemd expects :func:`watchdog`, or None when it does not watch.

    As sd_watchdog_enabled(3): ``WATCHDOG_USEC`` microseconds, for this process only
    when ``WATCHDOG_PID`` names another one (a child that inherited the environment).
    Pinging at half the interval or more often leaves room for a slow tick.
    """
    env = os.environ if env is None else env
    owner = env.get(WATCHDOG_PID_ENV_VAR)
    if owner is not None and owner.strip() != str(os.getpid() if pid is None else pid):
        return None
    try:
        microseconds = int(env.get(WATCHDOG_USEC_ENV_VAR, ""))
    except ValueError:
        return None
    return timedelta(microseconds=microseconds) if microseconds > 0 else None


def _status_field(text: str) -> str:
    # One message is newline-separated fields: a newline in the text would start another.
    return "STATUS=" + " ".join(text.split())
