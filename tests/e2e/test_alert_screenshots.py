"""Email as a reader sees it: the sample article alert and the sample digest sent
through a real email channel (Apprise's mailto://) to a local SMTP server (aiosmtpd),
the HTML part received there opened in Debian's Chromium.

The screenshots are docs/alerts.md's: rewritten in docs/img when RASID_SCREENSHOTS=1,
otherwise taken into a temporary folder (see tests/e2e/test_web_browser.py). The clock
is fixed, so the images change only when the template or the samples do. Slack has no
offline renderer of its Block Kit, so there is no Slack screenshot: docs/alerts.md shows
the JSON instead, checked by tests/alerts/test_docs.py.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from alerts.channels import build_channel
from alerts.event import AlertEvent
from alerts.outbox import ClaimedAlert
from alerts.samples import SEED_TITLE, SEED_URL, sample_digest_event, sample_match_event
from alerts.templating import FSI, PDI
from monitor.clock import FakeClock
from monitor.config import ChannelSettings, Settings
from tests.alerts.conftest import LOCAL
from tests.conftest import CHROMIUM
from tests.support.smtp import Inbox, smtp_server

pytestmark = pytest.mark.browser
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
SHOTS = Path(tempfile.gettempdir()) / "rasid-screenshots"
# 07:00 in Baghdad: a morning digest, as docs/alerts.md's examples are rendered.
NOW = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as running:
        yield running


def _email(inbox: Inbox, port: int, event: AlertEvent) -> tuple[str, str]:
    """Send ``event`` through an email channel in Baghdad's time zone; the subject and
    the HTML part the SMTP server received."""
    url = f"mailto://127.0.0.1:{port}?from=rasid@example.org&to=desk@example.org"
    entry = ChannelSettings(name="mail", kind="email", url=url, time_zone="Asia/Baghdad")
    channel = build_channel(entry, Settings(channels=[entry]), LOCAL, FakeClock(NOW))
    answer = channel.send([ClaimedAlert(1, "msg_1", "mail", event, 0, "lease")])
    assert answer == "delivered by apprise (mailto)"
    message = inbox.last()
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    return str(message["Subject"]), html.get_content()


def _shot(page: Page, name: str) -> None:
    folder = DOCS_IMG if os.environ.get("RASID_SCREENSHOTS") == "1" else SHOTS
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    assert (folder / f"{name}.png").stat().st_size > 10_000  # a message, not a blank


def _opened(page: Page, subject: str, html: str) -> None:
    page.set_content(html)
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    # The page's title is text: the subject, its isolates left out, no <bdi> shown.
    assert page.title() == subject.replace(FSI, "").replace(PDI, "")
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    # Nothing wider than a phone's screen: no sideways scrolling in a mail app.
    page.set_viewport_size({"width": 390, "height": 800})
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    page.set_viewport_size({"width": 720, "height": 100})


def test_the_article_and_digest_emails_read_right_to_left_with_their_links(smtp) -> None:
    inbox, port = smtp
    article_subject, article_html = _email(inbox, port, sample_match_event(NOW, "msg_1"))
    digest_subject, digest_html = _email(inbox, port, sample_digest_event(NOW))

    assert article_subject.startswith(SEED_TITLE)
    assert digest_subject.startswith("موجز")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True
        )
        try:
            page = browser.new_page(locale="ar")
            _opened(page, article_subject, article_html)
            headline = page.locator("h2 a")
            expect(headline).to_have_text(SEED_TITLE)
            expect(headline).to_have_attribute("href", SEED_URL)
            expect(page.locator("b", has_text="بطائرتين مسيرتين")).to_be_visible()
            expect(page.locator("body")).to_contain_text("2026-03-01 07:00 +03")
            _shot(page, "email-article-ar")

            _opened(page, digest_subject, digest_html)
            stories = page.locator("ol > li")
            expect(stories).to_have_count(3)
            expect(stories.first.locator("a")).to_have_text(SEED_TITLE)
            expect(stories.first.locator("a")).to_have_attribute("href", SEED_URL)
            expect(stories.first).to_contain_text("المصادر (4)")
            # The story its feed gave no link is named, not linked.
            expect(stories.nth(2).locator("a")).to_have_count(0)
            expect(stories.nth(2)).to_contain_text("بلا رابط")
            _shot(page, "email-digest-ar")
        finally:
            browser.close()
