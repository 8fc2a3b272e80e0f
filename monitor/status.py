"""What ``rasid status`` (and the web page) shows: each source's health in words, the
counts, the channels as the running service built them, and a run's closing summary.

The words a user reads about the domain are made here, once, for every front door: a
source's result ("ok", "error ×3", "paused", "never polled"), its problem, and the
command that resumes it. A front door lays them out; it does not reword them.

Guarantees:

* The channels shown are those the last started service recorded
  (:func:`record_channels`, called by ``Service.prepare``): the service's own settings
  and environment, not the shell's. Only name, kind and whether each is on (and why
  not) are recorded, never a URL or a secret. Before any service recorded them, the
  report falls back to the settings as this process reads them, and says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from alerts import outbox
from monitor import frontier, instances
from monitor.config import ChannelSettings, Settings
from monitor.db.models import Article, Match, ServiceChannel
from monitor.db.session import Database
from monitor.frontier import FailedEntry, FrontierCounts
from monitor.instances import InstanceView
from monitor.sources import SourceStatus, list_sources

if TYPE_CHECKING:
    from monitor.service import RunSummary


@dataclass(frozen=True)
class SourceHealth(SourceStatus):
    """A source's state with the words that describe it."""

    result: str = ""  # "ok", "not_modified", "error ×3", "paused", "never polled" ...
    problem: str = ""  # the last error or warning, and what was counted against it
    resume_hint: str | None = None  # the command that resumes a paused source


@dataclass(frozen=True)
class ChannelStatus:
    name: str
    kind: str
    active: bool
    reason: str | None = None  # why an inactive channel is off


@dataclass(frozen=True)
class StatusReport:
    sources: list[SourceHealth]
    articles: int
    matches: int
    alerts: dict[str, int]
    channels: list[ChannelStatus]
    # When the service recorded its channels; None when they come from the settings.
    channels_recorded_at: datetime | None
    channels_note: str | None
    # Entries found by polls whose articles are not stored yet, and those given up.
    frontier: FrontierCounts
    failed_entries: list[FailedEntry]
    frontier_hint: str | None
    # The services running on this database (several on one PostgreSQL), and what
    # each holds; those that stopped beating are kept a while, marked not alive.
    instances: list[InstanceView] = field(default_factory=list)


NOT_RECORDED = (
    "no `rasid run` has recorded its channels yet: shown as this shell's settings and "
    "environment give them"
)


def collect_status(db: Database, settings: Settings, now: datetime) -> StatusReport:
    with db.transaction() as session:
        running = instances.alive(session.connection(), now)
        sources = [describe_source(source) for source in list_sources(session)]
        articles = session.scalar(select(func.count(Article.id))) or 0
        matches = session.scalar(select(func.count(Match.id))) or 0
        pending = frontier.counts(session.connection())
        failed = frontier.list_failed(session.connection(), limit=20) if pending.failed else []
        recorded = session.scalars(select(ServiceChannel).order_by(ServiceChannel.name)).all()
        recorded_at = max((row.recorded_at for row in recorded), default=None)
        channels = [ChannelStatus(row.name, row.kind, row.active, row.reason) for row in recorded]
    if not recorded:
        channels = [channel_status(entry) for entry in settings.effective_channels()]
    return StatusReport(
        sources=sources,
        articles=articles,
        matches=matches,
        alerts=outbox.counts(db),
        channels=channels,
        channels_recorded_at=recorded_at,
        channels_note=None if recorded else NOT_RECORDED,
        frontier=pending,
        failed_entries=failed,
        frontier_hint=(
            "see `rasid frontier list`; queue them again with `rasid frontier retry`"
            if pending.failed
            else None
        ),
        instances=running,
    )


def describe_source(source: SourceStatus) -> SourceHealth:
    """The source with its result, problem and (when paused) how to resume it."""
    result = source.last_status or "never polled"
    if source.state == "disabled":
        result = "disabled" + (" (removed from settings)" if source.origin == "removed" else "")
    elif source.state == "paused":
        result = "paused"
    elif source.failure_count > 1:
        result += f" ×{source.failure_count}"
    counted = [
        f"{source.extraction_fallbacks} article(s) kept the feed's summary (no page text)"
        if source.extraction_fallbacks
        else "",
        f"{source.mojibake_polls} poll(s) looked like mojibake: check its charset"
        if source.mojibake_polls
        else "",
        f"{source.entries_unusable} entr(ies) without link, title or summary skipped"
        if source.entries_unusable
        else "",
        f"{source.entries_over_cap} entr(ies) beyond crawl.max_new_entries skipped"
        if source.entries_over_cap
        else "",
    ]
    problem = "; ".join(
        part for part in (source.last_error or source.last_warning or "", *counted) if part
    )
    hint = None
    if source.state == "paused" and source.paused_at is not None:
        problem = f"{source.paused_reason} — since {source.paused_at:%Y-%m-%d %H:%M} UTC"
        hint = f"rasid sources resume {source.name}"
    return SourceHealth(**asdict(source), result=result, problem=problem, resume_hint=hint)


def channel_status(entry: ChannelSettings) -> ChannelStatus:
    """A configured channel: on, or off and why (never its URL or secret)."""
    reason = None
    if not entry.enabled:
        reason = "enabled = false"
    elif not entry.active:
        reason = "no URL set (its environment variable is empty or unset)"
    return ChannelStatus(entry.name, entry.kind, entry.active, reason)


def record_channels(session: Session, settings: Settings, now: datetime) -> None:
    """Record the channels this service delivers to, replacing the last record."""
    session.execute(delete(ServiceChannel))
    for entry in settings.effective_channels():
        shown = channel_status(entry)
        session.add(
            ServiceChannel(
                name=shown.name,
                kind=shown.kind,
                active=shown.active,
                reason=shown.reason,
                recorded_at=now,
            )
        )


def run_failed(summary: RunSummary) -> bool:
    """A ``run --once`` that is not a clean finish: stopped by a signal, or every source
    it polled (at least one) failed."""
    return summary.interrupted_by is not None or _every_poll_failed(summary)


def _every_poll_failed(summary: RunSummary) -> bool:
    return summary.polled > 0 and summary.ok + summary.not_modified == 0


def describe_run(summary: RunSummary) -> list[str]:
    """The closing lines of ``rasid run --once``."""
    lines = [
        f"polled {summary.polled} source(s): {summary.ok} ok, {summary.not_modified} unchanged "
        f"({summary.answered_304} answered 304, {summary.same_body} same bytes), "
        f"{len(summary.errors)} failed; {summary.parsed} document(s) parsed; "
        f"{summary.new_articles} new article(s), "
        f"{summary.duplicates} duplicate(s); {summary.matches} match(es), "
        f"{summary.alerts_enqueued} alert(s) queued"
    ]
    delivery = summary.delivery
    if delivery is not None:
        lines.append(
            f"delivery: {delivery.sent} sent, {delivery.failed} failed (will retry), "
            f"{delivery.dead} dead"
        )
    lines.extend(f"  source {name}: {error}" for name, error in summary.errors.items())
    if _every_poll_failed(summary):
        lines.append(
            f"every source polled failed ({summary.polled}): see `rasid status` for each error"
        )
    if summary.interrupted_by:
        lines.append(
            f"interrupted by {summary.interrupted_by}: {summary.pages_left} article page(s) "
            "and any undelivered alerts wait in the database for the next run"
        )
    return lines
