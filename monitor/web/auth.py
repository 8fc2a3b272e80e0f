"""Who is asking: a signed session cookie, an API token, or the local machine.

Every request gets a :class:`Visitor` (``visitor_of``), made once by
:class:`SessionMiddleware` before any route runs:

* **Token.** ``Authorization: Bearer rsd_…`` (or ``X-Auth-Token``), for scripts and the
  API. A token request carries no cookie authority, so it needs no CSRF token.
* **Session.** The ``rasid_session`` cookie, signed with a key kept in the database
  (every instance accepts it), HttpOnly and SameSite=Lax, holding the user id, when it
  was signed and the session's CSRF token. A session signed before the user's last
  password change, or older than ``[web] session_lifetime``, is no session.
* **Local.** While no user exists, a request from a loopback address is the local
  admin: rasid on a laptop works without accounts, as it does from the CLI. The
  service refuses to listen on any other address in that state (monitor/web/server.py).

Unsafe methods (POST, PUT, PATCH, DELETE) made with cookie or local authority must
carry the session's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``)
and, when the browser sends one, an ``Origin`` of this site: :func:`check_csrf`, run
for every route by the application itself, so no route can forget it.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.users import Role, UserInfo
from monitor.web.context import WebContext, context_of

SESSION_COOKIE = "rasid_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Via = Literal["session", "token", "local", "anonymous"]


@dataclass(frozen=True)
class Visitor:
    user: UserInfo | None
    via: Via
    csrf: str

    @property
    def needs_csrf(self) -> bool:
        return self.via != "token"

    def can(self, role: Role) -> bool:
        return self.user is not None and self.user.can(role)


class AuthError(Exception):
    """Not signed in (401) or not allowed (403); the front door shows it its own way."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def visitor_of(request: Request) -> Visitor:
    found: Visitor = request.state.visitor
    return found


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "testclient"  # Starlette's in-process test client


class Sessions:
    """Signs and reads session cookies with the key kept in the database."""

    def __init__(self, context: WebContext) -> None:
        self._context = context
        self._serializer: URLSafeTimedSerializer | None = None

    @property
    def serializer(self) -> URLSafeTimedSerializer:
        if self._serializer is None:
            key = self._context.app.signing_key("session")
            self._serializer = URLSafeTimedSerializer(key, salt="rasid.session")
        return self._serializer

    def sign(self, user_id: int | None, csrf: str) -> str:
        # The service's clock, the one that stamps password changes.
        signed = int(self._context.clock.now().timestamp())
        return self.serializer.dumps({"u": user_id, "c": csrf, "t": signed})

    def read(self, cookie: str) -> tuple[int | None, str, int] | None:
        lifetime = self._context.settings.web.session_lifetime.total_seconds()
        try:
            data = self.serializer.loads(cookie, max_age=int(lifetime))
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        user, csrf, signed = data.get("u"), data.get("c"), data.get("t")
        if not isinstance(csrf, str) or not isinstance(signed, int):
            return None
        if user is not None and not isinstance(user, int):
            return None
        return user, csrf, signed


class SessionMiddleware:
    """Makes each HTTP request's :class:`Visitor`, and sets or renews the cookie.

    A pure ASGI middleware (no response buffering): the cookie is added to the
    response's headers as they pass.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        context = context_of(request)
        sessions: Sessions = request.app.state.sessions
        # The database is asked off the event loop the crawler shares.
        visitor, cookie = await run_in_threadpool(_identify, request, context, sessions)
        scope.setdefault("state", {})["visitor"] = visitor

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                replaced: str | None = scope["state"].get("set_session")
                value = replaced if replaced is not None else cookie
                if value is not None:
                    headers = list(message.get("headers", []))
                    headers.append((b"set-cookie", _cookie_header(value, context).encode()))
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def _cookie_header(value: str, context: WebContext) -> str:
    web = context.settings.web
    parts = [
        f"{SESSION_COOKIE}={value}",
        "Path=/",
        "HttpOnly",
        "SameSite=Lax",
        f"Max-Age={int(web.session_lifetime.total_seconds())}" if value else "Max-Age=0",
    ]
    if web.secure_cookies:
        parts.append("Secure")
    return "; ".join(parts)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    token = request.headers.get("x-auth-token", "").strip()
    return token or None


def _identify(
    request: Request, context: WebContext, sessions: Sessions
) -> tuple[Visitor, str | None]:
    """The visitor, and the cookie to set (None: keep the browser's)."""
    app = context.app
    token = _bearer(request)
    if token is not None:
        # An unknown token is a visitor without a user: routes answer 401.
        return Visitor(app.user_for_token(token), "token", ""), None
    raw = request.cookies.get(SESSION_COOKIE)
    session = sessions.read(raw) if raw else None
    if session is None:
        csrf = secrets.token_urlsafe(24)
        return _unsigned(request, context, csrf), sessions.sign(None, csrf)
    user_id, csrf, signed = session
    if user_id is not None:
        user = app.get_user(user_id)
        if user is not None and signed >= int(user.password_changed_at.timestamp()):
            return Visitor(user, "session", csrf), None
        # The user is gone or changed their password: this session is over.
        return _unsigned(request, context, csrf), sessions.sign(None, csrf)
    return _unsigned(request, context, csrf), None


_EPOCH = datetime.fromtimestamp(0, UTC)
# Who a loopback visitor is while no account exists.
LOCAL_USER = UserInfo(
    id=0, name="local", role="admin", created_at=_EPOCH, password_changed_at=_EPOCH
)


def _unsigned(request: Request, context: WebContext, csrf: str) -> Visitor:
    client = request.client.host if request.client else None
    if _is_loopback(client) and context.app.count_users() == 0:
        return Visitor(LOCAL_USER, "local", csrf)
    return Visitor(None, "anonymous", csrf)


def sign_in(request: Request, user: UserInfo) -> None:
    """Start a session for ``user`` with a fresh CSRF token (no fixation)."""
    sessions: Sessions = request.app.state.sessions
    request.state.set_session = sessions.sign(user.id, secrets.token_urlsafe(24))


def sign_out(request: Request) -> None:
    sessions: Sessions = request.app.state.sessions
    request.state.set_session = sessions.sign(None, secrets.token_urlsafe(24))


def require(request: Request, role: Role) -> UserInfo:
    """The visitor's user when it holds ``role``; else :class:`AuthError`."""
    visitor = visitor_of(request)
    if visitor.user is None:
        if visitor.via == "token":
            raise AuthError(401, "invalid_token", "the API token is unknown or revoked")
        raise AuthError(401, "not_signed_in", "sign in, or send an API token")
    if not visitor.user.can(role):
        raise AuthError(
            403,
            "forbidden",
            f"this needs the {role} role; {visitor.user.name} is a {visitor.user.role}",
        )
    return visitor.user


async def check_csrf(request: Request) -> None:
    """Refuse an unsafe request made with cookie or local authority without this
    session's CSRF token, or from another site's page."""
    if request.method not in UNSAFE_METHODS:
        return
    visitor = visitor_of(request)
    if not visitor.needs_csrf:
        return
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        expected = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if origin != expected:
            raise AuthError(403, "cross_site", "a request from another site is refused")
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            field = form.get(CSRF_FIELD)
            given = field if isinstance(field, str) else None
    if not given or not hmac.compare_digest(given, visitor.csrf):
        raise AuthError(
            403, "csrf", "the form is out of date or was not sent by rasid's page: reload it"
        )


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site, never another site."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(char) < 32 for char in target)
    ):
        return "/"
    return target


class LoginThrottle:
    """Slows down password guessing: after ``limit`` failures within ``window`` seconds
    for one name or from one address, sign-ins for it are refused until the oldest
    failure leaves the window. Kept per process, which is enough to make guessing slow.
    """

    def __init__(self, limit: int = 5, window: float = 900.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: defaultdict[str, deque[float]] = defaultdict(deque)

    def _keys(self, name: str, address: str | None) -> list[str]:
        return [f"name:{name.casefold()}", f"addr:{address}"]

    def wait(self, name: str, address: str | None, now: float) -> float:
        """Seconds until a sign-in may be tried again (0: now)."""
        longest = 0.0
        for key in self._keys(name, address):
            failures = self._failures.get(key)
            if not failures:
                continue
            while failures and failures[0] <= now - self.window:
                failures.popleft()
            if len(failures) >= self.limit:
                longest = max(longest, failures[0] + self.window - now)
        return longest

    def failed(self, name: str, address: str | None, now: float) -> None:
        for key in self._keys(name, address):
            self._failures[key].append(now)

    def succeeded(self, name: str) -> None:
        self._failures.pop(f"name:{name.casefold()}", None)
