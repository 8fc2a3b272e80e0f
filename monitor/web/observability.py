"""The probes: /metrics for Prometheus, /healthz (alive) and /readyz (able to work).

They need no login: a Prometheus server and a container orchestrator probe without
accounts, and a probe that must sign in fails for the wrong reason. That is safe
because they say nothing private: /metrics is numbers with labels from fixed sets
(monitor/metrics.py: never a source, URL, channel or error text), /healthz a constant,
/readyz which check failed ("database", "scheduler") and never why (the error text of
a failed connection names hosts): that goes to the log, once per outage
(monitor/db/faults.py), not once per probe.

/metrics and /readyz read the database, so they are plain functions, run in a worker
thread: the event loop they share with the crawler under ``rasid run`` never waits on
them. They are left out of the OpenAPI document (``include_in_schema=False``): they are
for machines that know them, not part of the API.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from monitor.db.faults import OutageLog
from monitor.errors import DatabaseUnavailable
from monitor.metrics import database_registry, render_metrics
from monitor.web.context import WebContext, context_of

router = APIRouter()
# The probes' own outage reporter: a probe every few seconds logs an outage once.
_outage = OutageLog()


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """This process's service counters (under ``rasid run``) and the database gauges."""
    context = context_of(request)
    if context.service is not None:
        registry = context.service.metrics.registry
    else:
        registry = database_registry(lambda: context.app.db)
    body, content_type = render_metrics(registry)
    return Response(body, media_type=content_type)


@router.get("/healthz", include_in_schema=False)
async def healthz() -> JSONResponse:
    """Alive: the process answers. Nothing is checked, so a database outage never makes
    an orchestrator restart a process that would recover by itself."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz", include_in_schema=False)
def readyz(request: Request) -> JSONResponse:
    """Ready: the database answers ``SELECT 1`` and, under ``rasid run``, the service's
    scheduler is running; otherwise 503 naming what is not ready."""
    context = context_of(request)
    checks = {"database": _database_check(context)}
    if context.service is not None:
        checks["scheduler"] = "ok" if context.service.scheduler_running else "not running"
    ready = all(result == "ok" for result in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


def _database_check(context: WebContext) -> str:
    try:
        db = context.service.db if context.service is not None else context.app.db
        with db.connection() as connection:
            connection.execute(text("SELECT 1"))
    except DatabaseUnavailable as exc:
        _outage.failed(exc, "checking readiness")
        return "unreachable"
    _outage.succeeded()
    return "ok"
