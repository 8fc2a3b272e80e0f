"""The API against its own OpenAPI document: schemathesis generates requests for every
operation (an admin's token attached) and checks that none answers 5xx and every answer
conforms to the document (status codes, bodies, content types).

The document is read once, when the module loads, from an application that has not
opened its database (building the document needs none); each generated test then runs
against its own site, through :data:`CURRENT`. (schemathesis's ``from_fixture`` reads a
pytest attribute that pytest 9 no longer has.)

Adding a source or testing a channel reaches the network (discovery, a webhook): those
operations are left to tests/web/test_api.py, which serves them locally.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from starlette.types import ASGIApp, Receive, Scope, Send

from monitor.app import App
from monitor.clock import SystemClock
from monitor.config import load_settings
from monitor.web import create_app
from monitor.web.context import WebContext
from tests.web.conftest import Site, settings_text

HOST = {"Host": "127.0.0.1:8080"}  # the site's allow-list refuses the test client's own
OFFLINE = r"^/api/v1/(sources(/discover)?|channels/\{name\}/test)$"


class CurrentSite:
    """The ASGI application of the test running now."""

    def __init__(self) -> None:
        self.asgi: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.asgi is not None, "no site: the test sets CURRENT.asgi"
        await self.asgi(scope, receive, send)


def _document() -> dict[str, object]:
    folder = Path(tempfile.mkdtemp(prefix="rasid-openapi-"))
    config = folder / "settings.toml"
    config.write_text(settings_text(f"sqlite:///{folder / 'unused.db'}"), encoding="utf-8")
    loaded = load_settings(config, env={})
    clock = SystemClock()
    context = WebContext(app=App(loaded, clock=clock), settings=loaded, clock=clock)
    return create_app(context).openapi()


CURRENT = CurrentSite()
# The service layer refuses some values the document cannot describe (a query that does
# not parse, a duplicate name): 422 and 409 answer data of the right shape. Starlette
# lists only the first route's methods in a 405's Allow header when several routes share
# a path, so methods a path lacks are not tried here (tests/web/test_api.py checks 405).
CONFIG = schemathesis.config.SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "401", "403", "404", "409", "422"]
            },
        },
        "phases": {"coverage": {"unexpected-methods": []}},
    }
)
schema = schemathesis.openapi.from_dict(_document(), config=CONFIG).exclude(
    method="POST", path_regex=OFFLINE
)
schema.app = CURRENT


@pytest.fixture
def admin_headers(sqlite_site: Site) -> dict[str, str]:
    sqlite_site.add_user("amal", "admin")
    sqlite_site.app.add_watchlist("drones", ["طائرة مسيرة"])
    CURRENT.asgi = sqlite_site.asgi  # type: ignore[assignment] # Site keeps it untyped
    secret = sqlite_site.app.create_token("amal", "fuzz").secret
    return {**HOST, "Authorization": f"Bearer {secret}"}


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_answers_as_its_schema_says(case, admin_headers):
    case.call_and_validate(headers=admin_headers)
