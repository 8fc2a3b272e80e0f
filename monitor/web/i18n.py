"""Every string the page shows, in Arabic and English, through one catalogue.

Templates and handlers write the English text, ``t("Watchlists")``; the catalogue
(monitor/web/catalogue.py) gives its Arabic. English is the key, so an English page
needs no table and a missing Arabic string shows up in a test (tests/web/test_i18n.py
reads every t(...) call in the templates and the code) rather than on the page.
Placeholders are ``{name}``, filled after translation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from monitor.web.catalogue import ARABIC

Language = Literal["ar", "en"]
LANGUAGES: tuple[Language, ...] = ("ar", "en")


def translate(language: str, text: str, /, **values: object) -> str:
    shown = ARABIC.get(text, text) if language == "ar" else text
    return shown.format(**values) if values else shown


def direction(language: str) -> str:
    return "rtl" if language == "ar" else "ltr"


def local_time(moment: datetime | None, zone: str, *, with_date: bool = True) -> str:
    """A moment as its wall time in ``zone`` ("2026-12-05 10:13"); "" for none."""
    if moment is None:
        return ""
    local = moment.astimezone(ZoneInfo(zone))
    return local.strftime("%Y-%m-%d %H:%M" if with_date else "%H:%M")
