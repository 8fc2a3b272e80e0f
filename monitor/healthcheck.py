"""Asking a running rasid whether it is healthy: the container image's HEALTHCHECK.

``python -m monitor.healthcheck`` reads the same settings as the service it probes (the
container's ``RASID_CONFIG`` and environment), so it asks the address ``[web] listen``
names, whatever port that is, and prints the answer. ``/healthz`` by default: it answers
from the event loop the crawler runs on, so an answer means the process is not stuck, and
a database outage (which the service rides out by itself) never marks it unhealthy.
``--ready`` asks ``/readyz`` instead (the database answers and the scheduler runs).

Exit status as Docker reads it: 0 healthy, 1 unhealthy (a settings problem included:
the service cannot be running on settings that do not load). With ``[web] enabled =
false`` there is nothing to ask, which is reported and counted healthy. Proxies from the
environment are ignored: the probe goes to this machine.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence

from monitor.config import WebSettings, load_settings
from monitor.errors import ConfigError

TIMEOUT_SECONDS = 5.0
# A service listening on every interface is asked on loopback.
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}  # noqa: S104 - mapped, not bound


def probe_url(web: WebSettings, path: str) -> str:
    """The URL of ``path`` on the address ``[web] listen`` names."""
    host = web.listen.rpartition(":")[0]
    host = _WILDCARDS.get(host.strip("[]"), host)
    return f"http://{host}:{web.port}{path}"


def check(url: str, timeout: float = TIMEOUT_SECONDS) -> tuple[bool, str]:
    """(healthy, what was answered) for one GET of ``url``."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            body = response.read(512).decode("utf-8", "replace").strip()
            return response.status == 200, f"{response.status} {body}"
    except urllib.error.HTTPError as exc:
        body = exc.read(512).decode("utf-8", "replace").strip()
        return False, f"{exc.code} {body}"
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        return False, f"no answer: {reason}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m monitor.healthcheck",
        description="Ask the rasid running on these settings whether it is healthy.",
    )
    parser.add_argument("--config", help="Settings file (default: as `rasid` finds it).")
    parser.add_argument(
        "--ready", action="store_true", help="Ask /readyz (database, scheduler), not /healthz."
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    if not settings.web.enabled:
        print("[web] enabled = false: no health endpoint to ask")
        return 0
    url = probe_url(settings.web, "/readyz" if args.ready else "/healthz")
    healthy, answer = check(url)
    print(f"{'healthy' if healthy else 'unhealthy'}: {url} {answer}")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
