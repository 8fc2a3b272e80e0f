"""Arabic dates written as words, the last resort after feed and page metadata."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crawler.dates import arabic_date, date_in_page


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("نشر في الثلاثاء 4 يناير 2022", datetime(2022, 1, 4, tzinfo=UTC)),
        ("٤ كانون الثاني ٢٠٢٢", datetime(2022, 1, 4, tzinfo=UTC)),
        ("السبت 18 أغسطس 2018 - 10:30", datetime(2018, 8, 18, 10, 30, tzinfo=UTC)),
        ("تونس في 12 جوان 2019 الساعة 14:05", datetime(2019, 6, 12, 14, 5, tzinfo=UTC)),
        ("3 آذار، 2020", datetime(2020, 3, 3, tzinfo=UTC)),
    ],
)
def test_written_dates_in_every_month_family(text, expected):
    assert arabic_date(text) == expected


@pytest.mark.parametrize("text", ["لا تاريخ هنا 2022", "12 ابتداء 2020", "رقم 45 مايو"])
def test_no_date_is_no_date(text):
    assert arabic_date(text) is None


def test_a_page_date_is_found_between_tags():
    page = "<html><body><span class='date'>الأحد <b>5</b> مارس 2023</span><p>نص</p></body></html>"
    assert date_in_page(page) == datetime(2023, 3, 5, tzinfo=UTC)
