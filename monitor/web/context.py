"""What every request handler of the web page and the API reaches: the service layer.

``rasid run`` serves the web from the service's own process and event loop, so
``service`` is the running :class:`~monitor.service.Service` (its counters, its
scheduler); ``rasid web`` serves the same pages and API without crawling, and
``service`` is None there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

from monitor.app import App
from monitor.clock import Clock
from monitor.config import Settings

if TYPE_CHECKING:
    from monitor.service import Service


@dataclass
class WebContext:
    app: App
    settings: Settings
    clock: Clock
    service: Service | None = None


def context_of(connection: HTTPConnection) -> WebContext:
    """The context the ASGI application was made with (``create_app``)."""
    found: WebContext = connection.app.state.rasid
    return found
