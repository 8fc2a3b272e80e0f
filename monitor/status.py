"""What ``rasid status`` (and later the web page) shows: sources' health and counts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from alerts import outbox
from monitor import frontier
from monitor.config import Settings
from monitor.db.models import Article, Match
from monitor.db.session import Database
from monitor.frontier import FailedEntry, FrontierCounts
from monitor.sources import SourceStatus, list_sources


@dataclass(frozen=True)
class ChannelStatus:
    name: str
    kind: str
    active: bool


@dataclass(frozen=True)
class StatusReport:
    sources: list[SourceStatus]
    articles: int
    matches: int
    alerts: dict[str, int]
    channels: list[ChannelStatus]
    # Entries found by polls whose articles are not stored yet, and those given up.
    frontier: FrontierCounts
    failed_entries: list[FailedEntry]


def collect_status(db: Database, settings: Settings) -> StatusReport:
    with db.transaction() as session:
        sources = list_sources(session)
        articles = session.scalar(select(func.count(Article.id))) or 0
        matches = session.scalar(select(func.count(Match.id))) or 0
        pending = frontier.counts(session.connection())
        failed = frontier.list_failed(session.connection(), limit=20) if pending.failed else []
    return StatusReport(
        sources=sources,
        articles=articles,
        matches=matches,
        alerts=outbox.counts(db),
        channels=[
            ChannelStatus(channel.name, channel.kind, channel.active)
            for channel in settings.effective_channels()
        ],
        frontier=pending,
        failed_entries=failed,
    )
