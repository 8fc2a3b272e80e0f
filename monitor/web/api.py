"""The REST API under /api/v1: the service layer's actions as JSON, for scripts.

Each route checks the caller's role, calls one :class:`~monitor.app.App` method (or a
monitor/findings.py view through it) and returns a response model, so the OpenAPI
document (/api/v1/openapi.json) describes every answer. Errors are the application's
(monitor/web/__init__.py): ``{"error": {"code", "message"}}`` with 401, 403, 404, 409 or
422. Handlers are plain functions, run in a thread pool: the service shares its event
loop with the crawler, and no database call may block it.

Roles: a *viewer* reads everything but the users; an *editor* also writes watchlists;
an *admin* also runs sources, alerts, channels and users.

Guarantees:

* No secret leaves in a response: a channel is its name, kind and state (never its URL
  or signing secret); a user is never their password hash; an API token's secret is in
  the answer of the POST that makes it, and nowhere else.
* A list that can grow without bound is paged: at most ``limit`` (≤ 200) items and
  ``next``, the URL of the next page (a ``before`` cursor), or null on the last page.

Words this module coins: a *moment* is a query parameter given either as an ISO 8601
time or as a duration back from now ("24h", "7d").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Security
from fastapi.security import APIKeyHeader, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from monitor.config import parse_duration
from monitor.errors import InvalidRequest, NotFound, QuerySyntaxError
from monitor.matching import DEFAULT_SLOP
from monitor.status import SourceHealth, describe_source
from monitor.users import MIN_PASSWORD, Role, TokenInfo, UserInfo
from monitor.web.auth import require
from monitor.web.context import context_of
from monitor.web.pages import safe_link

if TYPE_CHECKING:
    from crawler.discovery import Candidate as CrawlerCandidate
    from monitor.app import App, FeedDiscovery, QueryHit
    from monitor.findings import MatchView, WatchlistActivity
    from monitor.findings import Segment as FoundSegment
    from monitor.matching import Hit
    from monitor.watchlists import WatchlistInfo

# Declared so the OpenAPI document shows how to authenticate; monitor/web/auth.py reads
# the headers itself, before any route runs.
_bearer = HTTPBearer(auto_error=False, description="An API token: `rasid users token NAME`")
_header = APIKeyHeader(name="X-Auth-Token", auto_error=False, description="An API token")

MAX_PAGE = 200
MAX_QUERY = 10_000  # a query longer than this is refused before it is parsed
MAX_TEXT = 200_000


class ErrorBody(BaseModel):
    code: str = Field(examples=["not_found"])
    message: str = Field(examples=["no watchlist named 'drones'"])


class Error(BaseModel):
    """How every refusal is answered."""

    error: ErrorBody


def _errors(*statuses: int) -> dict[int | str, dict[str, object]]:
    described = {
        400: "The body could not be read as JSON",
        401: "Not signed in: no API token, or an unknown one",
        403: "The token's user lacks the role this needs",
        404: "What the path names does not exist",
        409: "Conflicts with what exists (a name in use, a watchlist from settings.toml)",
        422: "A value is refused; the message says what is accepted",
    }
    return {
        status: {"model": Error, "description": described[status]}
        for status in (400, 401, 403, 422, *statuses)
    }


class Body(BaseModel):
    """A request body: JSON types as they are (``false`` is no number), no unknown keys."""

    model_config = ConfigDict(strict=True, extra="forbid")


router = APIRouter(
    dependencies=[Security(_bearer), Security(_header)],
    responses=_errors(),
)

Name = Annotated[str, Path(min_length=1, max_length=200)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"At most this many (≤ {MAX_PAGE})")]
Before = Annotated[
    int | None, Query(ge=1, description="The cursor from the previous page's `next`")
]
MomentParam = Annotated[
    str | None,
    Query(
        max_length=64,
        description='An ISO 8601 time ("2025-05-01T08:00:00Z") or a duration back from now '
        '("24h", "7d")',
    ),
]


def _moment(request: Request, value: str | None, name: str) -> datetime | None:
    """A *moment* parameter as a UTC time (None when not given)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        pass
    else:
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    try:
        back = parse_duration(text)
        return context_of(request).clock.now() - back
    except (ValueError, OverflowError):
        raise InvalidRequest(
            f"{name} must be an ISO 8601 time (2025-05-01T08:00:00Z) or a duration back from "
            f'now ("24h", "7d"), not {value!r}'
        ) from None


def _next_page(request: Request, cursor: int | None) -> str | None:
    return None if cursor is None else str(request.url.include_query_params(before=cursor))


def _app(request: Request, role: Role) -> App:
    """The service layer, once the caller is known to hold ``role``."""
    require(request, role)
    return context_of(request).app


# -- watchlists ---------------------------------------------------------------------


class WatchlistBody(Body):
    """What a watchlist holds; PUT replaces all of it."""

    queries: list[Annotated[str, Field(min_length=1, max_length=MAX_QUERY)]] = Field(
        min_length=1, max_length=500, examples=[["طائرة مسيرة NOT مسيرة احتجاجية"]]
    )
    channels: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list, max_length=50, examples=[["ops"]]
    )
    slop: int = Field(DEFAULT_SLOP, ge=0, le=10, description="Words allowed between a phrase's")
    synonyms: list[
        Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(min_length=2)]
    ] = Field(
        default_factory=list,
        max_length=200,
        description="This watchlist's synonym groups, each of two or more words",
        examples=[[["مسيرة", "درون"]]],
    )
    enabled: bool = True


class NewWatchlist(WatchlistBody):
    name: str = Field(min_length=1, max_length=200, examples=["drones"])


class Watchlist(BaseModel):
    name: str
    queries: list[str]
    channels: list[str]
    slop: int
    synonyms: list[list[str]]
    enabled: bool
    origin: str = Field(description='"settings" (read-only here: edit settings.toml) or not')
    read_only: bool
    matches_last_day: int
    matches_last_week: int


def _watchlist(info: WatchlistInfo, activity: dict[str, WatchlistActivity]) -> Watchlist:
    counts = activity.get(info.name)
    return Watchlist(
        name=info.name,
        queries=list(info.queries),
        channels=list(info.channels),
        slop=info.slop,
        synonyms=[list(group) for group in info.synonyms],
        enabled=info.enabled,
        origin=info.origin,
        read_only=info.origin == "settings",
        matches_last_day=counts.last_day if counts else 0,
        matches_last_week=counts.last_week if counts else 0,
    )


@router.get("/watchlists", tags=["watchlists"])
def list_watchlists(request: Request) -> list[Watchlist]:
    """Every watchlist, those from settings.toml marked read-only."""
    app = _app(request, "viewer")
    activity = app.watchlist_activity(days=7)
    return [_watchlist(info, activity) for info in app.list_watchlists()]


@router.get("/watchlists/{name}", tags=["watchlists"], responses=_errors(404))
def get_watchlist(request: Request, name: Name) -> Watchlist:
    app = _app(request, "viewer")
    return _watchlist(app.get_watchlist(name), app.watchlist_activity(days=7))


@router.post("/watchlists", tags=["watchlists"], status_code=201, responses=_errors(404, 409))
def create_watchlist(request: Request, body: NewWatchlist) -> Watchlist:
    """Create a watchlist; its queries are parsed first (a bad one: 422 with its
    position). 404: a channel not in settings.toml."""
    app = _app(request, "editor")
    info = app.save_watchlist(
        body.name,
        body.queries,
        body.channels,
        slop=body.slop,
        synonyms=body.synonyms,
        enabled=body.enabled,
        create=True,
    )
    return _watchlist(info, {})


@router.put("/watchlists/{name}", tags=["watchlists"], responses=_errors(404, 409))
def replace_watchlist(request: Request, name: Name, body: WatchlistBody) -> Watchlist:
    """Replace all of a watchlist; one from settings.toml is refused (409)."""
    app = _app(request, "editor")
    info = app.save_watchlist(
        name,
        body.queries,
        body.channels,
        slop=body.slop,
        synonyms=body.synonyms,
        enabled=body.enabled,
        create=False,
    )
    return _watchlist(info, app.watchlist_activity(days=7))


@router.delete(
    "/watchlists/{name}", tags=["watchlists"], status_code=204, responses=_errors(404, 409)
)
def delete_watchlist(request: Request, name: Name) -> None:
    """Delete a watchlist (its matches go with it); one from settings.toml: 409."""
    _app(request, "editor").remove_watchlist(name)


# -- sources ------------------------------------------------------------------------


class Source(BaseModel):
    name: str
    url: str
    enabled: bool
    state: str = Field(description='"active", "paused" or "disabled"')
    origin: str
    interval_seconds: float
    last_polled_at: datetime | None
    last_success_at: datetime | None
    next_poll_at: datetime
    result: str = Field(description='"ok", "not_modified", "error ×3", "paused", ...')
    problem: str = Field(description="The last error or warning, and what was counted")
    failure_count: int
    articles_stored: int
    entries_seen: int
    paused_at: datetime | None
    resume_hint: str | None
    articles_per_day: float = Field(description="Articles stored per day over the last week")


def _source(health: SourceHealth, rates: dict[str, float] | None = None) -> Source:
    return Source(
        name=health.name,
        url=health.url,
        enabled=health.enabled,
        state=health.state,
        origin=health.origin,
        interval_seconds=health.interval.total_seconds(),
        last_polled_at=health.last_polled_at,
        last_success_at=health.last_success_at,
        next_poll_at=health.next_poll_at,
        result=health.result,
        problem=health.problem,
        failure_count=health.failure_count,
        articles_stored=health.articles_stored,
        entries_seen=health.entries_seen,
        paused_at=health.paused_at,
        resume_hint=health.resume_hint,
        articles_per_day=round((rates or {}).get(health.name, 0.0), 2),
    )


class NewSource(Body):
    url: str = Field(min_length=1, max_length=2000, examples=["https://www.aljazeera.net/"])
    name: str = Field(min_length=1, max_length=100, examples=["aljazeera"])
    interval: str | None = Field(
        None, max_length=32, description='Poll every so often ("10m"); default: adaptive'
    )
    discover: bool = Field(
        True,
        description="Fetch the URL first: a feed or sitemap is added as it is; on a page, "
        "the feed it offers (`pick` the N-th when it offers several)",
    )
    pick: int | None = Field(None, ge=1, le=1000)


class Candidate(BaseModel):
    url: str
    kind: str = Field(description='"feed" or "sitemap"')
    title: str | None
    entries: int
    newest: datetime | None
    found_by: str


class Discovery(BaseModel):
    url: str
    itself: Candidate | None = Field(description="The URL itself, when it is a feed")
    found: list[Candidate] = Field(description="The feeds a page offers")
    unchecked: str | None = Field(description="Why the URL could not be fetched to check it")


class AddedSource(BaseModel):
    source: Source
    discovery: Discovery | None
    warning: str | None


class DiscoverRequest(Body):
    url: str = Field(min_length=1, max_length=2000)


def _discovery(found: FeedDiscovery) -> Discovery:
    def candidate(item: CrawlerCandidate) -> Candidate:
        return Candidate(
            url=item.url,
            kind=item.kind,
            title=item.title,
            entries=item.entries,
            newest=item.newest,
            found_by=item.found_by,
        )

    return Discovery(
        url=found.url,
        itself=candidate(found.itself) if found.itself is not None else None,
        found=[candidate(item) for item in found.found],
        unchecked=found.unchecked,
    )


@router.get("/sources", tags=["sources"])
def list_sources(request: Request) -> list[Source]:
    """Every source with its health: last poll, result, error, interval, next poll."""
    app = _app(request, "viewer")
    rates = app.source_rates()
    return [_source(describe_source(source), rates) for source in app.list_sources()]


@router.post("/sources/discover", tags=["sources"], responses=_errors(404))
def discover_source(request: Request, body: DiscoverRequest) -> Discovery:
    """What a URL offers to poll, without adding anything. 404: a page without a feed."""
    return _discovery(_app(request, "admin").discover_feeds(body.url))


@router.post("/sources", tags=["sources"], status_code=201, responses=_errors(404, 409))
def add_source(request: Request, body: NewSource) -> AddedSource:
    """Add a source. The name, URL and interval are checked before anything is fetched;
    with ``discover``, the URL is fetched and the feed found is what is added."""
    app = _app(request, "admin")
    try:
        every = parse_duration(body.interval) if body.interval else None
    except ValueError as exc:
        raise InvalidRequest(f"interval: {exc}") from None
    app.check_source(body.name, body.url, every)
    chosen, discovery, warning = body.url, None, None
    if body.discover:
        found = app.discover_feeds(body.url)
        discovery = _discovery(found)
        if found.unchecked is not None:
            warning = f"could not check it ({found.unchecked}); added as given"
        elif found.itself is not None:
            chosen = found.itself.url
        elif body.pick is not None or len(found.found) == 1:
            pick = body.pick or 1
            if pick > len(found.found):
                raise InvalidRequest(f"pick must be from 1 to {len(found.found)}")
            chosen = found.found[pick - 1].url
        else:
            raise InvalidRequest(
                f"{body.url} offers {len(found.found)} feeds: choose one with pick "
                "(see POST /api/v1/sources/discover)"
            )
    added = app.add_source(body.name, chosen, every)
    return AddedSource(source=_source(describe_source(added)), discovery=discovery, warning=warning)


@router.post("/sources/{name}/pause", tags=["sources"], responses=_errors(404))
def pause_source(request: Request, name: Name) -> Source:
    return _source(describe_source(_app(request, "admin").pause_source(name)))


@router.post("/sources/{name}/resume", tags=["sources"], responses=_errors(404))
def resume_source(request: Request, name: Name) -> Source:
    """Poll a paused source again at the next tick, its failure count reset."""
    return _source(describe_source(_app(request, "admin").resume_source(name)))


@router.delete("/sources/{name}", tags=["sources"], status_code=204, responses=_errors(404, 409))
def delete_source(request: Request, name: Name) -> None:
    """Delete a source added here or by the CLI (its articles are kept); one from
    settings.toml: 409."""
    _app(request, "admin").remove_source(name)


# -- instances ----------------------------------------------------------------------


class RunningInstance(BaseModel):
    """A `rasid run` on this database, and what it holds now."""

    token: str = Field(description="Its lease token")
    host: str
    pid: int
    version: str
    started_at: datetime
    seen_at: datetime = Field(description="Its last heartbeat (every 5 s)")
    alive: bool = Field(description="False after 15 s without a heartbeat")
    stopping: bool
    sources: int = Field(description="Polls it has claimed and not recorded")
    pages: int = Field(description="Article pages it is fetching")
    alerts: int = Field(description="Alerts it was sending at its last heartbeat")


@router.get("/instances", tags=["instances"])
def list_instances(request: Request) -> list[RunningInstance]:
    report = _app(request, "viewer").collect_status()
    return [RunningInstance(**asdict(view)) for view in report.instances]


# -- channels -----------------------------------------------------------------------


class Channel(BaseModel):
    """A channel as the service built it: never its URL or secret."""

    name: str
    kind: str
    active: bool
    reason: str | None = Field(description="Why an inactive channel is off")


class ChannelTestResult(BaseModel):
    channel: str
    delivered: bool
    answer: str = Field(description="What the receiver answered (secrets removed)")


@router.get("/channels", tags=["channels"])
def list_channels(request: Request) -> list[Channel]:
    report = _app(request, "viewer").collect_status()
    return [
        Channel(name=item.name, kind=item.kind, active=item.active, reason=item.reason)
        for item in report.channels
    ]


class NewChannel(Body):
    name: str = Field(max_length=64, examples=["newsroom"])
    kind: Literal["webhook", "slack", "apprise", "email"]
    url: str = Field(max_length=2000, examples=["https://hooks.slack.com/services/T0/B0/X"])
    secret: str | None = Field(
        None, max_length=200, description="A webhook's Standard Webhooks key (whsec_…)"
    )


class StoredChannel(BaseModel):
    """A channel added here; its URL and secret are never returned."""

    name: str
    kind: str
    signed: bool


@router.post("/channels", tags=["channels"], status_code=201, responses=_errors(404, 409))
def add_channel(request: Request, body: NewChannel) -> StoredChannel:
    """Add a webhook or Slack channel (kept in the database, delivered to by the running
    service from its next dispatch tick); checked like settings.toml's channels."""
    added = _app(request, "admin").add_channel(body.name, body.kind, body.url, body.secret)
    return StoredChannel(name=added.name, kind=added.kind, signed=added.signed)


@router.delete("/channels/{name}", tags=["channels"], status_code=204, responses=_errors(404, 409))
def remove_channel(request: Request, name: Name) -> None:
    """Remove a channel added here; one from settings.toml: 409."""
    _app(request, "admin").remove_channel(name)


@router.post("/channels/{name}/test", tags=["channels"], responses=_errors(404, 409))
def test_channel(request: Request, name: Name) -> ChannelTestResult:
    """Send a sample alert to the channel now, outside the outbox."""
    app = _app(request, "admin")
    result = app.test_channel(name)
    return ChannelTestResult(
        channel=result.channel,
        delivered=result.delivered,
        answer=_redacted(result.answer, app),
    )


def _redacted(text: str, app: App) -> str:
    """``text`` without any channel's URL or secret: a receiver's error may quote them."""
    for entry in app.settings.effective_channels():
        for secret in (entry.url, entry.secret):
            if secret and len(secret) >= 8:
                text = text.replace(secret, "[redacted]")
    return text


# -- alerts -------------------------------------------------------------------------

AlertStatus = Literal["all", "pending", "failed", "sent", "dead"]


class Alert(BaseModel):
    id: int = Field(description="The outbox id, for retry")
    alert_id: str = Field(description="The id receivers see (webhook-id)")
    channel: str
    watchlist: str
    status: str = Field(description='"pending", "sent" or "dead"')
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    kind: str = Field(description='"match", "digest" or "follow_up"')


class AlertPage(BaseModel):
    items: list[Alert]
    next: str | None = Field(description="The next page's URL; null on the last page")


class RetryAll(Body):
    all_dead: Literal[True] = Field(description="Queue every dead alert again")


class Retried(BaseModel):
    queued: int


@router.get("/alerts", tags=["alerts"])
def list_alerts(
    request: Request,
    status: AlertStatus = "all",
    limit: Limit = 50,
    before: Before = None,
) -> AlertPage:
    """The alert log, newest first. ``failed``: pending again after a failed attempt."""
    app = _app(request, "viewer")
    only = None if status == "all" else status
    records = app.list_alerts(only, limit=limit + 1, before=before)
    page = records[:limit]
    more = len(records) > limit
    return AlertPage(
        items=[Alert(**vars(record)) for record in page],
        next=_next_page(request, page[-1].id if more else None),
    )


@router.post("/alerts/{alert_id}/retry", tags=["alerts"], responses=_errors(404, 409))
def retry_alert(request: Request, alert_id: Annotated[int, Path(ge=1)]) -> Retried:
    """Queue a dead alert again; one that is not dead: 409."""
    return Retried(queued=_app(request, "admin").retry_alerts([alert_id]))


@router.post("/alerts/retry", tags=["alerts"])
def retry_all_alerts(request: Request, body: RetryAll) -> Retried:
    """Queue every dead alert again (``{"all_dead": true}``)."""
    return Retried(queued=_app(request, "admin").retry_alerts())


# -- the frontier -------------------------------------------------------------------

# Given-up entries looked at for one page: the oldest this many (monitor/frontier.py
# lists them oldest first); retrying them brings the rest into view.
FAILED_SCAN = 10_000
EntryId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class GivenUpEntry(BaseModel):
    """A feed entry whose article page was given up after too many attempts."""

    id: int = Field(description="For retry; also the cursor: pass the last id as `before`")
    source: str
    url: str | None = Field(description="The entry's link (http or https only)")
    title: str
    attempts: int
    last_error: str | None
    discovered_at: datetime = Field(description="When a poll found the entry")


class GivenUpPage(BaseModel):
    items: list[GivenUpEntry]
    next: str | None = Field(description="The next page's URL; null on the last page")


class RetryAllEntries(Body):
    all_failed: Literal[True] = Field(description="Queue every given-up entry again")


@router.get("/frontier/failed", tags=["frontier"])
def list_given_up(request: Request, limit: Limit = 50, before: Before = None) -> GivenUpPage:
    """Entries whose article pages were given up after too many attempts, newest first
    (what `rasid frontier list` shows)."""
    app = _app(request, "viewer")
    entries = sorted(
        app.list_failed_entries(limit=FAILED_SCAN), key=lambda entry: entry.id, reverse=True
    )
    found = [entry for entry in entries if before is None or entry.id < before]
    page = found[:limit]
    more = len(found) > limit
    return GivenUpPage(
        items=[
            GivenUpEntry(
                id=entry.id,
                source=entry.source,
                url=safe_link(entry.url),
                title=entry.title,
                attempts=entry.attempts,
                last_error=entry.last_error,
                discovered_at=entry.discovered_at,
            )
            for entry in page
        ],
        next=_next_page(request, page[-1].id if more else None),
    )


@router.post("/frontier/{entry_id}/retry", tags=["frontier"], responses=_errors(404, 409))
def retry_given_up(request: Request, entry_id: EntryId) -> Retried:
    """Queue a given-up entry again with fresh attempts; one that is not given up: 409."""
    return Retried(queued=_app(request, "admin").retry_entries([entry_id]))


@router.post("/frontier/retry", tags=["frontier"])
def retry_all_given_up(request: Request, body: RetryAllEntries) -> Retried:
    """Queue every given-up entry again (``{"all_failed": true}``)."""
    return Retried(queued=_app(request, "admin").retry_entries())


# -- users --------------------------------------------------------------------------


class User(BaseModel):
    name: str
    role: Role
    created_at: datetime
    time_zone: str | None
    language: str | None


class NewUser(Body):
    name: str = Field(min_length=1, max_length=100, examples=["amal"])
    role: Role
    password: str = Field(min_length=MIN_PASSWORD, max_length=1000)


class RoleChange(Body):
    role: Role


class NewTokenRequest(Body):
    label: str = Field(min_length=1, max_length=100, examples=["newsroom script"])


class Token(BaseModel):
    id: int
    user: str
    label: str
    prefix: str = Field(description="The token's first characters, to tell it apart")
    created_at: datetime
    last_used_at: datetime | None


class CreatedToken(BaseModel):
    token: str = Field(description="The secret: shown this once, kept nowhere")
    info: Token


def _user(info: UserInfo) -> User:
    return User(
        name=info.name,
        role=info.role,
        created_at=info.created_at,
        time_zone=info.time_zone,
        language=info.language,
    )


def _token(info: TokenInfo) -> Token:
    return Token(
        id=info.id,
        user=info.user,
        label=info.name,
        prefix=info.prefix,
        created_at=info.created_at,
        last_used_at=info.last_used_at,
    )


@router.get("/me", tags=["users"])
def me(request: Request) -> User:
    """Who the token (or session) belongs to."""
    return _user(require(request, "viewer"))


@router.get("/users", tags=["users"])
def list_users(request: Request) -> list[User]:
    return [_user(info) for info in _app(request, "admin").list_users()]


@router.post("/users", tags=["users"], status_code=201, responses=_errors(409))
def create_user(request: Request, body: NewUser) -> User:
    return _user(_app(request, "admin").add_user(body.name, body.role, body.password))


@router.put("/users/{name}/role", tags=["users"], responses=_errors(404, 409))
def set_role(request: Request, name: Name, body: RoleChange) -> User:
    """Change a user's role; the last admin cannot be demoted (409)."""
    return _user(_app(request, "admin").set_user_role(name, body.role))


@router.delete("/users/{name}", tags=["users"], status_code=204, responses=_errors(404, 409))
def delete_user(request: Request, name: Name) -> None:
    """Remove a user and their tokens; the last admin cannot be removed (409)."""
    _app(request, "admin").remove_user(name)


@router.get("/users/{name}/tokens", tags=["users"], responses=_errors(404))
def list_tokens(request: Request, name: Name) -> list[Token]:
    app = _app(request, "admin")
    if not any(user.name == name for user in app.list_users()):
        raise NotFound(f"no user is named {name!r}")
    return [_token(info) for info in app.list_tokens(name)]


@router.post("/users/{name}/tokens", tags=["users"], status_code=201, responses=_errors(404))
def create_token(request: Request, name: Name, body: NewTokenRequest) -> CreatedToken:
    """A new API token for the user: its secret is in this answer only."""
    made = _app(request, "admin").create_token(name, body.label)
    return CreatedToken(token=made.secret, info=_token(made.info))


@router.post("/me/tokens", tags=["users"], status_code=201)
def create_own_token(request: Request, body: NewTokenRequest) -> CreatedToken:
    """A new API token for yourself (a feed reader's, a script's): shown this once."""
    user = require(request, "viewer")
    if user.id == 0:
        raise InvalidRequest("no account exists yet: add one with `rasid users add NAME`")
    made = context_of(request).app.create_token(user.name, body.label)
    return CreatedToken(token=made.secret, info=_token(made.info))


@router.delete("/tokens/{token_id}", tags=["users"], status_code=204, responses=_errors(404))
def revoke_token(request: Request, token_id: Annotated[int, Path(ge=1)]) -> None:
    _app(request, "admin").revoke_token(token_id)


# -- what rasid found ---------------------------------------------------------------


class Outlet(BaseModel):
    source: str | None
    url: str | None = Field(description="The article's link (http or https only)")
    title: str
    fetched_at: datetime


class Story(BaseModel):
    id: int
    title: str
    first_seen: datetime
    outlets: list[Outlet] = Field(description="Every article of the story, the first first")


class Highlight(BaseModel):
    field: str = Field(description='Where: "title", "body", "summary" or "text"')
    start: int = Field(description="Character offset of the first matched word")
    end: int = Field(description="Character offset after the last matched word")
    text: str = Field(description="The words as written there (the surface form)")


class FoundArticle(BaseModel):
    id: int
    url: str | None = Field(description="The article's link (http or https only)")
    title: str
    source: str | None
    published_at: datetime | None
    fetched_at: datetime
    hits: list[Highlight]


class SearchPage(BaseModel):
    items: list[FoundArticle]
    next: str | None = Field(description="The next page's URL; null on the last page")


def _highlight(hit: QueryHit | Hit) -> Highlight:
    return Highlight(field=hit.field, start=hit.start, end=hit.end, text=hit.text)


@router.get("/stories", tags=["findings"])
def list_stories(
    request: Request,
    since: MomentParam = "24h",
    everything: Annotated[bool, Query(description="Also stories only one outlet carried")] = False,
) -> list[Story]:
    """Stories first seen since ``since`` (default 24h), newest first; by default only
    those more than one outlet reported ("also reported by")."""
    app = _app(request, "viewer")
    start = _moment(request, since, "since") or app.clock.now() - timedelta(hours=24)
    stories = app.list_stories(max(app.clock.now() - start, timedelta(0)), everything=everything)
    return [
        Story(
            id=story.id,
            title=story.title,
            first_seen=story.first_seen,
            outlets=[
                Outlet(
                    source=outlet.source,
                    url=safe_link(outlet.url),
                    title=outlet.title,
                    fetched_at=outlet.fetched_at,
                )
                for outlet in story.outlets
            ],
        )
        for story in stories
    ]


@router.get("/search", tags=["findings"])
def search_articles(
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY, description="A query")],
    since: MomentParam = "30d",
    limit: Limit = 50,
    before: Before = None,
) -> SearchPage:
    """Stored articles the query matches (the watchlists' query language), newest
    first. A malformed query: 422 with its position."""
    app = _app(request, "viewer")
    start = _moment(request, since, "since")
    back = None if start is None else max(app.clock.now() - start, timedelta(0))
    trial = app.backtest_query(q, since=back)
    found = [match for match in trial.matches if before is None or match.article_id < before]
    page = found[:limit]
    items = [
        FoundArticle(
            id=match.article_id,
            url=safe_link(match.url),
            title=match.title,
            source=match.source,
            published_at=match.published_at,
            fetched_at=match.fetched_at,
            hits=[
                Highlight(field=h.field, start=h.start, end=h.end, text=h.text) for h in match.hits
            ],
        )
        for match in page
    ]
    more = len(found) > limit
    return SearchPage(items=items, next=_next_page(request, page[-1].article_id if more else None))


# -- query tools --------------------------------------------------------------------


class QueryCheck(Body):
    query: str = Field(max_length=MAX_QUERY, examples=["طائرة مسيرة NOT احتجاجية"])
    slop: int = Field(DEFAULT_SLOP, ge=0, le=10)


class QueryProblem(BaseModel):
    message: str
    position: int | None = Field(description="The character (0-based) where it went wrong")


class QueryVerdict(BaseModel):
    ok: bool
    error: QueryProblem | None


@router.post("/queries/check", tags=["queries"])
def check_query(request: Request, body: QueryCheck) -> QueryVerdict:
    """Parse a query: ok, or the problem and its position (what an editor sees while
    typing). Parsing changes nothing, so a viewer may ask."""
    app = _app(request, "viewer")
    try:
        app.try_query(body.query, "", slop=body.slop)
    except QuerySyntaxError as exc:
        return QueryVerdict(
            ok=False, error=QueryProblem(message=exc.args[0], position=exc.position)
        )
    return QueryVerdict(ok=True, error=None)


# -- matches ------------------------------------------------------------------------


class Segment(BaseModel):
    """A run of text; ``hit``: the query matched these words."""

    text: str
    hit: bool


class Match(BaseModel):
    id: int = Field(description="Also the cursor: pass the last id shown as `before`")
    watchlist: str
    article_id: int
    title: str
    title_segments: list[Segment]
    snippet: str
    snippet_segments: list[Segment]
    url: str | None = Field(description="The article's link (http or https only)")
    source: str | None
    published_at: datetime | None
    fetched_at: datetime
    created_at: datetime
    alerted: bool = Field(description="False: too old to alert when it was found")
    words: list[str] = Field(description="The words matched, as written")
    story_id: int
    also_reported_by: list[Outlet] = Field(
        description="Other outlets of the story, each once, at most ten"
    )
    also_more: int = Field(description="How many more outlets carried the story")


class MatchList(BaseModel):
    items: list[Match]
    next: str | None = Field(description="The next page's URL; null on the last page")


def _segments(runs: Sequence[FoundSegment]) -> list[Segment]:
    return [Segment(text=run.text, hit=run.hit) for run in runs]


def _match(view: MatchView) -> Match:
    return Match(
        id=view.id,
        watchlist=view.watchlist,
        article_id=view.article_id,
        title=view.title_text,
        title_segments=_segments(view.title),
        snippet="".join(run.text for run in view.snippet),
        snippet_segments=_segments(view.snippet),
        url=safe_link(view.url),
        source=view.source,
        published_at=view.published_at,
        fetched_at=view.fetched_at,
        created_at=view.created_at,
        alerted=view.alerted,
        words=list(view.words),
        story_id=view.story_id,
        also_reported_by=[
            Outlet(
                source=outlet.source,
                url=safe_link(outlet.url),
                title=outlet.title,
                fetched_at=outlet.fetched_at,
            )
            for outlet in view.also_reported_by
        ],
        also_more=view.also_more,
    )


@router.get("/matches", tags=["findings"])
def list_matches(
    request: Request,
    watchlist: Annotated[str | None, Query(max_length=200)] = None,
    source: Annotated[str | None, Query(max_length=200)] = None,
    since: MomentParam = None,
    until: MomentParam = None,
    limit: Limit = 50,
    before: Before = None,
) -> MatchList:
    """What the watchlists matched, newest first, each with its highlights and the
    other outlets that reported the same story."""
    app = _app(request, "viewer")
    page = app.list_matches(
        watchlist=watchlist or None,
        source=source or None,
        since=_moment(request, since, "since"),
        until=_moment(request, until, "until"),
        limit=limit,
        before=before,
    )
    return MatchList(
        items=[_match(view) for view in page.items], next=_next_page(request, page.next_before)
    )


# -- the live preview ---------------------------------------------------------------


class PreviewRequest(Body):
    query: str = Field(max_length=MAX_QUERY, examples=["طائرة مسيرة"])
    text: str = Field("", max_length=MAX_TEXT, description="Pasted text to try it on")
    slop: int = Field(DEFAULT_SLOP, ge=0, le=10)
    synonyms: list[
        Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(min_length=2)]
    ] = Field(default_factory=list, max_length=200)
    recent: int = Field(5000, ge=1, le=5000, description="How many newest articles to search")
    show: int = Field(20, ge=0, le=100, description="How many matching articles to return")


class FollowingWord(BaseModel):
    word: str
    count: int


class SurfaceForm(BaseModel):
    text: str = Field(description="A form the query matched, as written (harakat removed)")
    count: int
    followed_by: list[FollowingWord] = Field(description="The words most often after it")


class PreviewArticle(BaseModel):
    article_id: int
    title_segments: list[Segment]
    snippet_segments: list[Segment]
    url: str | None
    source: str | None
    fetched_at: datetime


class PreviewResult(BaseModel):
    query: str
    text_segments: list[Segment] = Field(description="The pasted text, its hits marked")
    text_hits: int
    searched: int = Field(description="How many recent articles were looked at")
    matched: int = Field(description="How many of them the query matches")
    articles: list[PreviewArticle] = Field(description="The newest matching ones")
    forms: list[SurfaceForm]


class ExclusionRequest(Body):
    query: str = Field(max_length=MAX_QUERY, examples=["طائرة مسيرة OR مسيرة"])
    phrase: str = Field(min_length=1, max_length=500, examples=["مسيرة احتجاجية"])


class ExclusionResult(BaseModel):
    query: str = Field(description="The query with articles holding the phrase left out")


@router.post("/queries/preview", tags=["queries"])
def preview_query(request: Request, body: PreviewRequest) -> PreviewResult:
    """Where a query matches: the pasted text, the newest stored articles, and the
    distinct forms it matched with their counts. A malformed query: 422."""
    app = _app(request, "viewer")
    found = app.preview_query(
        body.query,
        text=body.text,
        slop=body.slop,
        synonyms=body.synonyms,
        recent=body.recent,
        show=body.show,
    )
    return PreviewResult(
        query=found.query,
        text_segments=_segments(found.text),
        text_hits=found.text_hits,
        searched=found.searched,
        matched=found.matched,
        articles=[
            PreviewArticle(
                article_id=article.article_id,
                title_segments=_segments(article.title),
                snippet_segments=_segments(article.snippet),
                url=safe_link(article.url),
                source=article.source,
                fetched_at=article.fetched_at,
            )
            for article in found.articles
        ],
        forms=[
            SurfaceForm(
                text=form.text,
                count=form.count,
                followed_by=[FollowingWord(word=w, count=n) for w, n in form.followed_by],
            )
            for form in found.forms
        ],
    )


@router.post("/queries/exclude", tags=["queries"])
def exclude_phrase(request: Request, body: ExclusionRequest) -> ExclusionResult:
    """The query with a surface form left out (what the preview's one click does)."""
    require(request, "viewer")
    from monitor.findings import exclusion_query

    return ExclusionResult(query=exclusion_query(body.query, body.phrase))
