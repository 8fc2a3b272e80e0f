"""HTTP within the network guard: checked URLs, vetted addresses, a total deadline.

URLs rasid is given to call outside Scrapy (webhook and Slack URLs, the pages
``rasid sources add`` looks at) are user input, so every request goes through the same
gate as the crawler (:class:`monitor.netguard.NetworkPolicy`): the URL is checked by
its form, and the connection itself resolves the host through ``policy.resolve()`` and
connects only to a vetted address (the URL, Host header and TLS SNI keep the host name).
DNS rebinding between a check and the connect therefore cannot reach a private address.

requests' ``timeout=`` bounds each socket operation, not the request: a server that
drips one byte per second would hold a caller forever. Here a watchdog cuts the
connection's sockets when the TOTAL deadline passes, whatever phase (connect, sending,
headers, body) the request is in, and at most ``max_response_bytes`` of the answer are
read. Redirects are never followed (a caller that wants them checks each hop), and
proxies from the environment are ignored (a proxy would resolve names itself).
Failures are told in plain words naming the URL's origin only: a webhook's path (Slack's
included) is a credential.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.connection import create_connection

from monitor.errors import ConnectionFailed, NetworkGuardError
from monitor.netguard import NetworkPolicy

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024
DEFAULT_USER_AGENT = "rasid/0.1"
MAX_ERROR_BODY = 300


@dataclass(frozen=True)
class HttpReply:
    """An answer: status, headers (names lower-cased) and the first bytes of the body
    (``truncated`` when the size cap or the deadline cut the rest)."""

    status: int
    headers: Mapping[str, str]
    content: bytes
    text: str
    truncated: bool = False

    @property
    def summary(self) -> str:
        """The answer in a line: ``HTTP 200: ok`` (the body's first printable words)."""
        printable = "".join(char for char in self.text if char.isprintable() or char.isspace())
        body = " ".join(printable.split())[:MAX_ERROR_BODY]
        return f"HTTP {self.status}" + (f": {body}" if body else "")


class _SocketWatch:
    """The sockets one poster opened, and the deadline of the POST now in progress.

    When the deadline passes, :meth:`cut` shuts the sockets down, which wakes any read or
    write blocked on them; the POST then fails with a timeout.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._deadline: float | None = None
        self._generation = 0
        self.expired = False

    def arm(self, seconds: float) -> int:
        with self._lock:
            self._generation += 1
            self._deadline = time.monotonic() + seconds
            self.expired = False
            return self._generation

    def disarm(self) -> None:
        with self._lock:
            self._deadline = None

    def remaining(self) -> float | None:
        with self._lock:
            return None if self._deadline is None else self._deadline - time.monotonic()

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def cut(self, generation: int) -> None:
        with self._lock:
            if generation != self._generation or self._deadline is None:
                return
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            # The base-class shutdown acts on the file descriptor only (SSLSocket's own
            # would drop its TLS state under the reading thread). A socket already closed
            # or detached (a TLS-wrapped raw socket) has nothing left to cut.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


@dataclass(frozen=True)
class _Guard:
    policy: NetworkPolicy
    watch: _SocketWatch


class _GuardedConnectionMixin(HTTPConnection):
    """Resolve through the policy, connect to a vetted address, register the socket."""

    _guard: _Guard

    def _new_conn(self) -> socket.socket:
        addresses = self._guard.policy.resolve(self._dns_host, self.port)
        failures: list[OSError] = []
        for address in addresses:
            timeout = _connect_timeout(self.timeout, self._guard.watch.remaining())
            try:
                sock = create_connection(
                    (address, self.port),
                    timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(self, f"connection to {self.host} timed out") from exc
            except OSError as exc:
                failures.append(exc)
                continue
            peer = sock.getpeername()[0]
            if not self._guard.policy.address_allowed(peer):
                sock.close()
                raise NetworkGuardError(f"refused host {self.host!r}: connected to {peer}")
            self._guard.watch.add(sock)
            return sock
        raise NewConnectionError(
            self, f"Failed to establish a new connection: {failures[-1]}"
        ) from failures[-1]


def _connect_timeout(configured: Any, remaining: float | None) -> float | None:
    limits = [value for value in (configured, remaining) if isinstance(value, int | float)]
    return max(0.001, min(limits)) if limits else None


class _GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    def __init__(self, *args: Any, guard: _Guard, **kwargs: Any) -> None:
        self._guard = guard
        super().__init__(*args, **kwargs)


class _GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    def __init__(self, *args: Any, guard: _Guard, **kwargs: Any) -> None:
        self._guard = guard
        super().__init__(*args, **kwargs)

    def connect(self) -> None:
        super().connect()
        # The TLS socket replaced the raw one registered in _new_conn.
        if self.sock is not None:
            self._guard.watch.add(self.sock)


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    """A requests adapter whose connections all go through one :class:`_Guard`."""

    def __init__(self, guard: _Guard) -> None:
        self._guard = guard
        super().__init__(pool_connections=4, pool_maxsize=4, max_retries=0)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        pools: dict[str, Callable[..., HTTPConnectionPool]] = {
            "http": partial(_GuardedHTTPPool, guard=self._guard),
            "https": partial(_GuardedHTTPSPool, guard=self._guard),
        }
        # urllib3 leaves the map unannotated (inferred as classes); its PoolManager only
        # calls each entry, and a partial carries this adapter's guard.
        self.poolmanager.pool_classes_by_scheme = pools  # type: ignore[assignment]

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise NetworkGuardError("rasid never sends through a proxy")


class GuardedClient:
    """Requests to URLs rasid was given, one at a time (the deadline is per request).

    TLS certificates are verified against the system's CAs, or ``ca_bundle`` (a PEM file)
    for a server behind a private CA. Any status is returned as an :class:`HttpReply`;
    what a status means is the caller's business. Raises :class:`NetworkGuardError` for a
    refused URL or address (:class:`ResolutionError` for a name that does not resolve)
    and :class:`ConnectionFailed` when no answer came, each naming the origin only.
    """

    def __init__(
        self,
        policy: NetworkPolicy,
        *,
        timeout: timedelta | float,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        user_agent: str = DEFAULT_USER_AGENT,
        ca_bundle: str | None = None,
    ) -> None:
        self._policy = policy
        self._timeout = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        self._max_bytes = max_response_bytes
        self._watch = _SocketWatch()
        self._lock = threading.Lock()
        self._session = requests.Session()
        self._session.trust_env = False
        if ca_bundle is not None:
            self._session.verify = ca_bundle
        self._session.headers["User-Agent"] = user_agent
        adapter = _GuardedAdapter(_Guard(policy, self._watch))
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    @property
    def timeout(self) -> float:
        return self._timeout

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> HttpReply:
        return self.request("GET", url, headers=headers)

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HttpReply:
        return self.request("POST", url, body=body, headers=headers)

    def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpReply:
        """Send one request and return its answer, within the total deadline.

        The answer is decided by the status line: once it has arrived, a body cut short
        by the deadline or the size cap only marks the reply ``truncated``.
        """
        origin = redact_url(url)
        try:
            self._policy.check_url(url)
            with self._lock:
                generation = self._watch.arm(self._timeout)
                timer = threading.Timer(self._timeout, self._watch.cut, args=(generation,))
                timer.daemon = True
                timer.start()
                try:
                    return self._exchange(method, url, body, headers or {})
                except (requests.RequestException, OSError) as exc:
                    # The sockets' own timeouts are the deadline too: whichever of them
                    # and the watch's cut fires first, the answer did not come in time.
                    timed_out = isinstance(exc, requests.Timeout | TimeoutError)
                    if self._watch.expired or timed_out:
                        raise ConnectionFailed(
                            f"{origin}: no answer within the {self._timeout:g} s deadline"
                        ) from None
                    raise ConnectionFailed(f"{origin}: {describe_failure(exc, url)}") from None
                finally:
                    timer.cancel()
                    self._watch.disarm()
        except NetworkGuardError as exc:
            raise type(exc)(_without_url(str(exc), url, origin)) from None

    def _exchange(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]
    ) -> HttpReply:
        response = self._session.request(
            method,
            url,
            data=body,
            headers=dict(headers),
            allow_redirects=False,
            stream=True,
            timeout=(self._timeout, self._timeout),
        )
        if self._watch.expired:
            # Cut while the status line or headers were arriving: http.client may have
            # parsed a partial "HTTP/1.1 200" as an answer. Only a complete one counts.
            response.close()
            raise requests.Timeout("the total deadline passed before the headers arrived")
        try:
            content, truncated = self._read_capped(response)
        finally:
            response.close()
        text = content.decode(response.encoding or "utf-8", errors="replace")
        reply_headers = {name.lower(): value for name, value in response.headers.items()}
        return HttpReply(response.status_code, reply_headers, content, text, truncated)

    def _read_capped(self, response: requests.Response) -> tuple[bytes, bool]:
        """At most ``max_response_bytes`` of the (decoded) body; True if some was left."""
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(chunk_size=8192):
                chunks.append(chunk)
                size += len(chunk)
                if size > self._max_bytes:
                    return b"".join(chunks)[: self._max_bytes], True
        except (requests.RequestException, OSError):
            # The deadline cut the body, or the receiver dropped it: the status is known,
            # and the body is only ever shown in an error message.
            return b"".join(chunks), True
        return b"".join(chunks), False

    def close(self) -> None:
        self._session.close()


def redact_url(url: str) -> str:
    """``scheme://host[:port]`` of a URL: enough to say where, without path or token."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(invalid URL)"
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}"


def _without_url(message: str, url: str, origin: str) -> str:
    return message.replace(repr(url), repr(origin)).replace(url, origin)


def describe_failure(exc: BaseException, url: str) -> str:
    """The innermost cause of a requests/urllib3 failure in plain words, without the
    URL's path (which may hold a token) or query; never the repr of a wrapped error such
    as ``('Connection aborted.', RemoteDisconnected(...))``."""
    current: BaseException = exc
    seen: set[int] = set()
    while id(current) not in seen:
        seen.add(id(current))
        candidates = (getattr(current, "reason", None), current.__cause__, *current.args)
        inner = next((c for c in candidates if isinstance(c, BaseException)), None)
        if inner is None:
            break
        current = inner
    if isinstance(current, TimeoutError):
        return "connection timed out"
    # RemoteDisconnected is a ConnectionResetError too: the more precise reading first.
    if isinstance(current, http.client.RemoteDisconnected):
        return "the receiver closed the connection without answering"
    if isinstance(current, ConnectionResetError):
        return "the receiver reset the connection without answering"
    if isinstance(current, BrokenPipeError):
        return "the receiver closed the connection while the alert was being sent"
    if isinstance(current, http.client.BadStatusLine):
        # typeshed declares no .line, which BadStatusLine.__init__ sets.
        line = " ".join(str(current.line).split())[:60]  # type: ignore[attr-defined]
        return f"the receiver's answer is not HTTP (it began {line!r})"
    if isinstance(current, OSError) and current.strerror:
        return f"connection failed: {current.strerror}"
    text = "; ".join(str(arg) for arg in current.args if isinstance(arg, str)) or str(current)
    parts = urlsplit(url)
    for secret in (parts.path, parts.query):
        if len(secret) > 1:
            text = text.replace(secret, "…")
    return f"connection failed: {text}"[:MAX_ERROR_BODY]
