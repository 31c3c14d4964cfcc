"""The `drift-cloud` command.

  serve [--host] [--port] [--workers N] [--no-worker]   the API (and a worker task)
  worker                                                 a standalone worker
  migrate                                                run migrations as the owner role
  db bootstrap [--apply --superuser-url URL]             the SQL that creates the two roles
  tenants create --name ... --owner-email ...            a tenant, its owner and an API key
  tenants list
  ip-allowlist reset --tenant <id|slug> --yes            clear a tenant's IP allowlist

Every command takes --json to print machine-readable output.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import click

from app.config import Settings, get_settings
from app.core.db import UnsafeDatabaseRole
from app.core.embedded import bootstrap_script, role_spec_from_urls
from app.core.errors import ProblemError
from app.core.runtime import PreparedDatabase, Runtime, prepare_database
from app.core.tx import own_tx

T = TypeVar("T")
log = logging.getLogger("drift.cli")

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _setup_logging(settings: Settings) -> None:
    from app.core.logs import configure

    configure(settings.log_level, settings.log_format)  # DRIFT_LOG_FORMAT=text|json


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except UnsafeDatabaseRole as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    except ProblemError as exc:
        click.echo(f"error: {exc.detail}", err=True)
        sys.exit(1)


def _emit(as_json: bool, data: Any, human: Callable[[Any], str]) -> None:
    click.echo(json.dumps(data, default=str, indent=2) if as_json else human(data))


async def _runtime(settings: Settings, *, migrate: bool = True) -> tuple[Runtime,
                                                                         PreparedDatabase]:
    prepared = await prepare_database(settings, migrate=migrate)
    rt = Runtime.create(settings, prepared.urls.app_url)
    await rt.start()
    return rt, prepared


@click.group()
def main() -> None:
    """Drift Cloud enterprise backend."""


# ---- serve / worker / migrate ----

DEMO_FILE = "demo-tenant.json"
DEMO_IDP_NAME = "Demo identity provider"


async def create_demo_tenant(rt: Runtime, demo_path: Path, *, slug: str = "demo",
                             owner_email: str = "owner@demo.example") -> dict[str, Any]:
    """The demo tenant: an owner with a password and an API key (kept in `demo_path`, 0600,
    printed on every start) and a SCIM token (returned here only, never stored: it is shown
    once, on the first start)."""
    from app.core.context import Actor, RequestContext
    from app.scim.service import tokens as scim_tokens
    from app.tenants.service import create_tenant

    password = os.environ.get("DRIFT_DEMO_PASSWORD") or _random_password()
    created = await create_tenant(rt.db, name="Demo Company", slug=slug,
                                  owner_email=owner_email, owner_password=password,
                                  plan="enterprise")
    demo = {**created, "owner_email": owner_email, "owner_password": password}
    fd = os.open(demo_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(demo, fh, indent=2)
    owner = UUID(created["owner_user_id"])
    async with own_tx(rt.db, UUID(created["tenant_id"]),
                            RequestContext(actor=Actor.system())) as tx:
        token = await scim_tokens.create(tx, DEMO_IDP_NAME, created_by=owner)
    return {**demo, "scim_token": token["token"]}


async def _prepare_for_serve(settings: Settings) -> tuple[PreparedDatabase, dict[str, Any] | None]:
    from app.tenants import repository as tenants_repo

    rt, prepared = await _runtime(settings)
    demo: dict[str, Any] | None = None
    try:
        if prepared.embedded is not None:
            demo_path = settings.data_dir / DEMO_FILE
            if demo_path.exists():
                demo = json.loads(demo_path.read_text())
            elif not await tenants_repo.all_tenant_ids(rt.db):
                demo = await create_demo_tenant(rt, demo_path)
    finally:
        await rt.close()
    return prepared, demo


def demo_banner(url: str, demo: dict[str, Any]) -> list[str]:
    """What `serve` prints (stdout, never the log) about the demo tenant."""
    key = demo["api_key"]
    lines = ["Demo tenant (kept in DRIFT_DATA_DIR/demo-tenant.json):",
             f"  tenant slug : {demo['slug']}",
             f"  owner       : {demo['owner_email']} / {demo['owner_password']}",
             f"  API key     : {key}",
             f"  try         : curl -H 'Authorization: Bearer {key}' {url}/api/v1/me",
             f"  SCIM        : base URL {url}/scim/v2"]
    if demo.get("scim_token"):
        lines.append(f"  SCIM token  : {demo['scim_token']}  (shown only now: it is not "
                     "stored; create another as below)")
    else:
        lines.append("  SCIM token  : shown only on the first start; create a new one with")
    lines.append(f"                curl -X POST -H 'Authorization: Bearer {key}' -H "
                 "'Content-Type: application/json' -d '{\"name\": \"Okta\"}' "
                 f"{url}/api/v1/settings/scim")
    return lines


def _random_password() -> str:
    import secrets

    return secrets.token_urlsafe(12)


@main.command()
@click.option("--host", default=None, help="Bind address (default DRIFT_HOST or 127.0.0.1)")
@click.option("--port", default=None, type=int, help="Port (default DRIFT_PORT or 8000)")
@click.option("--workers", default=1, show_default=True, type=int,
              help="API processes (each runs a worker task unless --no-worker)")
@click.option("--no-worker", is_flag=True, help="Do not run the worker in-process")
@json_option
def serve(host: str | None, port: int | None, workers: int, no_worker: bool,
          as_json: bool) -> None:
    """Start the API (embedded PostgreSQL unless DRIFT_DATABASE_URL is set)."""
    import uvicorn

    settings = get_settings()
    _setup_logging(settings)
    prepared, demo = _run(_prepare_for_serve(settings))
    host = host or settings.host
    port = port or settings.port
    url = f"http://{host}:{port}"
    info = {"url": url, "docs": f"{url}/docs",
            "database": "embedded" if prepared.embedded else "external",
            "worker": "off" if no_worker else "in-process", "demo_tenant": demo}
    if as_json:
        click.echo(json.dumps(info, default=str))
    else:
        click.echo(f"Drift Cloud on {info['url']}  (OpenAPI docs: {info['docs']})")
        click.echo(f"database: {info['database']}; worker: {info['worker']}")
        click.echo(f"probes: {url}/healthz (process up), {url}/readyz (database reachable "
                   "and migrated; 503 if not)")
        if demo:
            click.echo("\n".join(demo_banner(url, demo)))
    sys.stdout.flush()
    # API processes reach the prepared database by URL; this process keeps the embedded
    # server alive and stops it on exit.
    os.environ["DRIFT_DATABASE_URL"] = prepared.urls.app_url
    if prepared.urls.owner_url:
        os.environ["DRIFT_MIGRATION_DATABASE_URL"] = prepared.urls.owner_url
    os.environ["DRIFT_DATA_DIR"] = str(settings.data_dir.resolve())
    os.environ["DRIFT_RUN_WORKER"] = "false" if no_worker else "true"
    # the API processes derive the default DRIFT_PUBLIC_URL from the address really bound
    os.environ["DRIFT_HOST"] = host
    os.environ["DRIFT_PORT"] = str(port)
    get_settings.cache_clear()
    _multiprocess_metrics(settings, workers)
    from app.core.logs import config_dict

    # SIGTERM and SIGINT: uvicorn stops accepting, drains (DRIFT_SHUTDOWN_GRACE seconds),
    # runs the lifespan shutdown (worker leases handed back), then raises the signal again
    # with the handler found before it: ours, which turns it into a clean exit (status 0)
    # so the embedded PostgreSQL is stopped below instead of being left running.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    try:
        uvicorn.run("app.main:create_app", factory=True, host=host, port=port,
                    workers=workers, log_level=settings.log_level, proxy_headers=False,
                    server_header=False, access_log=False,
                    log_config=config_dict(settings.log_level, settings.log_format),
                    timeout_graceful_shutdown=max(1, math.ceil(settings.shutdown_grace)))
    finally:
        if prepared.embedded is not None:
            prepared.embedded.release()
            log.info("embedded PostgreSQL released")


def _exit_cleanly(signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _multiprocess_metrics(settings: Settings, workers: int) -> None:
    """Several API processes: prometheus-client's multiprocess mode, so a scrape of any of
    them reports all of them (docs/operations.md). The directory is emptied at start, as
    prometheus-client requires; an operator's own PROMETHEUS_MULTIPROC_DIR is used as is."""
    import shutil

    if workers <= 1 or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    path = settings.data_dir.resolve() / "metrics"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)


@main.command()
@click.option("--metrics-port", type=int, default=None,
              help="Serve Prometheus metrics on this port (default DRIFT_METRICS_PORT; off "
                   "when neither is set)")
@click.option("--metrics-host", default=None,
              help="Bind address of the metrics listener (default DRIFT_METRICS_HOST, "
                   "127.0.0.1)")
@json_option
def worker(metrics_port: int | None, metrics_host: str | None, as_json: bool) -> None:
    """Run a worker (webhook deliveries, email, scheduled jobs) until SIGTERM."""
    from app.core import metrics
    from app.worker import Worker

    settings = get_settings()
    _setup_logging(settings)
    metrics_port = metrics_port or settings.metrics_port

    async def go() -> None:
        rt, _prepared = await _runtime(settings)
        sampler = metrics.Sampler(rt.db)
        sampler.start()
        scrapes = asyncio.create_task(metrics.serve_scrapes(
            metrics_host or settings.metrics_host, metrics_port,
            settings.metrics_token.get_secret_value() if settings.metrics_token else "")
        ) if metrics_port else None
        rt.log_session_features()
        w = Worker(rt)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, w.stop)
        if as_json:
            click.echo(json.dumps({"worker": "running", "jobs": [j.name for j in w.jobs]}))
        else:
            click.echo(f"worker running: {', '.join(j.name for j in w.jobs)}")
        try:
            await w.run()
        finally:
            if scrapes is not None:
                scrapes.cancel()
            await sampler.stop()
            await rt.close()

    _run(go())


@main.command()
@json_option
def migrate(as_json: bool) -> None:
    """Apply migrations as the owner role (DRIFT_MIGRATION_DATABASE_URL or embedded)."""
    from app.core.migrate import script_heads

    settings = get_settings()
    _setup_logging(settings)
    if settings.database_url and not settings.migration_database_url:
        raise click.UsageError("DRIFT_MIGRATION_DATABASE_URL (the owner role) is required")
    _run(prepare_database(settings))
    _emit(as_json, {"migrated_to": sorted(script_heads())},
          lambda d: f"migrated to {', '.join(d['migrated_to'])}")


# ---- db ----

@main.group()
def db() -> None:
    """Database setup for an existing PostgreSQL server."""


@db.command("bootstrap")
@click.option("--apply", "apply_", is_flag=True, help="Run it (needs --superuser-url)")
@click.option("--superuser-url", envvar="DRIFT_SUPERUSER_URL", default=None,
              help="postgresql:// URL of a superuser on the target server")
@json_option
def db_bootstrap(apply_: bool, superuser_url: str | None, as_json: bool) -> None:
    """Print (or apply) the SQL creating the owner and runtime roles and the database.

    Role names, passwords and the database come from DRIFT_MIGRATION_DATABASE_URL (owner) and
    DRIFT_DATABASE_URL (runtime role)."""
    from app.core.embedded import apply_bootstrap

    settings = get_settings()
    if not settings.database_url or not settings.migration_database_url:
        raise click.UsageError("set DRIFT_DATABASE_URL and DRIFT_MIGRATION_DATABASE_URL first")
    spec = role_spec_from_urls(settings.migration_database_url, settings.database_url)
    if not apply_:
        script = bootstrap_script(spec)
        _emit(as_json, {"sql": script}, lambda d: d["sql"])
        return
    if not superuser_url:
        raise click.UsageError("--apply needs --superuser-url (or DRIFT_SUPERUSER_URL)")
    _run(apply_bootstrap(superuser_url, spec))
    _emit(as_json, {"applied": True, "owner_role": spec.owner, "app_role": spec.app,
                    "database": spec.database},
          lambda d: f"roles {d['owner_role']} and {d['app_role']} ready on {d['database']}")


# ---- tenants ----

@main.group()
def tenants() -> None:
    """Create and list tenants."""


@tenants.command("create")
@click.option("--name", required=True)
@click.option("--owner-email", required=True)
@click.option("--owner-name", default=None,
              help="The owner's full name, e.g. 'Ada Lovelace' (SCIM name.givenName/"
                   "familyName; derived from the email's local part when omitted)")
@click.option("--owner-password", default=None, help="Lets the owner log in with a password")
@click.option("--plan", type=click.Choice(["free", "pro", "team", "enterprise"]),
              default="free", show_default=True)
@click.option("--seat-limit", type=click.IntRange(min=1), default=None,
              help="Seats (omit for unlimited)")
@click.option("--slug", default=None, help="URL name (derived from --name when omitted)")
@json_option
def tenants_create(name: str, owner_email: str, owner_name: str | None,
                   owner_password: str | None, plan: str,
                   seat_limit: int | None, slug: str | None, as_json: bool) -> None:
    """Create a tenant with its owner; prints the owner's API key (shown once)."""
    from app.tenants.service import create_tenant

    settings = get_settings()

    async def go() -> dict[str, Any]:
        rt, _ = await _runtime(settings)
        try:
            return await create_tenant(rt.db, name=name, owner_email=owner_email,
                                       owner_password=owner_password, plan=plan,
                                       seat_limit=seat_limit, slug=slug,
                                       owner_name=owner_name)
        finally:
            await rt.close()

    out = _run(go())
    _emit(as_json, out, lambda d: "\n".join(f"{k}: {v}" for k, v in d.items())
          + "\n(the API key is shown once)")


@tenants.command("list")
@json_option
def tenants_list(as_json: bool) -> None:
    """List tenants."""
    from app.tenants import repository

    settings = get_settings()

    async def go() -> list[dict[str, Any]]:
        rt, _ = await _runtime(settings)
        try:
            return [dict(r) for r in await repository.list_tenants(rt.db)]
        finally:
            await rt.close()

    rows = _run(go())
    _emit(as_json, rows, lambda rs: "\n".join(
        f"{r['id']}  {r['slug']:<24} {r['plan']:<10} {r['name']}" for r in rs) or "no tenants")


# ---- ip-allowlist ----

@main.group("ip-allowlist")
def ip_allowlist() -> None:
    """Operator tools for tenants' IP allowlists."""


@ip_allowlist.command("reset")
@click.option("--tenant", "tenant_ref", required=True, help="Tenant id or slug")
@click.option("--yes", is_flag=True, help="Do it without asking for confirmation")
@json_option
def ip_allowlist_reset(tenant_ref: str, yes: bool, as_json: bool) -> None:
    """Emergency reset: remove every allowlist entry of a tenant (audited as
    ip_allowlist.emergency_reset, actor system, with your OS user)."""
    import getpass
    import socket
    import uuid

    from app.auth.repository import tenant_id_for_slug
    from app.ipallow.recovery import operator_reset

    if not yes and not click.confirm(
            f"Remove every IP allowlist entry of tenant {tenant_ref!r}? The tenant will accept "
            "requests from any address until an admin adds entries again"):
        click.echo("aborted; nothing changed (pass --yes to skip this question)", err=True)
        sys.exit(1)
    try:
        operator = getpass.getuser()
    except (KeyError, OSError):
        operator = f"uid:{os.getuid()}"
    settings = get_settings()

    async def go() -> dict[str, Any]:
        rt, _ = await _runtime(settings)
        try:
            try:
                tenant_id: uuid.UUID | None = uuid.UUID(tenant_ref)
            except ValueError:
                tenant_id = await tenant_id_for_slug(rt.db, tenant_ref)
            if tenant_id is None:
                raise ProblemError(f"no tenant with id or slug {tenant_ref!r}")
            return await operator_reset(rt.db, tenant_id, operator=operator,
                                        host=socket.gethostname())
        finally:
            await rt.close()

    out = _run(go())
    _emit(as_json, out, lambda d: f"cleared {d['cleared']} allowlist entries of tenant "
          f"{d['slug']} ({d['tenant_id']})"
          + "".join(f"\n  removed {c}" for c in d["entries"]))


if __name__ == "__main__":
    main()
