"""Every string the page shows has its Arabic: the catalogue covers each ``t("…")`` in
the templates and the handlers, and the words shown by value (statuses, roles)."""

from __future__ import annotations

import re
from pathlib import Path

from monitor.web.catalogue import ARABIC
from monitor.web.i18n import translate

WEB = Path(__file__).resolve().parents[2] / "monitor" / "web"
LITERAL = re.compile(r"""\bt\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")
# Shown through t(value): alert statuses and filters, roles, a source's result.
BY_VALUE = [
    *("all", "pending", "sent", "failed", "dead", "viewer", "editor", "admin"),
    # A source's result (monitor/status.py describe_source), before any " ×N".
    *("ok", "not_modified", "error", "never polled", "paused", "disabled"),
    "disabled (removed from settings)",
]


def used_strings() -> set[str]:
    found = set()
    files = [*WEB.glob("templates/*.html"), *WEB.glob("*.py")]
    for path in files:
        for match in LITERAL.finditer(path.read_text(encoding="utf-8")):
            found.add(match.group(1) if match.group(1) is not None else match.group(2))
    return found


def test_every_string_on_the_page_has_its_arabic():
    strings = used_strings()
    assert len(strings) > 50  # the scan finds the templates' strings
    missing = sorted(s for s in strings | set(BY_VALUE) if s not in ARABIC)
    assert missing == [], "add to monitor/web/catalogue.py: " + repr(missing)


def test_placeholders_survive_translation():
    for english, arabic in ARABIC.items():
        assert set(re.findall(r"{\w+}", english)) == set(re.findall(r"{\w+}", arabic)), english
    assert translate("ar", "{count} alert(s) queued again.", count=3).startswith("3")
    assert translate("en", "Matches") == "Matches"
