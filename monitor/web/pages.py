"""The web page: server-rendered HTML over the service layer, Arabic first.

Each handler reads its form or query, calls one :class:`~monitor.app.App` method (or a
monitor/findings.py view through it) and renders a template; errors of the service
layer are shown by the application's one handler (monitor/web/__init__.py). Handlers
are plain functions, run in a thread pool, so a slow query never stalls the crawler
sharing the event loop.

Every string from a feed reaches the page through Jinja2's autoescaping; links from
feeds pass :func:`safe_link` (http and https only); the page runs no inline script
(its Content-Security-Policy forbids them).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from alerts.outbox import AlertFilter
from monitor.app import ChannelTest
from monitor.channels import KINDS as CHANNEL_KINDS
from monitor.errors import Conflict, InvalidRequest, NotFound, QuerySyntaxError
from monitor.findings import SurfaceForm, exclusion_query, group_by_story, segments
from monitor.matching import Hit
from monitor.users import ROLES
from monitor.watchlists import WatchlistInfo
from monitor.web import HERE
from monitor.web.auth import (
    CSRF_FIELD,
    AuthError,
    LoginThrottle,
    require,
    safe_next,
    sign_in,
    sign_out,
    visitor_of,
)
from monitor.web.context import context_of
from monitor.web.i18n import LANGUAGES, direction, local_time, translate

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every template, whatever its name: feed text is hostile
        trim_blocks=True,
        lstrip_blocks=True,
    )
)
LANGUAGE_COOKIE = "rasid_lang"


def safe_link(url: str | None) -> str | None:
    """A feed's link when it is http or https; anything else (javascript:, data:) is
    not a link on rasid's page."""
    if not url:
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url.strip() if scheme in ("http", "https") else None


def language_of(request: Request) -> str:
    visitor = visitor_of(request)
    if visitor.user is not None and visitor.user.language in LANGUAGES:
        return visitor.user.language
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return context_of(request).settings.web.language


def zone_of(request: Request) -> str:
    visitor = visitor_of(request)
    if visitor.user is not None and visitor.user.time_zone:
        return visitor.user.time_zone
    return context_of(request).settings.web.time_zone


def render(
    request: Request, template: str, values: Mapping[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    language = language_of(request)
    zone = zone_of(request)
    visitor = visitor_of(request)
    context = {
        "request": request,
        "t": lambda text, **kw: translate(language, text, **kw),
        "when": lambda moment, with_date=True: local_time(moment, zone, with_date=with_date),
        "link": safe_link,
        "lang": language,
        "dir": direction(language),
        "zone": zone,
        "user": visitor.user,
        "local_mode": visitor.via == "local",
        "csrf": visitor.csrf,
        "csrf_field": CSRF_FIELD,
        "path": request.url.path,
        **(values or {}),
    }
    return templates.TemplateResponse(request, template, context, status_code=status)


def render_error(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "error.html", {"status": status, "message": message}, status)


def back(path: str, notice: str | None = None) -> RedirectResponse:
    """After a change, show the page again (POST, redirect, GET)."""
    if notice:
        from urllib.parse import quote

        path += ("&" if "?" in path else "?") + "notice=" + quote(notice)
    return RedirectResponse(path, status_code=303)


# -- signing in ---------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", {"next": safe_next(next), "error": None})


@router.post("/login", response_model=None)
def login(
    request: Request,
    name: str = Form(""),
    password: str = Form(""),
    next: str = Form("/"),
) -> Response:
    address = request.client.host if request.client else None
    now = time.monotonic()
    target = safe_next(next)
    throttle: LoginThrottle = request.app.state.throttle
    wait = throttle.wait(name, address, now)
    t = lambda text, **kw: translate(language_of(request), text, **kw)  # noqa: E731
    if wait > 0:
        minutes = max(1, round(wait / 60))
        message = t("Too many failed sign-ins: try again in {minutes} min.", minutes=minutes)
        return render(request, "login.html", {"next": target, "error": message}, 429)
    user = context_of(request).app.authenticate(name, password)
    if user is None:
        throttle.failed(name, address, now)
        message = t("Wrong name or password.")
        return render(request, "login.html", {"next": target, "error": message}, 401)
    throttle.succeeded(name)
    sign_in(request, user)
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    sign_out(request)
    return RedirectResponse("/login", status_code=303)


@router.post("/preferences")
def preferences(
    request: Request,
    language: str | None = Form(None),
    time_zone: str | None = Form(None),
    next: str = Form("/"),
) -> RedirectResponse:
    """The language switch (and the time zone): kept on the account when signed in, in
    a cookie otherwise."""
    visitor = visitor_of(request)
    if visitor.user is not None and visitor.via == "session":
        context_of(request).app.set_preferences(
            visitor.user.id, language=language, time_zone=time_zone or None
        )
    response = RedirectResponse(safe_next(next), status_code=303)
    if language in LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE, language, max_age=365 * 86400, httponly=True, samesite="lax"
        )
    return response


# -- what rasid found ----------------------------------------------------------------


@router.get("/")
def home(request: Request) -> RedirectResponse:
    require(request, "viewer")
    return RedirectResponse("/matches", status_code=303)


def _date(value: str | None, zone: str, *, end: bool = False) -> datetime | None:
    """A date from a filter form (YYYY-MM-DD, the user's zone) as a UTC moment: its
    start, or with ``end`` the start of the next day."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"a date is written YYYY-MM-DD, not {value!r}") from None
    moment = datetime.combine(day, datetime.min.time(), ZoneInfo(zone))
    return (moment + timedelta(days=1) if end else moment).astimezone(UTC)


@router.get("/matches")
def matches_page(
    request: Request,
    watchlist: str | None = None,
    source: str | None = None,
    since: str | None = None,
    until: str | None = None,
    before: int | None = None,
) -> HTMLResponse:
    """Recent matches, one card per story, with the outlets that also carried it."""
    require(request, "viewer")
    app = context_of(request).app
    zone = zone_of(request)
    page = app.list_matches(
        watchlist=watchlist or None,
        source=source or None,
        since=_date(since, zone),
        until=_date(until, zone, end=True),
        before=before,
    )
    filters = {
        key: value
        for key, value in (
            ("watchlist", watchlist),
            ("source", source),
            ("since", since),
            ("until", until),
        )
        if value
    }
    watchlists, sources = app.filter_names()
    return render(
        request,
        "matches.html",
        {
            "groups": group_by_story(page.items),
            "next_before": page.next_before,
            "filters": filters,
            "next_query": urlencode({**filters, "before": page.next_before or ""}),
            "watchlists": watchlists,
            "sources": sources,
        },
    )


@router.get("/search")
def search_page(
    request: Request, q: str = "", days: str = "30", source: str | None = None
) -> HTMLResponse:
    """The stored articles a query matches, in the watchlists' query language."""
    require(request, "viewer")
    app = context_of(request).app
    found = None
    total = 0
    error = None
    if q.strip():
        try:
            trial = app.backtest_query(q, since=_days(days, 30))
        except QuerySyntaxError as exc:
            error = str(exc)
        else:
            matches = [m for m in trial.matches if not source or m.source == source]
            total = len(matches)
            found = [
                {
                    "match": match,
                    "title": segments(match.title, _hit_spans(match.hits, "title")),
                    "words": list(dict.fromkeys(hit.text for hit in match.hits)),
                }
                for match in matches[:SEARCH_SHOWN]
            ]
    return render(
        request,
        "search.html",
        {
            "q": q,
            "days": days,
            "source": source or "",
            "found": found,
            "total": total,
            "shown": SEARCH_SHOWN,
            "error": error,
            "sources": app.filter_names()[1],
        },
    )


SEARCH_SHOWN = 50


def _hit_spans(hits: list[Hit], field: str) -> list[tuple[int, int]]:
    return [(hit.start, hit.end) for hit in hits if hit.field == field]


def _days(value: str | None, default: int) -> timedelta:
    try:
        days = int(value) if value else default
    except ValueError:
        days = default
    return timedelta(days=min(max(days, 1), 365))


# -- watchlists ----------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _groups(text: str) -> list[list[str]]:
    """Synonym groups from the form: one per line, members split by commas (Arabic or
    Latin)."""
    return [
        [member.strip() for member in line.replace("،", ",").split(",") if member.strip()]
        for line in _lines(text)
    ]


def _channel_names(request: Request) -> list[str]:
    app = context_of(request).app
    return [channel.name for channel in app.list_channels()] or ["console"]


@router.get("/watchlists")
def watchlists_page(request: Request) -> HTMLResponse:
    require(request, "viewer")
    app = context_of(request).app
    return render(
        request,
        "watchlists.html",
        {"watchlists": app.list_watchlists(), "activity": app.watchlist_activity()},
    )


@router.get("/watchlists/new")
def watchlist_new(request: Request) -> HTMLResponse:
    require(request, "editor")
    return _editor(request, None, queries="", synonyms="", channels=[], slop=1, enabled=True)


@router.get("/watchlists/{name}")
def watchlist_edit(request: Request, name: str) -> HTMLResponse:
    require(request, "viewer")
    watchlist = context_of(request).app.get_watchlist(name)
    return _editor(
        request,
        watchlist,
        queries="\n".join(watchlist.queries),
        synonyms="\n".join("، ".join(group) for group in watchlist.synonyms),
        channels=list(watchlist.channels),
        slop=watchlist.slop,
        enabled=watchlist.enabled,
    )


def _editor(
    request: Request,
    watchlist: WatchlistInfo | None,
    *,
    queries: str,
    synonyms: str,
    channels: list[str],
    slop: int,
    enabled: bool,
    name: str = "",
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "watchlist_edit.html",
        {
            "watchlist": watchlist,
            "name": watchlist.name if watchlist else name,
            "queries": queries,
            "synonyms": synonyms,
            "channels": channels,
            "slop": slop,
            "enabled": enabled,
            "all_channels": _channel_names(request),
            "error": error,
        },
        status,
    )


@router.post("/watchlists/save")
def watchlist_save(
    request: Request,
    name: str = Form(...),
    queries: str = Form(""),
    synonyms: str = Form(""),
    channels: list[str] = Form([]),  # noqa: B008 - FastAPI's form declaration
    slop: int = Form(1),
    enabled: bool = Form(False),
    create: bool = Form(False),
) -> Response:
    require(request, "editor")
    app = context_of(request).app
    try:
        saved = app.save_watchlist(
            name.strip(),
            _lines(queries),
            channels,
            slop=slop,
            synonyms=_groups(synonyms),
            enabled=enabled,
            create=create,
        )
    except (InvalidRequest, QuerySyntaxError, Conflict, NotFound) as exc:
        # Shown in the form, with what was typed kept.
        existing = None if create else app.get_watchlist(name.strip())
        return _editor(
            request,
            existing,
            queries=queries,
            synonyms=synonyms,
            channels=channels,
            slop=slop,
            enabled=enabled,
            name=name,
            error=str(exc),
            status=422,
        )
    notice = translate(language_of(request), "Saved {name}.", name=saved.name)
    return back("/watchlists", notice)


@router.post("/watchlists/{name}/delete")
def watchlist_delete(request: Request, name: str) -> RedirectResponse:
    require(request, "editor")
    context_of(request).app.remove_watchlist(name)
    return back("/watchlists", translate(language_of(request), "Deleted {name}.", name=name))


@router.post("/watchlists/preview")
def watchlist_preview(
    request: Request,
    queries: str = Form(""),
    synonyms: str = Form(""),
    slop: int = Form(1),
    sample: str = Form(""),
    backtest: bool = Form(False),
) -> HTMLResponse:
    """The live preview, an HTML fragment the editor's script puts in place: each
    query's parse error at its position, its hits in the pasted text, in the latest
    stored articles, and the surface forms it matched (each with a one-click NOT)."""
    require(request, "viewer")
    app = context_of(request).app
    groups = _groups(synonyms)
    lines = _lines(queries)
    results = []
    for number, query in enumerate(lines, start=1):
        try:
            preview = app.preview_query(query, text=sample, slop=slop, synonyms=groups)
        except QuerySyntaxError as exc:
            results.append({"number": number, "query": query, "error": exc, "preview": None})
            continue
        trial = None
        if backtest:
            trial = app.backtest_query(query, since=timedelta(days=30), slop=slop)
        results.append(
            {
                "number": number,
                "query": query,
                "error": None,
                "preview": preview,
                "backtest": trial,
                "exclude": _exclusions(lines, number - 1, preview.forms),
            }
        )
    return render(request, "preview.html", {"results": results, "lines": lines})


def _exclusions(lines: list[str], at: int, forms: list[SurfaceForm]) -> dict[str, str]:
    """For each form the preview shows (and each form with the word that follows it),
    the queries textarea with that phrase excluded from query ``at``."""
    phrases = []
    for form in forms:
        phrases.append(form.text)
        phrases.extend(f"{form.text} {word}" for word, _ in form.followed_by)
    result = {}
    for phrase in phrases:
        try:
            changed = exclusion_query(lines[at], phrase)
        except QuerySyntaxError:
            continue
        result[phrase] = "\n".join(changed if i == at else line for i, line in enumerate(lines))
    return result


# -- running it ----------------------------------------------------------------------


# Given-up entries the sources page lists (the oldest); the rest are counted.
GIVEN_UP_SHOWN = 100


def _sources_view(request: Request, values: Mapping[str, Any] | None = None) -> HTMLResponse:
    """The sources with their health, and the entries whose pages were given up."""
    app = context_of(request).app
    report = app.collect_status()
    return render(
        request,
        "sources.html",
        {
            "report": report,
            "rates": app.source_rates(),
            "found": None,
            "given_up": app.list_failed_entries(limit=GIVEN_UP_SHOWN),
            "given_up_total": report.frontier.failed,
            **(values or {}),
        },
    )


@router.get("/sources")
def sources_page(request: Request) -> HTMLResponse:
    require(request, "viewer")
    return _sources_view(request)


@router.post("/sources/discover")
def sources_discover(request: Request, url: str = Form(...)) -> HTMLResponse:
    """What the URL offers: itself, or the feeds its page links to, to pick one."""
    require(request, "admin")
    discovery = context_of(request).app.discover_feeds(url.strip())
    return _sources_view(request, {"found": discovery, "url": url})


@router.post("/sources/add")
def sources_add(
    request: Request, name: str = Form(...), url: str = Form(...), interval: str = Form("")
) -> RedirectResponse:
    require(request, "admin")
    minutes = interval.strip()
    every = None
    if minutes:
        if not minutes.isdigit() or int(minutes) < 1:
            raise InvalidRequest(f"the interval is a number of minutes, not {minutes!r}")
        every = timedelta(minutes=int(minutes))
    added = context_of(request).app.add_source(name.strip(), url.strip(), every)
    return back("/sources", translate(language_of(request), "Added {name}.", name=added.name))


@router.post("/sources/{name}/pause")
def sources_pause(request: Request, name: str) -> RedirectResponse:
    require(request, "admin")
    context_of(request).app.pause_source(name)
    return back("/sources")


@router.post("/sources/{name}/resume")
def sources_resume(request: Request, name: str) -> RedirectResponse:
    require(request, "admin")
    context_of(request).app.resume_source(name)
    return back("/sources")


@router.post("/sources/{name}/remove")
def sources_remove(request: Request, name: str) -> RedirectResponse:
    require(request, "admin")
    context_of(request).app.remove_source(name)
    return back("/sources", translate(language_of(request), "Removed {name}.", name=name))


@router.post("/frontier/retry")
def frontier_retry(
    request: Request, entry: int | None = Form(None, ge=1, le=2**63 - 1)
) -> RedirectResponse:
    """Queue one given-up entry again, or every one (no ``entry``): what
    `rasid frontier retry` does."""
    require(request, "admin")
    count = context_of(request).app.retry_entries([entry] if entry is not None else [])
    notice = translate(language_of(request), "{count} page(s) queued again.", count=count)
    return back("/sources", notice)


ALERT_STATES: tuple[AlertFilter, ...] = ("pending", "sent", "failed", "dead")
ALERT_FILTERS = ("all", *ALERT_STATES)


@router.get("/alerts")
def alerts_page(request: Request, status: str = "all") -> HTMLResponse:
    require(request, "viewer")
    app = context_of(request).app
    only: AlertFilter | None = None
    for state in ALERT_STATES:
        if status == state:
            only = state
    chosen = only or "all"
    alerts = app.list_alerts(only, limit=200)
    counts = app.collect_status().alerts
    return render(
        request,
        "alerts.html",
        {"alerts": alerts, "status": chosen, "filters": ALERT_FILTERS, "counts": counts},
    )


@router.post("/alerts/retry")
def alerts_retry(request: Request, alert: int | None = Form(None)) -> RedirectResponse:
    """Queue one dead alert again, or every dead alert (no ``alert``)."""
    require(request, "admin")
    count = context_of(request).app.retry_alerts([alert] if alert is not None else [])
    notice = translate(language_of(request), "{count} alert(s) queued again.", count=count)
    return back("/alerts?status=dead", notice)


def _channels_view(request: Request, tried: ChannelTest | None = None) -> HTMLResponse:
    app = context_of(request).app
    report = app.collect_status()
    origins = {channel.name: channel.origin for channel in app.list_channels()}
    return render(
        request,
        "channels.html",
        {"report": report, "tried": tried, "origins": origins, "kinds": CHANNEL_KINDS},
    )


@router.get("/channels")
def channels_page(request: Request) -> HTMLResponse:
    require(request, "viewer")
    return _channels_view(request)


@router.post("/channels/add")
def channels_add(
    request: Request,
    name: str = Form(...),
    kind: str = Form(...),
    url: str = Form(...),
    secret: str = Form(""),
) -> RedirectResponse:
    """A webhook or Slack channel kept in the database; the service picks it up at its
    next dispatch tick. Its URL and secret are not shown again."""
    require(request, "admin")
    added = context_of(request).app.add_channel(name.strip(), kind, url, secret or None)
    return back("/channels", translate(language_of(request), "Added {name}.", name=added.name))


@router.post("/channels/{name}/remove")
def channels_remove(request: Request, name: str) -> RedirectResponse:
    require(request, "admin")
    context_of(request).app.remove_channel(name)
    return back("/channels", translate(language_of(request), "Removed {name}.", name=name))


@router.post("/channels/{name}/test")
def channels_test(request: Request, name: str) -> HTMLResponse:
    require(request, "admin")
    return _channels_view(request, context_of(request).app.test_channel(name))


# -- users and the account -----------------------------------------------------------


@router.get("/users")
def users_page(request: Request) -> HTMLResponse:
    require(request, "admin")
    app = context_of(request).app
    return render(
        request,
        "users.html",
        {"users": app.list_users(), "tokens": app.list_tokens(), "roles": ROLES},
    )


@router.post("/users/add")
def users_add(
    request: Request, name: str = Form(...), role: str = Form(...), password: str = Form(...)
) -> RedirectResponse:
    require(request, "admin")
    context_of(request).app.add_user(name.strip(), role, password)
    return back("/users", translate(language_of(request), "Added {name}.", name=name))


@router.post("/users/{name}/role")
def users_role(request: Request, name: str, role: str = Form(...)) -> RedirectResponse:
    require(request, "admin")
    context_of(request).app.set_user_role(name, role)
    return back("/users")


@router.post("/users/{name}/remove")
def users_remove(request: Request, name: str) -> RedirectResponse:
    require(request, "admin")
    context_of(request).app.remove_user(name)
    return back("/users", translate(language_of(request), "Removed {name}.", name=name))


@router.get("/account")
def account_page(request: Request) -> HTMLResponse:
    user = require(request, "viewer")
    app = context_of(request).app
    tokens = app.list_tokens(user.name) if user.id else []
    return render(request, "account.html", {"tokens": tokens, "new_token": None})


@router.post("/account/password")
def account_password(
    request: Request, current: str = Form(...), password: str = Form(...)
) -> Response:
    user = require(request, "viewer")
    app = context_of(request).app
    if app.authenticate(user.name, current) is None:
        raise InvalidRequest(translate(language_of(request), "The current password is wrong."))
    changed = app.set_password(user.name, password)
    sign_in(request, changed)  # the old sessions end; this one goes on
    return back("/account", translate(language_of(request), "Password changed."))


@router.post("/account/tokens")
def account_token(request: Request, label: str = Form("")) -> HTMLResponse:
    """A new API token, shown on this page once."""
    user = require(request, "viewer")
    app = context_of(request).app
    made = app.create_token(user.name, label)
    return render(
        request, "account.html", {"tokens": app.list_tokens(user.name), "new_token": made}
    )


@router.post("/account/tokens/{token_id}/revoke")
def account_revoke(request: Request, token_id: int) -> RedirectResponse:
    user = require(request, "viewer")
    app = context_of(request).app
    mine = {token.id for token in app.list_tokens(user.name)}
    if token_id not in mine and not user.can("admin"):
        raise AuthError(403, "forbidden", "this token is not yours")
    app.revoke_token(token_id)
    return back("/users" if token_id not in mine else "/account")


__all__ = ["AuthError", "render", "render_error", "router", "safe_link"]
