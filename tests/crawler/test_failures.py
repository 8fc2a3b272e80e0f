"""Retry-After read from 429 and 503 responses, and which failures are worth a retry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from scrapy import Request
from scrapy.exceptions import DownloadCancelledError, DownloadTimeoutError, IgnoreRequest
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import ConnectionLost, DNSLookupError
from twisted.python.failure import Failure

from crawler.failures import is_transient, retry_after
from crawler.middlewares import GuardRefused, HostUnresolved

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


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (lambda: HttpError(_failure(503, None).value.response, "HTTP"), True),
        (lambda: HttpError(_failure(429, None).value.response, "HTTP"), True),
        (lambda: HttpError(_failure(404, None).value.response, "HTTP"), False),
        (lambda: HttpError(_failure(410, None).value.response, "HTTP"), False),
        (lambda: DownloadTimeoutError("took longer than 20 s"), True),
        (lambda: ConnectionLost("gone"), True),
        (lambda: DNSLookupError("no such host"), True),
        (lambda: HostUnresolved("cannot resolve host 'x'"), True),
        (lambda: GuardRefused("refused host 'x': 10.0.0.1"), False),
        (lambda: IgnoreRequest("forbidden by robots.txt"), False),
        (lambda: DownloadCancelledError("too large"), False),
    ],
    ids=[
        "503", "429", "404", "410", "timeout", "lost", "dns", "unresolved",
        "guard", "robots", "too-large",
    ],
)  # fmt: skip
def test_only_failures_that_may_pass_are_retried(error, transient):
    assert is_transient(Failure(error())) is transient
