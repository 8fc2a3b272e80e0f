"""`rasid run` serves the web page from its own loop; `rasid web` serves it alone; an
address beyond loopback without any user is refused at start (scenario 37)."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.e2e.conftest import Rasid, clean_env, settings_text, start_service, stop_service
from tests.e2e.web import add_user, web_address


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _rasid(tmp_path: Path, news_site, web: dict[str, object] | None = None) -> Rasid:
    config = tmp_path / "settings.toml"
    config.write_text(
        settings_text(
            database_url=f"sqlite:///{tmp_path / 'rasid.db'}",
            sources={"site": news_site.feed_url},
            webhook_url=None,
            web=web,
        ),
        encoding="utf-8",
    )
    return Rasid(config)


def test_rasid_run_serves_the_page_and_probes_from_its_loop(tmp_path, news_site):
    rasid = _rasid(tmp_path, news_site)
    process = start_service(rasid)
    try:
        address = web_address(process)
        assert _get(f"{address}/healthz")[0] == 200
        status, body = _get(f"{address}/readyz")
        assert status == 200, body
        status, page = _get(f"{address}/sources")
        assert status == 200 and 'dir="rtl"' in page and "site" in page
        assert "rasid_polls_total" in _get(f"{address}/metrics")[1]
    finally:
        code, err = stop_service(process)
    assert code == 0, err
    assert "Traceback" not in err


def test_listening_beyond_loopback_without_a_user_is_refused(tmp_path, news_site):
    rasid = _rasid(tmp_path, news_site, web={"listen": "0.0.0.0:0"})
    result = rasid.run("run", timeout=60)
    assert result.returncode == 2
    assert "[web] listen" in result.stderr and "rasid users add" in result.stderr
    assert "Traceback" not in result.stderr


def test_rasid_web_serves_without_crawling(tmp_path, news_site):
    rasid = _rasid(tmp_path, news_site)
    add_user(rasid.config, "amal")
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(rasid.config), "web"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        address = web_address(process)
        status, page = _get(f"{address}/login")
        assert status == 200 and 'name="password"' in page
        assert _get(f"{address}/readyz")[0] == 200  # no scheduler is asked of `rasid web`
        assert news_site.server.requests_to("/feeds/main.xml") == []  # it crawls nothing
    finally:
        code, err = stop_service(process)
    assert code == 0, err


def test_web_writes_beside_polling_never_meet_a_locked_sqlite(tmp_path, news_site):
    """Scenario 31, shortened: the service polls every 200 ms and delivers while the
    page saves watchlists as fast as it can; no write fails on a locked database."""
    import time

    import httpx

    config = tmp_path / "settings.toml"
    config.write_text(
        settings_text(
            database_url=f"sqlite:///{tmp_path / 'rasid.db'}",
            sources={"site": news_site.feed_url},
            webhook_url=None,
            crawl={"poll_tick": "200ms", "min_interval": "1s"},
            interval="1s",
        ),
        encoding="utf-8",
    )
    process = start_service(Rasid(config))
    saved = 0
    try:
        address = web_address(process)
        with httpx.Client(base_url=address, timeout=10) as client:
            page = client.get("/watchlists/new").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline:
                answer = client.post(
                    "/watchlists/save",
                    data={
                        "csrf_token": token,
                        "create": "true",
                        "name": f"w{saved}",
                        "queries": "طائرة مسيرة",
                        "slop": "1",
                        "enabled": "true",
                    },
                )
                assert answer.status_code == 303, answer.text
                saved += 1
    finally:
        code, err = stop_service(process)
    assert code == 0, err
    assert saved > 20
    assert "locked" not in err
    assert len(news_site.server.requests_to("/feeds/main.xml")) >= 3  # it kept polling
