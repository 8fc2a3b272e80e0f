"""The service as the crawler's sink: what becomes of an entry whose page failed, and
of unchanged polls (recorded together)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from crawler.items import FeedEntry
from crawler.sink import PollOutcome
from monitor import sources as source_state
from monitor.config import settings_from_mapping
from monitor.db.models import FrontierEntry, Source
from monitor.service import UNCHANGED_WAIT, Service

FEED = "https://news.example/rss.xml"


@pytest.fixture
def service(database_url, tmp_path, clock):
    settings = settings_from_mapping(
        {
            "database": {"url": database_url},
            "sources": [{"name": "news", "url": FEED}],
            "channels": [{"name": "console", "kind": "console"}],
        },
        tmp_path / "settings.toml",
        env={},
    )
    service = Service(settings, clock=clock)
    service.prepare()
    yield service
    service.close()


def _work(service):
    [source] = source_state.claim_due(
        service.db, service.clock.now(), lease=service.poll_lease, everything=True
    )
    entry = FeedEntry(url="https://news.example/1", guid=None, title="خبر", summary="ملخص")
    [work] = service.discover(source, [entry], feed_url=FEED, outcome=PollOutcome("ok"))
    return work


def _row(service) -> FrontierEntry:
    with service.db.transaction() as session:
        row = session.scalars(select(FrontierEntry)).one()
        session.expunge(row)
        return row


def test_a_transient_failure_keeps_the_entry_for_a_later_try(service, clock):
    work = _work(service)

    use_feed_text = service.page_failed(work, "timed out", transient=True)

    row = _row(service)
    assert use_feed_text is False
    assert row.claimed_until == clock.now() + timedelta(seconds=30)
    assert (row.lease_token, row.last_error) == (None, "timed out")
    assert service.crawl_idle()  # not this process's to renew any more


def test_a_permanent_failure_stores_the_feed_text_at_once(service):
    work = _work(service)

    assert service.page_failed(work, "HTTP 404 Not Found", transient=False) is True


def test_the_feed_text_stands_in_once_the_retries_are_used_up(service, clock):
    work = _work(service)
    answers = [service.page_failed(work, "HTTP 503", transient=True)]
    while not answers[-1]:
        clock.advance(timedelta(minutes=5))
        [work] = service._claim_pages(clock.now())
        answers.append(service.page_failed(work, "HTTP 503", transient=True))

    assert answers == [False, False, True]


def test_a_failure_during_a_stop_leaves_the_entry_for_the_next_run(service):
    work = _work(service)
    service._stopping = True

    assert service.page_failed(work, "download cancelled", transient=False) is False
    service._release_pages()

    row = _row(service)
    assert (row.lease_token, row.attempts, row.last_error) == (None, 0, None)


def _source_row(service):
    with service.db.transaction() as session:
        row = session.scalars(select(Source)).one()
        session.expunge(row)
        return row


def test_unchanged_polls_are_held_a_moment_then_recorded_together(service, clock):
    [source] = source_state.claim_due(
        service.db, clock.now(), lease=service.poll_lease, token=service.token, everything=True
    )
    assert _source_row(service).claimed_by == service.token

    async def poll() -> Source:
        service.record_poll(source, PollOutcome("not_modified", etag='"v2"'))
        held = _source_row(service)
        await asyncio.sleep(UNCHANGED_WAIT.total_seconds() * 4)
        return held

    held = asyncio.run(poll())

    assert (held.last_status, held.claimed_by) == (None, service.token)
    row = _source_row(service)
    assert (row.last_status, row.etag, row.claimed_by) == ("not_modified", '"v2"', None)
    assert (service.summary.polled, service.summary.not_modified) == (1, 1)


def test_a_flush_records_the_unchanged_polls_held_back_at_once(service, clock):
    [source] = source_state.claim_due(
        service.db, clock.now(), lease=service.poll_lease, token=service.token, everything=True
    )

    async def poll() -> None:
        service.record_poll(source, PollOutcome("not_modified", body_hash="0" * 64))
        service.flush()  # what the spider does when it goes idle or closes

    asyncio.run(poll())

    row = _source_row(service)
    assert (row.last_status, row.body_hash, row.claimed_until) == ("not_modified", "0" * 64, None)
