"""create_app(): the ASGI application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from app.audit.live import close_hub as close_audit_hub
from app.audit.live import drain_hub as drain_audit_hub
from app.audit.router import router as audit_router
from app.audit.siem_router import router as audit_streams_router
from app.auth.router import router as auth_router
from app.config import Settings, get_settings
from app.core import heap, metrics, tracing
from app.core.cors import install_cors
from app.core.dispatch import install_direct_dispatch
from app.core.docs import install_docs
from app.core.errors import error_response, install_handlers, register_renderer
from app.core.lifecycle import Lifecycle, signal_hooks
from app.core.middleware import RequestContextMiddleware
from app.core.openapi import install_openapi
from app.core.responses import json_response
from app.core.routing import install_route_index
from app.core.runtime import Runtime, prepare_database
from app.domains.router import router as domains_router
from app.ipallow.cache import cache_for
from app.ipallow.enforcement import check_ip_allowlist, recheck_ip_allowlist
from app.ipallow.router import router as ipallow_router
from app.projects.router import router as projects_router
from app.ratelimit.budget import check_budget
from app.scim import errors as scim_errors
from app.scim.constants import MAX_PAYLOAD_SIZE as SCIM_MAX_PAYLOAD_SIZE
from app.scim.constants import PREFIX as SCIM_PREFIX
from app.scim.router import router as scim_router
from app.sso.router import PUBLIC_OPERATIONS as SSO_PUBLIC
from app.sso.router import browser as sso_browser_router
from app.sso.router import router as sso_router
from app.sync.router import router as sync_router
from app.teams.router import router as teams_router
from app.tenants.router import router as tenants_router
from app.webhooks.router import router as webhooks_router
from app.worker import Worker

log = logging.getLogger("drift.app")

# the one route whose real bodies exceed DRIFT_MAX_BODY_BYTES (DRIFT_MAX_SYNC_BODY_BYTES)
SYNC_PATH = "/api/v1/sync"

DESCRIPTION = """Drift Cloud enterprise API: SCIM 2.0 provisioning, signed webhooks, an immutable
audit log, teams and seats, and IP allowlisting. Authenticate with
`Authorization: Bearer <API key or access token>`. Errors are RFC 9457 problem+json with a
stable `code`."""


def _wire(rt: Runtime) -> None:
    """What every app enforces, set here rather than by an import side effect: the IP
    allowlist for every way into a tenant, and again while a live stream lasts."""
    rt.tenant_checks[:] = [check_ip_allowlist, check_budget]  # allowlist first, then budget
    rt.stream_rechecks[:] = [recheck_ip_allowlist]


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None,
               run_worker: bool | None = None) -> FastAPI:
    settings = settings or (runtime.settings if runtime else get_settings())
    with_worker = settings.run_worker if run_worker is None else run_worker

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime
        owned = rt is None
        if rt is None:
            prepared = await prepare_database(settings)
            rt = Runtime.create(settings, prepared.urls.app_url)
            rt.extras["prepared"] = prepared
        if owned:
            await rt.start()
        app.state.runtime = rt
        _wire(rt)
        lifecycle = Lifecycle()
        rt.extras["lifecycle"] = lifecycle
        lifecycle.on_drain(lambda: drain_audit_hub(rt))  # SSE streams end with a final event
        rt.log_session_features()
        allowlist = cache_for(rt.db)  # the process's LISTEN connection for allowlist changes
        if not await allowlist.wait_ready() and rt.db.listen_url is not None:
            log.warning("IP allowlist listener not connected yet; checks read the database "
                        "until it is")
        worker = Worker(rt) if with_worker else None
        task = asyncio.create_task(worker.run()) if worker else None
        sampler = metrics.Sampler(rt.db)
        sampler.start()
        if owned:  # a serving process (tests pass their runtime and keep Python's collector)
            heap.settle(settings.gc_threshold)
        try:
            with signal_hooks(asyncio.get_running_loop(), lifecycle.drain):
                yield
            lifecycle.drain()
        finally:
            await sampler.stop()
            if worker and task:
                worker.stop()
                await task
            await allowlist.stop()
            await close_audit_hub(rt)
            if owned:
                await rt.close()

    app = FastAPI(title="Drift Cloud", version="0.1.0", description=DESCRIPTION,
                  lifespan=lifespan, docs_url=None, redoc_url=None)
    if runtime is not None:
        app.state.runtime = runtime
        _wire(runtime)
    install_handlers(app)
    tracing.configure_from_env("drift-cloud")
    register_renderer(app, SCIM_PREFIX, scim_errors.render_error)
    app.add_middleware(RequestContextMiddleware, trusted_proxies=settings.trusted_proxies,
                       access_log=settings.access_log,
                       max_body_bytes=settings.max_body_bytes,
                       body_limits={SYNC_PATH: max(settings.max_sync_body_bytes,
                                                   settings.max_body_bytes),
                                    # SCIM (Bulk included) takes what it advertises
                                    SCIM_PREFIX + "/": SCIM_MAX_PAYLOAD_SIZE})
    install_cors(app, settings.cors_origins)  # outermost: after every other add_middleware

    @app.get("/healthz", tags=["health"], summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Database reachable and migrated to head",
             responses={503: {"description": "Not ready, or draining (shutting down)"}})
    async def readyz() -> Response:
        lifecycle = app.state.runtime.extras.get("lifecycle")
        if lifecycle is not None and lifecycle.draining:  # shutting down: send no new work
            return json_response({"ready": False, "draining": True}, 503)
        status: dict[str, Any] = await app.state.runtime.readiness()
        return json_response(status, 200 if status["ready"] else 503)

    metrics_token = (settings.metrics_token.get_secret_value()
                     if settings.metrics_token else "")

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint(request: Request) -> Response:
        """Prometheus metrics; `Authorization: Bearer <DRIFT_METRICS_TOKEN>` (404 when no
        token is configured: see docs/operations.md)."""
        if not metrics_token:
            return error_response(request, 404, "metrics_disabled", "Not found",
                                  "Metrics are not served on this port: set "
                                  "DRIFT_METRICS_TOKEN to enable GET /metrics.")
        if not metrics.authorized(request.headers.get("authorization"), metrics_token):
            return error_response(request, 401, "invalid_metrics_token", "Unauthorized",
                                  "Send `Authorization: Bearer <DRIFT_METRICS_TOKEN>`.",
                                  headers={"WWW-Authenticate": "Bearer"})
        families = await metrics.queue_families(app.state.runtime.db)
        return Response(metrics.render(families), media_type=metrics.CONTENT_TYPE)

    app.include_router(auth_router)
    app.include_router(tenants_router)
    app.include_router(projects_router)
    app.include_router(teams_router)
    app.include_router(ipallow_router)
    app.include_router(domains_router)
    app.include_router(audit_streams_router)
    app.include_router(audit_router)
    app.include_router(scim_router)
    app.include_router(webhooks_router)
    app.include_router(sync_router)
    app.include_router(sso_router)
    app.include_router(sso_browser_router)
    install_docs(app)  # /docs and /redoc from packaged assets (no CDN)
    install_openapi(app, extra_public=SSO_PUBLIC)
    install_route_index(app.router)  # a request tries only the routes its path can match
    install_direct_dispatch(app)  # routes that need none of FastAPI's generic handler skip it
    return app
