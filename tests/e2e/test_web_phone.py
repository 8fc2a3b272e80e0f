"""Every page of the web fits a phone, in Arabic and in English, in Debian's Chromium.

tests/e2e/test_web_browser.py walks a newsroom's day at desktop width and checks one page
(/matches) at a phone's width. This test opens every page a signed-in admin reaches from
the header, with real rows in them (a source, the seed article matched, its alert, the
watchlist editor's live preview), in a 390 x 844 viewport, in both languages, and fails
on any page wider than the screen, naming the elements that stick out. On the way it
checks that /login lands on /matches and that the English switch sets `lang` and `dir`.

Skipped without /usr/bin/chromium unless $RASID_REQUIRE_BROWSER=1 (set by .ci/run).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.conftest import CHROMIUM
from tests.e2e.conftest import (
    NewsSite,
    Rasid,
    recent,
    settings_text,
    start_service,
    stop_service,
)
from tests.e2e.web import PASSWORD, add_user, web_address
from tests.support.http import Reply, local_server
from tests.support.site import seed_story

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
PAGES = (
    "/matches",
    "/watchlists",
    "/watchlists/new",
    "/search",
    "/sources",
    "/alerts",
    "/channels",
    "/users",
    "/account",
)
# Elements whose box leaves the screen on either side (RTL pages overflow to the left).
STICKING_OUT = """() => [...document.querySelectorAll('body *')]
  .filter(e => { const r = e.getBoundingClientRect();
                 return r.width > 0 && (r.right > innerWidth + 1 || r.left < -1); })
  .slice(0, 5)
  .map(e => e.tagName.toLowerCase() + (e.name ? `[name=${e.name}]` : '')
            + (e.className ? '.' + e.className : ''))"""


@pytest.fixture
def service(tmp_path: Path) -> Iterator[str]:
    """`rasid run` over SQLite polling a site with the seed article, its address."""
    with local_server() as server, local_server() as receiver:
        site = NewsSite(server, [])
        site.publish(seed_story(recent(1)))
        receiver.route("/hook", Reply(200, "ok", content_type="text/plain"))
        config = tmp_path / "settings.toml"
        config.write_text(
            settings_text(
                database_url=f"sqlite:///{tmp_path / 'rasid.db'}",
                sources={"site": site.feed_url},
                webhook_url=receiver.url("/hook"),
                crawl={"poll_tick": "200ms", "min_interval": "1s"},
                interval="1s",
            ),
            encoding="utf-8",
        )
        add_user(config, "amal")
        process = start_service(Rasid(config))
        try:
            yield web_address(process)
        finally:
            code, err = stop_service(process)
            assert code == 0, err
            assert "Traceback" not in err


def _width_problems(page: Page, address: str, language: str) -> dict[str, list[str]]:
    wide = {}
    for path in PAGES:
        page.goto(f"{address}{path}")
        expect(page.locator("html")).to_have_attribute("lang", language)
        if path == "/watchlists/new":
            # The editor with its live preview filled, as an editor on a phone sees it.
            page.fill("textarea[name=queries]", "طائرة مسيرة")
            page.fill("textarea[name=sample]", " ".join(seed_story(recent(1)).paragraphs))
            expect(page.locator("#preview mark").first).to_be_visible()
        if page.evaluate("document.documentElement.scrollWidth") > PHONE["width"]:
            wide[path] = page.evaluate(STICKING_OUT)
    return wide


def test_every_page_fits_a_phone_in_both_languages(service: str) -> None:
    address = service
    dialogs: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True
        )
        try:
            page = browser.new_page(viewport=PHONE, locale="ar")
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.set_default_timeout(20_000)

            page.goto(f"{address}/login")
            page.fill("input[name=name]", "amal")
            page.fill("input[name=password]", PASSWORD)
            page.click("button.primary")
            expect(page).to_have_url(f"{address}/matches")
            # The seed article matches the settings' drones watchlist after a poll.
            deadline = time.monotonic() + 60
            while not page.locator("#matches .card mark").count():
                assert time.monotonic() < deadline, "the seed article never matched"
                time.sleep(1)
                page.reload()

            wide = {"ar": _width_problems(page, address, "ar")}
            page.goto(f"{address}/matches")
            page.click("button[name=language][value=en]")
            expect(page.locator("html[dir=ltr][lang=en]")).to_have_count(1)
            expect(page.locator("nav")).to_contain_text("Watchlists")
            wide["en"] = _width_problems(page, address, "en")
            page.click("button[name=language][value=ar]")
            expect(page.locator("html[dir=rtl][lang=ar]")).to_have_count(1)
        finally:
            browser.close()

    for language, pages in wide.items():
        assert not pages, f"scrolls sideways on a phone ({language}): {pages}"
    assert dialogs == []
