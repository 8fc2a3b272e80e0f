"""The service layer: every action rasid's front doors offer, one method each.

The CLI calls these methods; the web page and the REST API call the same ones. Each
returns frozen dataclasses (or lists of them) and raises the errors of monitor/errors.py
with the sentence a user needs; a front door lays the result out and shows the error,
nothing more. Wording about the domain (a source's state, a run's summary) is made in
monitor/status.py.

Guarantees:

* Making an :class:`App` reads nothing. The database is opened at the first action that
  needs it, migrated to the newest schema (a cheap check when it already is there) and
  made to follow settings.toml's sources and watchlists, once per App: a fresh database
  shows the right sources before the first ``rasid run``.
* Nothing here imports the crawling engine (Scrapy, Twisted), the story index
  (datasketch) or monitor.service when it is imported: a read-only command starts fast.
  ``rasid run`` uses monitor.service itself.
* A change is one transaction, checked before it is made: an action that is refused
  changed nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from monitor import sources as source_state
from monitor import users
from monitor import watchlists as watchlist_state
from monitor.clock import Clock, SystemClock
from monitor.config import Settings
from monitor.db.session import Database
from monitor.errors import (
    Conflict,
    InvalidRequest,
    NetworkGuardError,
    NotFound,
    ResolutionError,
    SourceError,
)
from monitor.matching import DEFAULT_SLOP, CompiledQuery, Synonyms, compile_query
from monitor.sources import SourceStatus
from monitor.status import StatusReport, collect_status
from monitor.users import NewToken, TokenInfo, UserInfo
from monitor.watchlists import WatchlistInfo

if TYPE_CHECKING:
    from alerts.dispatch import DispatchSummary
    from alerts.outbox import AlertFilter, AlertRecord
    from crawler.discovery import Candidate
    from monitor.archive import ArchiveMatch
    from monitor.channels import ChannelInfo
    from monitor.db.stats import DatabaseStats
    from monitor.digests import DigestPreview, QueuedDigest
    from monitor.findings import MatchPage, Preview, WatchlistActivity
    from monitor.frontier import FailedEntry
    from monitor.retention import PruneReport
    from monitor.stories import StoryView

# Called with a stage ("indexing older articles", "searching the archive"), how many
# articles are done and how many there are in all.
ArchiveProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class FeedDiscovery:
    """What a URL offers to poll: itself (a feed or sitemap), or the feeds found on it.

    ``unchecked`` says why the URL could not be fetched to check it (its host does not
    resolve, it answered an error): it can still be added as given.
    """

    url: str
    itself: Candidate | None
    found: list[Candidate]
    unchecked: str | None = None


@dataclass(frozen=True)
class QueryHit:
    """Where a query matched: a field of the text, character offsets, the words there."""

    field: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class TextTrial:
    """A query tried on a text (``texts``: the fields searched, by name)."""

    query: str
    matched: bool
    hits: list[QueryHit]
    texts: dict[str, str]


@dataclass(frozen=True)
class ArchiveTrial:
    """A query tried on the stored articles, newest first."""

    query: str
    since: datetime | None
    matches: list[ArchiveMatch]


@dataclass(frozen=True)
class ChannelTest:
    """A sample alert sent to a channel: delivered or not, and the receiver's answer."""

    channel: str
    delivered: bool
    answer: str


@dataclass(frozen=True)
class DigestDelivery:
    """One digest queued now, and (when it was sent right away) what became of it:
    ``status`` "sent", "pending" (to be tried again) or "dead", with the last error."""

    digest: QueuedDigest
    status: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class DigestRun:
    """What ``digest_now`` did: each digest route's digest, and the delivery round run
    right away (None: queued only, the running service sends it)."""

    digests: list[DigestDelivery]
    delivery: DispatchSummary | None = None


class App:
    """rasid's actions over one settings file; close it (or use ``with``) when done."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        # settings.toml as read; ``settings`` adds the channels stored by the web page
        # once the database is open.
        self.file_settings = settings
        self.settings = settings
        self.clock = clock or SystemClock()
        self._db: Database | None = None

    def __enter__(self) -> App:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()
            self._db = None

    @property
    def db(self) -> Database:
        """The database, migrated and following settings.toml (on first use)."""
        if self._db is None:
            db = Database(self.settings.database_url)
            try:
                db.migrate()
                now = self.clock.now()
                with db.transaction() as session:
                    source_state.sync_sources(session, self.settings, now)
                    watchlist_state.sync_watchlists(session, self.settings, now)
                    self._follow_channels(session)
            except BaseException:
                db.dispose()
                raise
            self._db = db
        return self._db

    def _follow_channels(self, session: Session) -> None:
        from monitor import channels

        self.settings = channels.with_stored(self.file_settings, channels.stored_channels(session))

    # -- status -------------------------------------------------------------------

    def collect_status(self) -> StatusReport:
        """Each source's health, the counts, the channels the service delivers to."""
        return collect_status(self.db, self.settings, self.clock.now())

    # -- sources ------------------------------------------------------------------

    def list_sources(self) -> list[SourceStatus]:
        with self.db.transaction() as session:
            return source_state.list_sources(session)

    def check_source(self, name: str, url: str, interval: timedelta | None = None) -> None:
        """Refuse now, before any fetch, a source :meth:`add_source` would refuse."""
        with self.db.transaction() as session:
            source_state.check_new_source(
                session, name=name, url=url, interval=interval, settings=self.settings
            )

    def add_source(self, name: str, url: str, interval: timedelta | None = None) -> SourceStatus:
        """Add a source as given (see :meth:`discover_feeds` to find a site's feeds)."""
        with self.db.transaction() as session:
            return source_state.add_source(
                session,
                name=name,
                url=url,
                interval=interval,
                settings=self.settings,
                now=self.clock.now(),
            )

    def remove_source(self, name: str) -> None:
        """Delete a source added by hand; its stored articles are kept."""
        with self.db.transaction() as session:
            source_state.remove_source(session, name, self.settings)

    def pause_source(self, name: str) -> SourceStatus:
        with self.db.transaction() as session:
            return source_state.set_paused(session, name, True, self.clock.now())

    def resume_source(self, name: str) -> SourceStatus:
        """Poll a paused source again at the next tick, its failure count reset."""
        with self.db.transaction() as session:
            return source_state.set_paused(session, name, False, self.clock.now())

    def resume_all_sources(self) -> list[str]:
        """Resume every paused source; the names resumed."""
        with self.db.transaction() as session:
            return source_state.resume_all(session, self.clock.now())

    def discover_feeds(self, url: str) -> FeedDiscovery:
        """Fetch ``url``: a feed or sitemap is itself; on a page, the feeds it offers.

        Refused: an address the network guard refuses, a feed or sitemap without any
        entry (nothing to poll there yet), a page offering no feed at all.
        """
        from crawler.discovery import Fetcher, discover

        crawl = self.settings.crawl
        fetcher = Fetcher(
            crawl.network_policy,
            timeout=crawl.timeout.total_seconds(),
            max_bytes=crawl.max_response_size,
            user_agent=crawl.agent,
        )
        try:
            itself, found = discover(url, fetcher)
        except ResolutionError as exc:
            return FeedDiscovery(url, None, [], unchecked=str(exc))
        except NetworkGuardError as exc:
            raise InvalidRequest(str(exc)) from None
        except SourceError as exc:
            return FeedDiscovery(url, None, [], unchecked=str(exc))
        finally:
            fetcher.close()
        if itself is not None and itself.entries == 0:
            raise InvalidRequest(
                f"{url} is a {itself.kind} without any entry: nothing to poll there yet; check "
                "the URL, or add it as it is without the check (--no-check)"
            )
        if itself is None and not found:
            raise NotFound(
                f"{url} is a page without a feed or sitemap rasid could find; to follow its "
                'article links, add it in settings.toml with kind = "html" and '
                'links = "<selector>"'
            )
        return FeedDiscovery(url, itself, found)

    # -- watchlists ---------------------------------------------------------------

    def list_watchlists(self) -> list[WatchlistInfo]:
        with self.db.transaction() as session:
            return watchlist_state.list_watchlists(session)

    def add_watchlist(
        self,
        name: str,
        queries: Sequence[str],
        channels: Sequence[str] = (),
        slop: int | None = None,
    ) -> WatchlistInfo:
        """Create a watchlist, or add queries and channels to one made by hand."""
        with self.db.transaction() as session:
            return watchlist_state.add_watchlist(
                session,
                name=name,
                queries=list(queries),
                channels=list(channels),
                settings=self.settings,
                now=self.clock.now(),
                slop=slop,
            )

    def get_watchlist(self, name: str) -> WatchlistInfo:
        with self.db.transaction() as session:
            return watchlist_state.get_watchlist(session, name)

    def save_watchlist(
        self,
        name: str,
        queries: Sequence[str],
        channels: Sequence[str] = (),
        *,
        slop: int = DEFAULT_SLOP,
        synonyms: Sequence[Sequence[str]] = (),
        enabled: bool = True,
        create: bool,
    ) -> WatchlistInfo:
        """Create a watchlist (``create``), or replace all of one made outside
        settings.toml: its queries, channels, slop, synonyms and whether it is on."""
        with self.db.transaction() as session:
            return watchlist_state.save_watchlist(
                session,
                name=name,
                queries=list(queries),
                channels=list(channels),
                settings=self.settings,
                now=self.clock.now(),
                slop=slop,
                synonyms=[list(group) for group in synonyms],
                enabled=enabled,
                create=create,
            )

    def remove_watchlist(self, name: str) -> None:
        with self.db.transaction() as session:
            watchlist_state.remove_watchlist(session, name, self.settings)

    def try_query(
        self, query: str, text: str, *, title: str = "", slop: int = DEFAULT_SLOP
    ) -> TextTrial:
        """Where ``query`` matches ``text`` (its body) and ``title``, as the service
        would match an article; needs no database."""
        compiled = self._compile(query, slop)
        texts = {"title": title, "body": text} if title else {"text": text}
        hits = [
            QueryHit(hit.field, hit.start, hit.end, hit.text)
            for hit in compiled.search_fields(texts)
        ]
        return TextTrial(query, bool(hits), hits, texts)

    def backtest_query(
        self,
        query: str,
        *,
        since: timedelta | None = None,
        slop: int = DEFAULT_SLOP,
        progress: ArchiveProgress | None = None,
    ) -> ArchiveTrial:
        """The stored articles (fetched within ``since``) that ``query`` matches.

        Articles stored before the archive's index existed are indexed first.
        """
        from monitor.archive import backtest, catch_up

        compiled = self._compile(query, slop)
        after = self.clock.now() - since if since is not None else None

        def stage(name: str) -> Callable[[int, int], None] | None:
            report = progress
            if report is None:
                return None
            return lambda done, total: report(name, done, total)

        catch_up(self.db, stage("indexing older articles"))
        found = list(backtest(self.db, compiled, since=after, progress=stage("searching")))
        return ArchiveTrial(query, after, found)

    def _compile(
        self, query: str, slop: int, synonyms: Sequence[Sequence[str]] = ()
    ) -> CompiledQuery:
        groups = [*self.settings.matching.synonym_groups, *(list(group) for group in synonyms)]
        return compile_query(query, slop=slop, synonyms=Synonyms(groups))

    # -- stories ------------------------------------------------------------------

    def list_stories(self, since: timedelta, *, everything: bool = False) -> list[StoryView]:
        """Stories first seen within ``since``, newest first; by default only those
        more than one outlet carried."""
        from monitor.stories import recent_stories

        with self.db.connection() as connection:
            return recent_stories(connection, self.clock.now() - since, shared_only=not everything)

    # -- alerts -------------------------------------------------------------------

    def list_alerts(
        self, only: AlertFilter | None = None, *, limit: int | None = 100, before: int | None = None
    ) -> list[AlertRecord]:
        """Alerts newest first: all, only those waiting to retry a failed attempt
        (``"failed"``), or only those given up (``"dead"``)."""
        from alerts import outbox

        return outbox.list_alerts(self.db, only=only, limit=limit, before=before)

    def retry_alerts(self, ids: Sequence[int] = ()) -> int:
        """Queue dead alerts again (all, or those ids); how many.

        Every id given must be a dead alert, or nothing is queued.
        """
        from alerts import outbox

        if ids:
            known = {alert.id: alert for alert in outbox.list_alerts(self.db, ids=ids)}
            problems = [f"no alert has id {number}" for number in ids if number not in known]
            problems += [
                f"alert {number} is {known[number].status}, not dead"
                for number in ids
                if number in known and known[number].status != outbox.DEAD
            ]
            if problems:
                error = NotFound if any(number not in known for number in ids) else Conflict
                raise error(
                    "; ".join(problems) + ": only dead alerts are queued again (see "
                    "`rasid alerts list --dead`); nothing was queued"
                )
        return outbox.requeue_dead(self.db, self.clock.now(), ids=list(ids) or None)

    def retry_dead_alerts(self) -> int:
        """Queue every dead alert again; how many."""
        from alerts import outbox

        return outbox.requeue_dead(self.db, self.clock.now())

    def preview_digests(self, watchlist: str) -> list[DigestPreview]:
        """Each digest route of ``watchlist``: when its next digest is due and what it
        holds so far."""
        from monitor.digests import preview_digests

        return preview_digests(
            self.db, self.clock, watchlist, max_article_age=self.settings.alerts.max_article_age
        )

    def digest_now(self, watchlist: str, *, send: bool = False) -> DigestRun:
        """Queue the digest of each digest route of ``watchlist`` now (covering the
        matches since its last digest); the next scheduled one starts from here. With
        ``send``, deliver them at once through the dispatcher (to those channels only:
        alerts queued before them on those channels go first, as always)."""
        from monitor.digests import delivery_states, digest_now

        queued = digest_now(
            self.db, self.clock, watchlist, max_article_age=self.settings.alerts.max_article_age
        )
        ids = [digest.alert_id for digest in queued if digest.alert_id is not None]
        if not send or not ids:
            return DigestRun([DigestDelivery(digest) for digest in queued])
        summary = self._dispatch_to({digest.channel for digest in queued if digest.alert_id})
        states = delivery_states(self.db, ids)
        return DigestRun(
            [
                DigestDelivery(digest, *states.get(digest.alert_id or "", (None, None)))
                for digest in queued
            ],
            summary,
        )

    def _dispatch_to(self, names: set[str]) -> DispatchSummary:
        """One delivery round for these channels, as the service runs it."""
        import asyncio

        from alerts.channels import build_channels
        from alerts.dispatch import Dispatcher

        built = build_channels(self.settings, self.settings.crawl.network_policy, self.clock)
        missing = sorted(names - set(built))
        if missing:
            raise Conflict(
                f"channel {', '.join(map(repr, missing))} is off here (disabled, or its URL "
                "is empty in this environment): the digest is queued for the service"
            )
        chosen = {name: channel for name, channel in built.items() if name in names}
        dispatcher = Dispatcher(self.db, chosen, self.settings.alerts, self.clock)
        return asyncio.run(dispatcher.dispatch_due())

    def list_channels(self) -> list[ChannelInfo]:
        """settings.toml's channels and those added here, without URLs or secrets."""
        from monitor import channels

        with self.db.transaction() as session:
            return channels.describe(self.file_settings, channels.stored_channels(session))

    def add_channel(self, name: str, kind: str, url: str, secret: str | None = None) -> ChannelInfo:
        """Store a webhook or Slack channel; the running service delivers to it from its
        next dispatch tick."""
        from monitor import channels

        with self.db.transaction() as session:
            added = channels.add_channel(
                session,
                self.settings,
                name=name,
                kind=kind,
                url=url,
                secret=secret,
                now=self.clock.now(),
            )
            session.flush()
            self._follow_channels(session)
        return added

    def remove_channel(self, name: str) -> None:
        from monitor import channels

        with self.db.transaction() as session:
            channels.remove_channel(session, self.file_settings, name)
            session.flush()
            self._follow_channels(session)

    def test_channel(self, name: str) -> ChannelTest:
        """Send a sample alert (the seed article's match) to channel ``name`` now, outside
        the outbox, and tell what the receiver answered: what an admin checks after
        setting a channel up."""
        from alerts.channels import build_channel
        from alerts.outbox import ClaimedAlert, new_alert_id
        from alerts.samples import sample_match_event
        from monitor.errors import DeliveryError

        self.db  # noqa: B018 - opened, so the channels stored by the web page are known
        entry = next((c for c in self.settings.effective_channels() if c.name == name), None)
        if entry is None:
            raise NotFound(f"no channel named {name!r} in settings.toml")
        if not entry.active:
            raise Conflict(f"channel {name!r} is off (disabled, or its URL is empty)")
        channel = build_channel(
            entry, self.settings, self.settings.crawl.network_policy, self.clock
        )
        now = self.clock.now()
        alert_id = new_alert_id(now)
        # The seed article's match, as the bundled drones watchlist finds it.
        alert = ClaimedAlert(0, alert_id, name, sample_match_event(now, alert_id), 1, "")
        try:
            answer = channel.send([alert])
        except DeliveryError as exc:
            return ChannelTest(name, False, str(exc))
        return ChannelTest(name, True, answer)

    # -- users --------------------------------------------------------------------

    def count_users(self) -> int:
        with self.db.transaction() as session:
            return users.count_users(session)

    def list_users(self) -> list[UserInfo]:
        with self.db.transaction() as session:
            return users.list_users(session)

    def get_user(self, user_id: int) -> UserInfo | None:
        with self.db.transaction() as session:
            return users.get_user(session, user_id)

    def add_user(self, name: str, role: str, password: str) -> UserInfo:
        with self.db.transaction() as session:
            return users.add_user(session, name, role, password, self.clock.now())

    def remove_user(self, name: str) -> None:
        with self.db.transaction() as session:
            users.remove_user(session, name)

    def set_user_role(self, name: str, role: str) -> UserInfo:
        with self.db.transaction() as session:
            return users.set_role(session, name, role)

    def set_password(self, name: str, password: str) -> UserInfo:
        """Change a password; that user's sessions end."""
        with self.db.transaction() as session:
            return users.set_password(session, name, password, self.clock.now())

    def set_preferences(
        self, user_id: int, *, language: str | None = None, time_zone: str | None = None
    ) -> UserInfo:
        with self.db.transaction() as session:
            return users.set_preferences(session, user_id, language=language, time_zone=time_zone)

    def authenticate(self, name: str, password: str) -> UserInfo | None:
        with self.db.transaction() as session:
            return users.authenticate(session, name, password)

    def create_token(self, name: str, label: str) -> NewToken:
        """A new API token for user ``name``; its secret is in the result only."""
        with self.db.transaction() as session:
            return users.create_token(session, name, label, self.clock.now())

    def list_tokens(self, name: str | None = None) -> list[TokenInfo]:
        with self.db.transaction() as session:
            return users.list_tokens(session, name)

    def revoke_token(self, token_id: int) -> None:
        with self.db.transaction() as session:
            users.revoke_token(session, token_id)

    def user_for_token(self, secret: str) -> UserInfo | None:
        with self.db.transaction() as session:
            return users.user_for_token(session, secret, self.clock.now())

    def signing_key(self, name: str) -> str:
        with self.db.transaction() as session:
            return users.signing_key(session, name, self.clock.now())

    # -- the frontier -------------------------------------------------------------

    def list_failed_entries(self, limit: int = 1000) -> list[FailedEntry]:
        """Entries whose article page was given up after too many attempts."""
        from monitor.frontier import list_failed

        with self.db.connection() as connection:
            return list_failed(connection, limit=limit)

    def retry_entries(self, ids: Sequence[int] = ()) -> int:
        """Queue given-up entries again (all, or those ids); how many.

        Every id given must be a given-up entry, or nothing is queued.
        """
        from monitor.frontier import FAILED, retry_failed, states_of

        if ids:
            with self.db.connection() as connection:
                known = states_of(connection, ids)
            problems = [f"no entry has id {number}" for number in ids if number not in known]
            problems += [
                f"entry {number} is {known[number]}, not given up"
                for number in ids
                if number in known and known[number] != FAILED
            ]
            if problems:
                error = NotFound if any(number not in known for number in ids) else Conflict
                raise error(
                    "; ".join(problems) + ": only given-up entries are queued again (see "
                    "`rasid frontier list`); nothing was queued"
                )
        return retry_failed(self.db, list(ids) or None)

    # -- the database -------------------------------------------------------------

    def database_stats(self) -> DatabaseStats:
        """Each table's rows and bytes, the database's size, and growth per day."""
        from monitor.db.stats import database_stats

        return database_stats(self.db, self.clock.now())

    def prune(self, *, dry_run: bool = False) -> PruneReport:
        """Prune what ``[retention]`` says is old, as the service does every
        ``[retention] interval``; with ``dry_run``, count it and change nothing.

        Refused while another instance is pruning (PostgreSQL): the two would only
        wait on each other's rows.
        """
        from monitor.db.locks import run_alone
        from monitor.retention import prune

        if dry_run:
            return prune(self.db, self.settings, self.clock.now(), dry_run=True)
        with run_alone(self.db, "retention") as mine:
            if not mine:
                raise Conflict("another instance is pruning the database now; try again later")
            return prune(self.db, self.settings, self.clock.now())

    # -- findings (web page and API) -----------------------------------------------

    def list_matches(
        self,
        *,
        watchlist: str | None = None,
        source: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        before: int | None = None,
    ) -> MatchPage:
        """Matches newest first (a page of ``limit``), with their stories' other outlets."""
        from monitor.findings import list_matches

        with self.db.connection() as connection:
            return list_matches(
                connection,
                watchlist=watchlist,
                source=source,
                since=since,
                until=until,
                limit=limit,
                before=before,
            )

    def filter_names(self) -> tuple[list[str], list[str]]:
        """Every watchlist's and source's name, for a filter (cheaper than listing them)."""
        from monitor.findings import names

        with self.db.connection() as connection:
            return names(connection)

    def watchlist_activity(self, days: int = 30) -> dict[str, WatchlistActivity]:
        from monitor.findings import watchlist_activity

        with self.db.connection() as connection:
            return watchlist_activity(connection, self.clock.now(), days)

    def source_rates(self, days: int = 7) -> dict[str, float]:
        from monitor.findings import source_rates

        with self.db.connection() as connection:
            return source_rates(connection, self.clock.now(), days)

    def preview_query(
        self,
        query: str,
        *,
        text: str = "",
        slop: int = DEFAULT_SLOP,
        synonyms: Sequence[Sequence[str]] = (),
        recent: int = 5000,
        show: int = 20,
    ) -> Preview:
        """A query being edited, tried on pasted ``text`` and the newest ``recent``
        stored articles, with the forms it matched (raises QuerySyntaxError)."""
        from monitor.findings import preview_query

        compiled = self._compile(query, slop, synonyms)
        return preview_query(self.db, compiled, text=text, recent=recent, show=show)
