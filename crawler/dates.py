"""Publication dates written out in Arabic on the page ("الثلاثاء 4 يناير 2022").

The last resort, after the feed's or sitemap's date and the page's metadata (htmldate):
many Arabic outlets print the date only as words in the page. Month names come in
three families (Egyptian/Gulf يناير, Levantine كانون الثاني, Maghrebi جانفي) and digits
may be Arabic-Indic. A date without a time zone is taken as UTC (the page rarely says;
the error is hours, never the day's story).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_MONTHS = (
    "يناير|فبراير|مارس|أبريل|ابريل|إبريل|مايو|يونيو|يونيه|يوليو|يوليه|أغسطس|اغسطس|سبتمبر|"
    "أكتوبر|اكتوبر|نوفمبر|ديسمبر|كانون الثاني|شباط|آذار|اذار|نيسان|أيار|ايار|حزيران|"
    "تموز|آب|اب|أيلول|ايلول|تشرين الأول|تشرين الاول|تشرين الثاني|كانون الأول|كانون الاول|"
    "جانفي|فيفري|أفريل|افريل|ماي|جوان|جويلية|أوت|اوت"
)
# dateparser knows the standard names; the Levantine and Maghrebi ones are mapped.
_TO_STANDARD = {
    "كانون الثاني": "يناير",
    "شباط": "فبراير",
    "آذار": "مارس",
    "اذار": "مارس",
    "نيسان": "أبريل",
    "أيار": "مايو",
    "ايار": "مايو",
    "حزيران": "يونيو",
    "تموز": "يوليو",
    "آب": "أغسطس",
    "اب": "أغسطس",
    "أيلول": "سبتمبر",
    "ايلول": "سبتمبر",
    "تشرين الأول": "أكتوبر",
    "تشرين الاول": "أكتوبر",
    "تشرين الثاني": "نوفمبر",
    "كانون الأول": "ديسمبر",
    "كانون الاول": "ديسمبر",
    "جانفي": "يناير",
    "فيفري": "فبراير",
    "أفريل": "أبريل",
    "افريل": "أبريل",
    "ماي": "مايو",
    "جوان": "يونيو",
    "جويلية": "يوليو",
    "أوت": "أغسطس",
    "اوت": "أغسطس",
}
_DATE = re.compile(
    rf"(?<!\d)(\d{{1,2}})\s+({_MONTHS})(?![\u0621-\u064a])\s*[،,]?\s*(\d{{4}})"
    r"(?:\s*[-–،,]?\s*(?:الساعة\s*)?(\d{1,2}:\d{2}))?"
)
_TAG = re.compile(r"<[^>]*>")
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_SETTINGS = {"TIMEZONE": "UTC", "RETURN_AS_TIMEZONE_AWARE": True, "PREFER_DAY_OF_MONTH": "first"}
SEARCHED = 20_000


def arabic_date(text: str) -> datetime | None:
    """The first Arabic written date in ``text`` (its first 20,000 characters), in UTC."""
    found = _DATE.search(text[:SEARCHED].translate(_DIGITS))
    if not found:
        return None
    day, month, year, clock = found.groups()
    written = f"{day} {_TO_STANDARD.get(month, month)} {year}" + (f" {clock}" if clock else "")
    import dateparser  # only here: a run that parses no page never loads it

    parsed = dateparser.parse(written, languages=["ar"], settings=_SETTINGS)
    return parsed.astimezone(UTC) if parsed else None


def date_in_page(html: str) -> datetime | None:
    """:func:`arabic_date` over a page's text (tags dropped, scripts included: cheap,
    and a date is never inside a script in a way that precedes the article's)."""
    return arabic_date(_TAG.sub(" ", html[: SEARCHED * 4]))
