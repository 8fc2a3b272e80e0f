"""Retention: pruning what ``[retention]`` says has been kept long enough.

Five kinds of rows age out, each after its own duration (docs/retention.md):

* *delivered alerts*: outbox rows sent, or dead, that long ago;
* *matches*: matches made that long ago;
* *article bodies*: the body, summary and story signature of articles fetched that long
  ago (title, URL, dates, hashes, dedup keys and story links stay);
* *articles*: whole articles fetched that long ago;
* *failed entries*: frontier entries given up, discovered that long ago.

What other parts still read is never pruned, whatever the durations say:

* A story alerts a watchlist once (monitor.ingest reads the story's alerted matches). A
  story is *live* while one of its articles is younger than the *story horizon*: the
  ``[stories] window`` before now, or before the start of the oldest running instance
  if that is earlier (a running instance's story index holds everything it stored
  since it started, besides the window it loaded). A live story keeps its matches, its
  follow-up alerts (whose key stops a second follow-up) and its articles' rows.
* A match is kept while an alert of it is kept, and while a digest route of its
  watchlist has not sent it yet (it is newer than the route's mark).
* An article is kept while a match of it is kept, while it founds a story another kept
  article belongs to, and while it is younger than the story horizon. Its dedup keys
  outlive it (``dedup_keys.article_id`` becomes NULL): a feed that still lists it is
  recognised, and nothing is fetched, stored or alerted again.

Guarantees:

* Work is done in batches of ``batch`` rows, one short transaction each, so the write
  lock (SQLite's, PostgreSQL's row locks) is never held for long; a run stopped at any
  line has pruned whole batches and leaves the rest for the next run.
* Idempotent and safe to run twice at once: each batch deletes or empties rows by id,
  and a row already gone is simply not counted. (The service runs it under
  ``run_alone(db, "retention")`` all the same.)
* A dry run counts exactly what a run at the same ``now`` would prune: the later steps
  treat the rows an earlier step would prune as pruned.
* Steps walk their rows in index order (keyset pagination), so a run reads about what
  it prunes, not every row pruned before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    case,
    delete,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    text,
    true,
    tuple_,
    update,
)
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Executable

from monitor.config import Settings
from monitor.db.models import (
    UNPRUNED,
    Article,
    DigestMark,
    FrontierEntry,
    Instance,
    Match,
    OutboxAlert,
)
from monitor.db.session import Database

logger = logging.getLogger(__name__)

# The outbox statuses of a settled alert (alerts.outbox: SENT, DEAD).
_SETTLED = ("sent", "dead")
_FOLLOW_UP = "follow_up:"


@dataclass(frozen=True)
class PruneReport:
    """What one run pruned (or, for a dry run, would prune), and how long it took."""

    delivered_alerts: int
    matches: int
    article_bodies: int
    articles: int
    failed_entries: int
    dry_run: bool
    seconds: float
    # The story horizon the run kept live stories by (see the module docstring).
    story_horizon: datetime
    # False when the run was stopped before its end (the next run carries on).
    finished: bool = True

    @property
    def total(self) -> int:
        return (
            self.delivered_alerts
            + self.matches
            + self.article_bodies
            + self.articles
            + self.failed_entries
        )


def prune(
    db: Database,
    settings: Settings,
    now: datetime,
    *,
    batch: int | None = None,
    dry_run: bool = False,
    stop: Callable[[], bool] | None = None,
) -> PruneReport:
    """Prune everything ``settings.retention`` says is old at ``now``; with ``dry_run``,
    only count it. ``batch`` (default ``[retention] batch``) rows per transaction.

    ``stop`` is asked before each batch: when it says True (the service is stopping),
    the run ends there, ``finished`` False, and the next run carries on.
    """
    started = time.perf_counter()
    rules = _Rules.of(db, settings, now)
    size = batch or settings.retention.batch
    stopping = stop or (lambda: False)
    steps = {
        "delivered_alerts": rules.alerts_step(),
        "matches": rules.matches_step(),
        "article_bodies": rules.bodies_step(),
        "articles": rules.articles_step(),
        "failed_entries": rules.entries_step(),
    }
    counts = dict.fromkeys(steps, 0)
    finished = True
    for name, step in steps.items():
        counts[name], finished = _run(db, step, size, dry_run, stopping)
        if not finished:
            break
    report = PruneReport(
        **counts,
        dry_run=dry_run,
        seconds=time.perf_counter() - started,
        story_horizon=rules.horizon,
        finished=finished,
    )
    if report.total and not dry_run:
        logger.info(
            "retention: pruned %d delivered alerts, %d matches, %d article bodies, "
            "%d articles, %d failed entries in %.1f s",
            report.delivered_alerts,
            report.matches,
            report.article_bodies,
            report.articles,
            report.failed_entries,
            report.seconds,
        )
    else:
        logger.debug("retention: %d rows to prune (dry run: %s)", report.total, dry_run)
    return report


def count_prunable(db: Database, settings: Settings, now: datetime) -> PruneReport:
    """What :func:`prune` would prune at ``now``, changing nothing."""
    return prune(db, settings, now, dry_run=True)


# -- steps -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    """One kind of row to prune.

    ``select`` gives the next rows past a keyset position (None: from the start): each
    row begins with its ``width`` keyset columns, the last of them its id, and may carry
    more. ``keep`` (optional) says, in the batch's transaction, which of those ids must
    stay after all; ``act`` prunes the others and says how many it did.
    """

    select: Callable[[tuple[Any, ...] | None, int], Executable] | None
    act: Callable[[Connection, list[int]], int]
    width: int = 1
    keep: Callable[[Connection, Sequence[Any]], set[int]] | None = None


def _run(
    db: Database, step: _Step, size: int, dry_run: bool, stop: Callable[[], bool]
) -> tuple[int, bool]:
    """Run one step to its end: how many rows it pruned, and whether it got there
    (False: ``stop`` said so first)."""
    if step.select is None:
        return 0, True
    pruned = 0
    after: tuple[Any, ...] | None = None
    while True:
        if stop():
            return pruned, False
        with db.connection() as connection:
            rows = connection.execute(step.select(after, size)).all()
            kept = step.keep(connection, rows) if step.keep is not None and rows else set()
            ids = [row[step.width - 1] for row in rows]
            ids = [row_id for row_id in ids if row_id not in kept]
            if ids:
                pruned += len(ids) if dry_run else step.act(connection, ids)
        if len(rows) < size:
            return pruned, True
        after = tuple(rows[-1][: step.width])


def _after(keyset: tuple[Any, ...], after: tuple[Any, ...] | None) -> ColumnElement[bool]:
    """Rows past the keyset position ``after`` (every row when None)."""
    if after is None:
        return true()
    if len(keyset) == 1:
        return keyset[0] > after[0]
    values = (literal(value, column.type) for column, value in zip(keyset, after, strict=True))
    return tuple_(*keyset) > tuple_(*values)


class _Rules:
    """The cut-off times of one run and the conditions built from them."""

    def __init__(self, settings: Settings, now: datetime, horizon: datetime) -> None:
        retention = settings.retention
        self.horizon = horizon

        def cutoff(kept: timedelta | None) -> datetime | None:
            return None if kept is None else now - kept

        self.alerts_cutoff = cutoff(retention.delivered_alerts)
        self.matches_cutoff = cutoff(retention.matches)
        self.bodies_cutoff = cutoff(retention.article_bodies)
        self.articles_cutoff = cutoff(retention.articles)
        self.entries_cutoff = cutoff(retention.failed_entries)

    @classmethod
    def of(cls, db: Database, settings: Settings, now: datetime) -> _Rules:
        with db.connection() as connection:
            return cls(settings, now, story_horizon(connection, settings, now))

    # -- delivered alerts -------------------------------------------------------------

    def alert_prunable(self, alert: Any) -> ColumnElement[bool]:
        """Settled long enough ago (follow-ups of live stories are kept apart)."""
        if self.alerts_cutoff is None:
            return false()
        return and_(
            alert.status.in_(_SETTLED),
            alert.next_attempt_at < self.alerts_cutoff,
            func.coalesce(alert.sent_at, alert.next_attempt_at) < self.alerts_cutoff,
        )

    def alerts_step(self) -> _Step:
        if self.alerts_cutoff is None:
            return _Step(None, _delete_ids(OutboxAlert))
        keyset = (OutboxAlert.status, OutboxAlert.next_attempt_at, OutboxAlert.id)

        def rows(after: tuple[Any, ...] | None, size: int) -> Executable:
            # (status, next_attempt_at) is an index: each status a range of it.
            return (
                select(*keyset, OutboxAlert.dedupe_key)
                .where(self.alert_prunable(OutboxAlert), _after(keyset, after))
                .order_by(*keyset)
                .limit(size)
            )

        return _Step(rows, _delete_ids(OutboxAlert), len(keyset), self._live_follow_ups)

    def _live_follow_ups(self, connection: Connection, rows: Sequence[Any]) -> set[int]:
        """The follow-ups among ``rows`` whose story is live: their key must stay taken,
        or a later article of the story would make a second one."""
        stories: dict[int, list[int]] = {}
        for row in rows:
            story = _follow_up_story(row.dedupe_key)
            if story is not None:
                stories.setdefault(story, []).append(row.id)
        if not stories:
            return set()
        live = _live_stories(connection, list(stories), self.horizon)
        return {row_id for story in live for row_id in stories[story]}

    # -- matches ----------------------------------------------------------------------

    def match_prunable(self, match: Any) -> ColumnElement[bool]:
        """A match old enough, with no alert kept, no digest waiting for it, of a story
        no longer live (alert once)."""
        if self.matches_cutoff is None:
            return false()
        alert = aliased(OutboxAlert)
        article = aliased(Article)
        member = aliased(Article)
        story = func.coalesce(article.story_id, article.id)
        return and_(
            match.created_at < self.matches_cutoff,
            ~exists().where(alert.match_id == match.id, not_(self.alert_prunable(alert))),
            ~exists().where(
                DigestMark.watchlist_id == match.watchlist_id,
                DigestMark.last_fire_at < match.created_at,
            ),
            exists().where(
                article.id == match.article_id,
                ~exists().where(member.id == story, member.fetched_at >= self.horizon),
                ~exists().where(member.story_id == story, member.fetched_at >= self.horizon),
            ),
        )

    def matches_step(self) -> _Step:
        if self.matches_cutoff is None:
            return _Step(None, _delete_ids(Match))
        keyset = (Match.created_at, Match.id)
        scanned = Match.created_at < self.matches_cutoff

        def rows(after: tuple[Any, ...] | None, size: int) -> Executable:
            return _flagged(keyset, scanned, self.match_prunable(Match), after, size)

        return _Step(rows, _delete_ids(Match), len(keyset), _unflagged(len(keyset)))

    # -- article bodies -----------------------------------------------------------------

    def bodies_step(self) -> _Step:
        if self.bodies_cutoff is None:
            return _Step(None, _empty_bodies)
        cutoff = self.bodies_cutoff
        keyset = (Article.fetched_at, Article.id)

        def rows(after: tuple[Any, ...] | None, size: int) -> Executable:
            # The condition is written as the partial index ix_articles_unpruned says it,
            # so that both engines walk that index.
            return (
                select(*keyset)
                .where(text(f"({UNPRUNED})"), Article.fetched_at < cutoff, _after(keyset, after))
                .order_by(*keyset)
                .limit(size)
            )

        return _Step(rows, _empty_bodies, len(keyset))

    # -- articles -----------------------------------------------------------------------

    def articles_step(self) -> _Step:
        if self.articles_cutoff is None:
            return _Step(None, _delete_ids(Article))
        keyset = (Article.fetched_at, Article.id)
        match = aliased(Match)
        member = aliased(Article)
        prunable = and_(
            ~exists().where(match.article_id == Article.id, not_(self.match_prunable(match))),
            ~exists().where(member.story_id == Article.id),
        )
        scanned = Article.fetched_at < min(self.articles_cutoff, self.horizon)

        def rows(after: tuple[Any, ...] | None, size: int) -> Executable:
            return _flagged(keyset, scanned, prunable, after, size)

        return _Step(rows, _delete_ids(Article), len(keyset), _unflagged(len(keyset)))

    # -- failed entries -----------------------------------------------------------------

    def entries_step(self) -> _Step:
        if self.entries_cutoff is None:
            return _Step(None, _delete_ids(FrontierEntry))
        cutoff = self.entries_cutoff

        def rows(after: tuple[Any, ...] | None, size: int) -> Executable:
            return (
                select(FrontierEntry.id)
                .where(
                    FrontierEntry.state == "failed",
                    FrontierEntry.discovered_at < cutoff,
                    _after((FrontierEntry.id,), after),
                )
                .order_by(FrontierEntry.id)
                .limit(size)
            )

        return _Step(rows, _delete_ids(FrontierEntry))


def _flagged(
    keyset: tuple[Any, ...],
    scanned: ColumnElement[bool],
    prunable: ColumnElement[bool],
    after: tuple[Any, ...] | None,
    size: int,
) -> Executable:
    """The next ``size`` rows ``scanned`` selects past ``after`` in keyset order, each
    flagged with whether it is ``prunable``.

    The batch is chosen by the index alone, then flagged: filtering by the guards first
    makes PostgreSQL test every old row for each batch, then sort them.
    """
    table = keyset[-1].table
    batch = (
        select(keyset[-1].label("id"))
        .where(scanned, _after(keyset, after))
        .order_by(*keyset)
        .limit(size)
        .subquery()
    )
    flag = case((prunable, true()), else_=false()).label("prunable")
    return (
        select(*keyset, flag)
        .select_from(table)
        .join(batch, batch.c.id == keyset[-1])
        .order_by(*keyset)
    )


def _unflagged(width: int) -> Callable[[Connection, Sequence[Any]], set[int]]:
    """The ids of the rows :func:`_flagged` did not flag prunable."""

    def keep(_connection: Connection, rows: Sequence[Any]) -> set[int]:
        return {row[width - 1] for row in rows if not row[-1]}

    return keep


def story_horizon(connection: Connection, settings: Settings, now: datetime) -> datetime:
    """The time before which a story with no newer article is no longer live: the story
    window before now, or before the oldest running instance's start if earlier (an
    instance's story index holds what it stored since it started)."""
    since = now - settings.stories.window
    # An instance silent for a whole window has died (its index with it), whatever
    # its row still says.
    oldest_start = connection.execute(
        select(func.min(Instance.started_at)).where(Instance.seen_at >= since)
    ).scalar()
    if oldest_start is not None:
        since = min(since, oldest_start - settings.stories.window)
    return since


def _live_stories(connection: Connection, stories: list[int], horizon: datetime) -> set[int]:
    """Those of ``stories`` (founding article ids) with an article fetched since
    ``horizon``."""
    story = func.coalesce(Article.story_id, Article.id)
    found = connection.execute(
        select(story)
        .where(
            or_(Article.id.in_(stories), Article.story_id.in_(stories)),
            Article.fetched_at >= horizon,
        )
        .distinct()
    )
    return set(found.scalars())


def _follow_up_story(dedupe_key: str | None) -> int | None:
    """The story of a follow-up's key (``follow_up:<story>:<watchlist>:<channel>``,
    monitor.ingest); None for any other alert."""
    if dedupe_key is None or not dedupe_key.startswith(_FOLLOW_UP):
        return None
    story = dedupe_key[len(_FOLLOW_UP) :].split(":", 1)[0]
    return int(story) if story.isdigit() else None


def _delete_ids(model: Any) -> Callable[[Connection, list[int]], int]:
    table = model.__table__

    def act(connection: Connection, ids: list[int]) -> int:
        return connection.execute(delete(table).where(table.c.id.in_(ids))).rowcount

    return act


def _empty_bodies(connection: Connection, ids: list[int]) -> int:
    table = Article.__table__
    statement = (
        update(table)
        .where(table.c.id.in_(ids), text(f"({UNPRUNED})"))
        .values(body="", summary="", minhash=None)
    )
    return connection.execute(statement).rowcount
