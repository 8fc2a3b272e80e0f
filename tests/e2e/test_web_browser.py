"""A newsroom's day in a real browser: Debian's Chromium driven by Playwright against
`rasid run` polling a local news site and delivering to a local receiver.

One service and one browser for the whole day, in one test (the steps depend on each
other, and pytest-xdist would split separate tests across processes): sign in, write a
watchlist with the live preview and exclude a form it matched, see a match appear after
a poll, retry a dead alert, check hostile feed strings are shown as text (scenario 18),
switch to English and back. The steps take the screenshots in docs/img.

Chromium comes from Debian (`.ci/run` installs it); Playwright downloads nothing. Without
/usr/bin/chromium the test is skipped with the reason, unless $RASID_REQUIRE_BROWSER=1
(set by .ci/run), which makes it fail instead.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright
from sqlalchemy import create_engine, text

from tests.conftest import CHROMIUM
from tests.e2e.conftest import (
    NewsSite,
    Rasid,
    recent,
    seed_story,
    settings_text,
    start_service,
    stop_service,
)
from tests.e2e.web import PASSWORD, add_user, web_address
from tests.support.http import LocalServer, Reply, local_server
from tests.support.site import Story

pytestmark = pytest.mark.browser
# The docs' screenshots are rewritten when RASID_SCREENSHOTS=1 (they show the time, so
# every run would change them); otherwise they are still taken, into a temporary folder.
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
PROTEST = "وفي بغداد خرجت مسيرة احتجاجية تنديدا بارتفاع الأسعار."


def _hostile_feed(base: str, hostile: bool) -> Reply:
    item = ""
    if hostile:
        item = (
            "<item><title><![CDATA[<img src=x onerror=alert(1)> طائرة مسيرة فوق الميناء]]>"
            "</title>"
            '<link>javascript:alert(2)</link><guid isPermaLink="false">hostile-1</guid>'
            "<description>&lt;script&gt;alert(3)&lt;/script&gt; رصدت طائرة مسيرة فوق "
            "الميناء صباح اليوم.</description></item>"
        )
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>مصدر</title><link>{base}/</link><description>أخبار</description>{item}"
        "</channel></rss>"
    )
    return Reply(body=body.encode(), content_type="application/rss+xml; charset=utf-8")


@pytest.fixture
def day(tmp_path: Path) -> Iterator[tuple[str, NewsSite, LocalServer, LocalServer, str]]:
    """The running service (its address), the news site, the hostile feed's server, the
    alert receiver and the database URL."""
    with local_server() as server, local_server() as receiver:
        site = NewsSite(server, [])
        site.publish(
            Story("oil", "أسعار النفط ترتفع", ["ارتفعت أسعار النفط اليوم."] * 3, recent(2))
        )
        server.route("/raw.xml", _hostile_feed(server.url("").rstrip("/"), hostile=False))
        receiver.route("/hook", Reply(410, "gone", content_type="text/plain"))
        config = tmp_path / "settings.toml"
        config.write_text(
            settings_text(
                database_url=f"sqlite:///{tmp_path / 'rasid.db'}",
                sources={"site": site.feed_url, "raw": server.url("/raw.xml")},
                webhook_url=receiver.url("/hook"),
                watchlists={"militias": ["الحشد الشعبي"]},
                crawl={"poll_tick": "200ms", "min_interval": "1s"},
                interval="1s",
                web={"time_zone": "Asia/Baghdad"},
            ),
            encoding="utf-8",
        )
        rasid = Rasid(config)
        add_user(config, "amal")
        process = start_service(rasid)
        try:
            yield web_address(process), site, server, receiver, f"sqlite:///{tmp_path / 'rasid.db'}"
        finally:
            code, err = stop_service(process)
            assert code == 0, err
            assert "Traceback" not in err


def _reload_until(page: Page, url: str, selector: str, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        page.goto(url)
        if text in " ".join(page.locator(selector).all_inner_texts()):
            return
        assert time.monotonic() < deadline, f"{text!r} never showed in {selector} at {url}"
        time.sleep(1)


def _shot(page: Page, name: str) -> None:
    folder = DOCS_IMG if os.environ.get("RASID_SCREENSHOTS") == "1" else SHOTS
    folder.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(folder / f"{name}.png"), full_page=False)
    assert (folder / f"{name}.png").stat().st_size > 10_000  # a page, not a blank


SHOTS = Path(tempfile.gettempdir()) / "rasid-screenshots"


def test_a_newsroom_day_in_the_browser(day) -> None:
    address, site, server, receiver, database = day
    dialogs: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="ar")
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.set_default_timeout(20_000)
            _sign_in(page, address)
            _write_a_watchlist(page, address)
            _see_a_match_after_a_poll(page, address, site)
            _retry_a_dead_alert(page, address, receiver)
            _english_and_back(page, address)
            _hostile_strings_are_text(page, address, server, database)
            _phone(browser, page, address)
        finally:
            browser.close()
    assert dialogs == [], "a feed string ran as script"


def _sign_in(page: Page, address: str) -> None:
    page.goto(f"{address}/watchlists")
    expect(page).to_have_url(re.compile(r"/login\?next=/watchlists"))
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    page.fill("input[name=name]", "amal")
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    expect(page).to_have_url(f"{address}/watchlists")


def _write_a_watchlist(page: Page, address: str) -> None:
    seed = seed_story(recent(1))
    page.goto(f"{address}/watchlists/new")
    page.fill("input[name=name]", "drones-web")
    page.fill("textarea[name=sample]", "\n".join([seed.title, *seed.paragraphs, PROTEST]))
    page.fill("textarea[name=queries]", "طائرة مسيرة")
    preview = page.locator("#preview")
    expect(preview.locator("mark", has_text="بطائرتين مسيرتين").first).to_be_visible()
    expect(preview.locator(".forms")).to_contain_text("بطائرتين مسيرتين")
    _shot(page, "editor-ar")
    # One click excludes a form: the query gains a NOT of it and the preview follows.
    exclude = preview.locator("li", has_text="بطائرتين مسيرتين").locator("button[data-query]").first
    exclude.click()
    queries = page.locator("textarea[name=queries]")
    expect(queries).to_have_value('(طائرة مسيرة) -"بطائرتين مسيرتين"')
    expect(preview.locator(".pasted mark", has_text="بطائرتين مسيرتين")).to_have_count(0)
    page.click("#save")
    expect(page).to_have_url(re.compile(r"/watchlists\?notice="))
    row = page.locator("tr", has_text="drones-web")
    expect(row).to_contain_text('-"بطائرتين مسيرتين"')
    _shot(page, "watchlists-ar")


def _see_a_match_after_a_poll(page: Page, address: str, site: NewsSite) -> None:
    site.publish(
        Story(
            "erbil-drone",
            "إسقاط طائرة مسيرة قرب مطار أربيل",
            ["أسقطت الدفاعات الجوية طائرة مسيرة قرب مطار أربيل فجر اليوم."] * 3,
            recent(0),
        )
    )
    _reload_until(page, f"{address}/matches", "#matches .card h3", "قرب مطار أربيل")
    card = page.locator("#matches .card", has_text="قرب مطار أربيل")
    expect(card.locator("h3 mark")).to_have_text("طائرة مسيرة")
    expect(card).to_contain_text("drones-web")
    _shot(page, "matches-ar")


def _retry_a_dead_alert(page: Page, address: str, receiver: LocalServer) -> None:
    # The receiver answered 410 Gone: permanent, so the alert is dead after one attempt.
    _reload_until(page, f"{address}/alerts?status=dead", "tbody", "drones-web")
    receiver.route("/hook", Reply(200, "ok", content_type="text/plain"))
    before = len(receiver.requests_to("/hook"))
    row = page.locator("tbody tr", has_text="drones-web").first
    row.locator("button", has_text="أعد المحاولة").click()
    expect(page.locator(".notice")).to_be_visible()
    deadline = time.monotonic() + 30
    while len(receiver.requests_to("/hook")) == before:
        assert time.monotonic() < deadline, "the retried alert never reached the receiver"
        time.sleep(0.2)
    _reload_until(page, f"{address}/alerts?status=sent", "tbody", "drones-web")
    _shot(page, "alerts-ar")


def _store_title(database: str, containing: str, prefix: str) -> None:
    engine = create_engine(database)
    try:
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE articles SET title = :prefix || title WHERE title LIKE :like"),
                {"prefix": prefix + " ", "like": f"%{containing}%"},
            )
    finally:
        engine.dispose()


def _hostile_strings_are_text(page: Page, address: str, server: LocalServer, database: str) -> None:
    """Scenario 18: markup in a feed's title and summary, a javascript: link."""
    server.route("/raw.xml", _hostile_feed(server.url("").rstrip("/"), hostile=True))
    _reload_until(page, f"{address}/matches", "#matches .card h3", "فوق الميناء")
    card = page.locator("#matches .card", has_text="فوق الميناء")
    expect(card).to_contain_text("بلا رابط")  # the javascript: link is no link
    # The crawler strips markup from feed titles; were some to reach the database, the
    # page still shows it as text.
    _store_title(database, "فوق الميناء", "<img src=x onerror=alert(1)> <script>alert(4)</script>")
    page.reload()
    expect(card.locator("h3")).to_contain_text("<img src=x onerror=alert(1)>")
    expect(card.locator("h3")).to_contain_text("<script>alert(4)</script>")
    expect(page.locator("#matches img")).to_have_count(0)
    expect(page.locator('a[href^="javascript:"]')).to_have_count(0)
    expect(page.locator("#matches script")).to_have_count(0)


def _english_and_back(page: Page, address: str) -> None:
    page.goto(f"{address}/matches")
    page.click("button[name=language][value=en]")
    expect(page.locator("html")).to_have_attribute("dir", "ltr")
    expect(page.locator("nav")).to_contain_text("Watchlists")
    _shot(page, "matches-en")
    page.goto(f"{address}/watchlists")
    _shot(page, "watchlists-en")
    page.click("button[name=language][value=ar]")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("nav")).to_contain_text("قوائم المراقبة")


def _phone(browser, page: Page, address: str) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, storage_state=page.context.storage_state()
    )
    try:
        phone = context.new_page()
        phone.goto(f"{address}/matches")
        expect(phone.locator("#matches .card").first).to_be_visible()
        # Nothing wider than the screen: no sideways scrolling on a phone.
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, width
        _shot(phone, "matches-phone")
        phone.goto(f"{address}/sources")
        _shot(phone, "sources-phone")
    finally:
        context.close()
