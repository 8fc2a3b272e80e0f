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
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from monitor.users import ROLES
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


def _days(value: str | None, default: int) -> timedelta:
    try:
        days = int(value) if value else default
    except ValueError:
        days = default
    return timedelta(days=min(max(days, 1), 365))


# -- running it ----------------------------------------------------------------------


@router.get("/sources")
def sources_page(request: Request) -> HTMLResponse:
    require(request, "viewer")
    app = context_of(request).app
    report = app.collect_status()
    rates = app.source_rates() if hasattr(app, "source_rates") else {}
    return render(request, "sources.html", {"report": report, "rates": rates, "found": None})


@router.post("/sources/discover")
def sources_discover(request: Request, url: str = Form(...)) -> HTMLResponse:
    """What the URL offers: itself, or the feeds its page links to, to pick one."""
    require(request, "admin")
    app = context_of(request).app
    discovery = app.discover_feeds(url.strip())
    report = app.collect_status()
    return render(
        request,
        "sources.html",
        {"report": report, "rates": {}, "found": discovery, "url": url},
    )


@router.post("/sources/add")
def sources_add(
    request: Request, name: str = Form(...), url: str = Form(...), interval: str = Form("")
) -> RedirectResponse:
    require(request, "admin")
    minutes = interval.strip()
    every = None
    if minutes:
        if not minutes.isdigit() or int(minutes) < 1:
            from monitor.errors import InvalidRequest

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


ALERT_FILTERS = ("all", "pending", "sent", "failed", "dead")


@router.get("/alerts")
def alerts_page(request: Request, status: str = "all") -> HTMLResponse:
    require(request, "viewer")
    app = context_of(request).app
    chosen = status if status in ALERT_FILTERS else "all"
    only = None if chosen == "all" else chosen
    alerts = app.list_alerts(only, limit=200)  # type: ignore[arg-type]
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


@router.get("/channels")
def channels_page(request: Request) -> HTMLResponse:
    require(request, "viewer")
    report = context_of(request).app.collect_status()
    return render(request, "channels.html", {"report": report, "tried": None})


@router.post("/channels/{name}/test")
def channels_test(request: Request, name: str) -> HTMLResponse:
    require(request, "admin")
    app = context_of(request).app
    tried = app.test_channel(name)
    return render(request, "channels.html", {"report": app.collect_status(), "tried": tried})


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
        from monitor.errors import InvalidRequest

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
