"""Serving the web page and the API: inside ``rasid run``'s event loop, or alone.

uvicorn serves the ASGI application as one more task of the running loop, so the page
reads the very service that crawls (its metrics, its scheduler) with no second process.
uvicorn's own signal handling is switched off: the service owns SIGINT and SIGTERM
and stops the server with everything else.

Refused at start, with the command that fixes it: listening on an address other than
loopback while no user exists (anyone who can reach the port would be the admin), and
listening on every interface without ``[web] allowed_hosts``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import socket
from collections.abc import Callable, Generator

import uvicorn

from monitor.app import App
from monitor.config import Settings
from monitor.errors import ConfigError
from monitor.web.context import WebContext

logger = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listen(settings: Settings, users: int) -> None:
    """Refuse a listen address that would expose the page unprotected."""
    web = settings.web
    path = settings.config_path or "settings.toml"
    if not is_loopback(web.host) and users == 0:
        raise ConfigError(
            f"{path}: [web] listen = {web.listen!r} is reachable from other machines, and "
            "no user exists yet, so anyone reaching it would be the admin. Add one first: "
            "`rasid users add NAME --role admin` (or listen on 127.0.0.1)"
        )
    wildcard = web.host in ("0.0.0.0", "::")  # noqa: S104 - checked, not bound, here
    if wildcard and not web.allowed_hosts:
        raise ConfigError(
            f"{path}: [web] listen = {web.listen!r} answers on every interface: list the "
            'names users reach it by in [web] allowed_hosts (["rasid.example.org"]), or '
            '["*"] to accept any Host'
        )


class WebServer:
    """uvicorn serving ``create_app(context)`` on the running loop until :meth:`stop`."""

    def __init__(self, context: WebContext) -> None:
        from monitor.web import create_app

        web = context.settings.web
        config = uvicorn.Config(
            create_app(context),
            host=web.host,
            port=web.port,
            lifespan="off",
            log_config=None,  # rasid's logging, not uvicorn's
            access_log=False,
            server_header=False,
            proxy_headers=False,
        )
        self._server = _QuietServer(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> str:
        """Listen; the address it listens on (the port chosen when 0 was asked)."""
        self._task = asyncio.get_running_loop().create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it (the port is taken...)
                raise ConfigError("the web server stopped while starting")
            await asyncio.sleep(0.02)
        return self.address

    @property
    def address(self) -> str:
        for server in self._server.servers:
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                if sock.family == socket.AF_INET6:
                    host = f"[{host}]"
                return f"http://{host}:{port}"
        return ""

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class _QuietServer(uvicorn.Server):
    """A uvicorn Server that leaves signals to the service and says why it cannot
    listen instead of exiting the process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        except SystemExit:  # uvicorn exits when the port is taken
            raise ConfigError(
                f"cannot listen on {self.config.host}:{self.config.port} ([web] listen): "
                "the port is taken or the address is not this machine's"
            ) from None


def serve_alone(app: App, on_listening: Callable[[str], None] | None = None) -> None:
    """``rasid web``: serve until SIGINT or SIGTERM, with no crawler and no scheduler."""
    app.db  # migrated and synced with settings.toml before the first request  # noqa: B018
    check_listen(app.settings, app.count_users())

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        server = WebServer(WebContext(app, app.settings, app.clock))
        address = await server.start()
        logger.info("web page and API on %s (no crawling in this process)", address)
        if on_listening is not None:
            on_listening(address)
        try:
            await stop.wait()
        finally:
            await server.stop()

    asyncio.run(main())
