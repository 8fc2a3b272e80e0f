"""rasid's web page and REST API: one ASGI application over the service layer.

``create_app`` builds it for a :class:`~monitor.web.context.WebContext`; ``rasid run``
serves it from the service's own event loop, ``rasid web`` alone
(monitor/web/server.py). Pages are rendered on the server (Jinja2, autoescaped) in
Arabic, right to left, or English; the API lives under /api/v1 with its OpenAPI
document at /api/v1/openapi.json.

Guarantees, kept here for every route rather than by each:

* A request whose ``Host`` is not this site's ([web] allowed_hosts) is refused (400)
  before anything else runs: a page on loopback cannot be reached through DNS rebinding.
* Every unsafe request is checked for CSRF (monitor/web/auth.py ``check_csrf``), as an
  application-wide dependency.
* Every response carries a Content-Security-Policy without inline scripts, so a feed's
  markup that escaped escaping still could not run.
* Errors are shown once, here: the API answers ``{"error": {"code", "message"}}``, a page
  shows the message (or sends an anonymous visitor to the sign-in page).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    QuerySyntaxError,
    RasidError,
)
from monitor.web.auth import (
    AuthError,
    LoginThrottle,
    SessionMiddleware,
    Sessions,
    check_csrf,
)
from monitor.web.context import WebContext

if TYPE_CHECKING:
    from monitor.config import WebSettings

HERE = Path(__file__).resolve().parent
API_PREFIX = "/api/v1"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]", "::1")


def allowed_hosts(web: WebSettings) -> frozenset[str] | None:
    """Host names (without port) the site answers to; None: any (``"*"``)."""
    if "*" in web.allowed_hosts:
        return None
    names = {*LOOPBACK_NAMES, *(host.lower() for host in web.allowed_hosts)}
    host = web.host.lower()
    if not _is_wildcard(host):
        names.add(host)
        names.add(f"[{host}]")
    return frozenset(names)


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


class GuardMiddleware:
    """The Host allow-list and the security headers, for every HTTP response."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str] | None) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.hosts is not None:
            host = _host_of(scope)
            if host not in self.hosts:
                response = PlainTextResponse(
                    "Host not allowed: add it to [web] allowed_hosts in settings.toml",
                    status_code=400,
                )
                await response(scope, receive, send)
                return

        async def send_guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_guarded)


def _host_of(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"host":
            host = value.decode("latin-1").lower()
            if host.startswith("["):
                return host.partition("]")[0] + "]"
            return host.rpartition(":")[0] if ":" in host else host
    return ""


def wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith(("/api/", "/feeds/")) or path in ("/metrics", "/healthz", "/readyz")


def error_response(request: Request, status: int, code: str, message: str) -> Response:
    if wants_json(request):
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
    from monitor.web.pages import render_error

    return render_error(request, status, message)


STATUS_OF: list[tuple[type[RasidError], int, str]] = [
    (NotFound, 404, "not_found"),
    (Conflict, 409, "conflict"),
    (QuerySyntaxError, 422, "query_syntax"),
    (InvalidRequest, 422, "invalid"),
]


def _install_error_handlers(app: FastAPI) -> None:
    async def on_auth(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AuthError)
        if exc.status == 401 and not wants_json(request) and request.method == "GET":
            from urllib.parse import quote

            target = quote(
                request.url.path + (f"?{request.url.query}" if request.url.query else "")
            )
            return RedirectResponse(f"/login?next={target}", status_code=303)
        response = error_response(request, exc.status, exc.code, exc.message)
        if exc.status == 401 and wants_json(request):
            response.headers["www-authenticate"] = 'Bearer realm="rasid"'
        return response

    async def on_rasid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RasidError)
        for kind, status, code in STATUS_OF:
            if isinstance(exc, kind):
                return error_response(request, status, code, str(exc))
        return error_response(request, 500, "error", str(exc))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        codes = {404: "not_found", 405: "method_not_allowed"}
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        response = error_response(
            request, exc.status_code, codes.get(exc.status_code, "http_error"), message
        )
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
        return error_response(request, 422, "invalid", "; ".join(problems) or "invalid request")

    app.add_exception_handler(AuthError, on_auth)
    app.add_exception_handler(RasidError, on_rasid)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)


def create_app(context: WebContext) -> FastAPI:
    """The web page, the API, the feeds and the probes, over ``context``'s service layer."""
    from monitor.web import api, feeds, observability, pages

    app = FastAPI(
        title="rasid",
        summary="Arabic news monitoring: watchlists, matches, stories, sources and alerts.",
        version="1",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # Swagger UI loads scripts from a CDN; the document is enough
        redoc_url=None,
        dependencies=[Depends(check_csrf)],
    )
    app.state.rasid = context
    app.state.sessions = Sessions(context)
    app.state.throttle = LoginThrottle()
    _install_error_handlers(app)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(observability.router)
    app.include_router(api.router, prefix=API_PREFIX)
    app.include_router(feeds.router)
    app.include_router(pages.router)
    app.add_middleware(SessionMiddleware)
    app.add_middleware(GuardMiddleware, hosts=allowed_hosts(context.settings.web))
    return app
