"""Retry-After read from 429 and 503 responses: seconds or an HTTP date."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from scrapy import Request
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from crawler.failures import retry_after

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _failure(status: int, value: str | None) -> Failure:
    headers = {"Retry-After": value} if value is not None else {}
    response = Response(
        "https://news.example/feed",
        status=status,
        headers=headers,
        request=Request("https://news.example/feed"),
    )
    return Failure(HttpError(response, "HTTP error"))


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_seconds(status):
    assert retry_after(_failure(status, "120"), NOW) == 120


def test_retry_after_as_an_http_date():
    assert retry_after(_failure(429, "Sun, 01 Mar 2026 14:00:00 GMT"), NOW) == 7200


def test_retry_after_in_the_past_means_now():
    assert retry_after(_failure(503, "Sun, 01 Mar 2026 11:00:00 GMT"), NOW) == 0


@pytest.mark.parametrize("value", [None, "soon", "", "-5"])
def test_missing_or_unreadable_retry_after_is_ignored(value):
    assert retry_after(_failure(429, value), NOW) is None


def test_retry_after_on_other_statuses_is_ignored():
    assert retry_after(_failure(500, "120"), NOW) is None
