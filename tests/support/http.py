"""A small threaded HTTP server on 127.0.0.1 for tests: serves routes, records requests.

Tests use it both as a news site (feeds, article pages) and as an alert receiver, and
the benchmarks in bench/ as the sites they poll (``fallback`` answers every path no
route names; ``record=False`` keeps a long run from holding every request).
A route is either a fixed response or a callable taking the recorded request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = "text/html; charset=utf-8"

    def encoded_body(self) -> bytes:
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


Handler = Reply | Callable[[Recorded], Reply]


class _QuietServer(ThreadingHTTPServer):
    # Read by listen() in the constructor: the default backlog of 5 drops connections
    # when a benchmark polls thousands of feeds at once (1 s, 3 s, 7 s SYN retries).
    request_queue_size = 1024

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that hang up early (timeouts, size caps under test) are expected."""


class LocalServer:
    """Routes by path (query string ignored unless the route includes it)."""

    def __init__(self, *, fallback: Handler | None = None, record: bool = True) -> None:
        self.routes: dict[str, Handler] = {}
        self.fallback = fallback
        self.record = record
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as two writes; under Nagle's rule the second waits
            # for the client's delayed ACK on a kept-alive connection (40 ms on Linux).
            # Real receivers answer in one go: so does this one (TCP_NODELAY).
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                recorded = Recorded(
                    self.command,
                    parts.path,
                    parts.query,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                with server._lock:
                    if server.record:
                        server.requests.append(recorded)
                    handler = server.routes.get(self.path) or server.routes.get(parts.path)
                handler = handler or server.fallback
                reply = (
                    Reply(404, b"not found")
                    if handler is None
                    else (handler(recorded) if callable(handler) else handler)
                )
                payload = reply.encoded_body()
                self.send_response(reply.status)
                if reply.content_type:
                    self.send_header("Content-Type", reply.content_type)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_HEAD = do_PUT = _serve

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = _QuietServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, handler: Handler) -> None:
        with self._lock:
            self.routes[path] = handler

    def requests_to(self, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def serve_forever(self) -> None:
        """Serve in this thread until the process ends (a benchmark's server process)."""
        self._server.serve_forever()

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def local_server() -> Iterator[LocalServer]:
    server = LocalServer().start()
    try:
        yield server
    finally:
        server.stop()
