"""Process-wide state: settings, the database, resolved secrets; and database preparation
(embedded server, role bootstrap, migrations) shared by `serve`, `worker`, the CLI and tests."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from app.config import Settings
from app.core.db import SESSION_FEATURES, Database, check_runtime_role, connect
from app.core.embedded import DatabaseUrls, EmbeddedPostgres
from app.core.migrate import run_migrations, script_heads
from app.core.principal import PrincipalCache
from app.core.replica import ReadReplica

log = logging.getLogger("drift.runtime")


@dataclass
class PreparedDatabase:
    urls: DatabaseUrls
    embedded: EmbeddedPostgres | None = None


async def prepare_database(settings: Settings, *, migrate: bool = True,
                           stop_on_exit: bool = True) -> PreparedDatabase:
    """Make the database usable: start the embedded server when no URL is configured, create
    the two roles there, and run migrations as the owner role."""
    if settings.database_url is not None:
        urls = DatabaseUrls(app_url=settings.database_url,
                            owner_url=settings.migration_database_url or "")
        prepared = PreparedDatabase(urls=urls)
    else:
        embedded = EmbeddedPostgres(settings.data_dir)
        urls = await asyncio.to_thread(embedded.start, stop_on_exit=stop_on_exit)
        await embedded.bootstrap(urls)
        prepared = PreparedDatabase(urls=urls, embedded=embedded)
    if migrate and urls.owner_url:
        await asyncio.to_thread(run_migrations, urls.owner_url, settings.app_role)
    return prepared


@dataclass
class Runtime:
    settings: Settings
    db: Database
    jwt_secret: str
    secret_key: str
    extras: dict[str, Any] = field(default_factory=dict)
    # Wired by app.main.create_app (never by an import side effect), so every app it builds
    # enforces them: checks every way into a tenant runs once the tenant is known (the IP
    # allowlist), and the checks a long-lived response re-runs while it lives (the audit
    # stream). A tenant check is `(request, runtime, tenant_id) -> None`, raising a problem to
    # refuse (app.core.access.run_tenant_checks); a stream re-check is `(runtime, tenant_id,
    # ctx, connection) -> the refusal or None` (app.audit.live).
    tenant_checks: list[Any] = field(default_factory=list)
    stream_rechecks: list[Any] = field(default_factory=list)
    # token -> Principal, per process (app.core.access): spares the lookup query only
    principals: PrincipalCache = field(default_factory=PrincipalCache)
    # DRIFT_READ_DATABASE_URL: the streaming replica heavy reads may use (app.core.replica)
    replica: ReadReplica | None = None

    @classmethod
    def create(cls, settings: Settings, app_url: str) -> Runtime:
        db = Database(app_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max,
                      connect_timeout=settings.db_connect_timeout,
                      pooled=settings.database_pooler == "pgbouncer",
                      direct_url=settings.direct_database_url)
        replica = None
        if settings.read_database_url:
            replica = ReadReplica(
                Database(settings.read_database_url, min_size=0, max_size=settings.db_pool_max,
                         connect_timeout=settings.db_connect_timeout,
                         pooled=settings.database_pooler == "pgbouncer"),
                max_lag=settings.read_max_lag_seconds)
        return cls(settings=settings, db=db,
                   jwt_secret=settings.resolved_secret("jwt_secret"),
                   secret_key=settings.resolved_secret("secret_key"), replica=replica)

    async def start(self) -> None:
        conn = await connect(self.db.url, connect_timeout=self.settings.db_connect_timeout,
                             statement_cache_size=self.db.statement_cache_size)
        try:
            await check_runtime_role(conn)
        finally:
            await conn.close()
        await self.db.start()
        if self.replica is not None:
            await self.replica.start()

    def without_session(self) -> dict[str, str]:
        """The features that need a session of their own (LISTEN) and have none: behind a
        transaction pooler with no DRIFT_DIRECT_DATABASE_URL. Feature -> what happens instead."""
        return {} if self.db.listen_url is not None else dict(SESSION_FEATURES)

    def log_session_features(self) -> None:
        """Say at start which features a transaction pooler without a direct URL degrades."""
        for feature, effect in self.without_session().items():
            log.warning("%s needs DRIFT_DIRECT_DATABASE_URL (LISTEN/NOTIFY cannot pass the "
                        "transaction pooler at DRIFT_DATABASE_URL): %s", feature, effect)

    async def close(self) -> None:
        """Close what capabilities keep in `extras` (anything with an async `aclose`, such as
        the webhook sender's keep-alive connections), then the pool."""
        for name in [n for n, v in self.extras.items() if hasattr(v, "aclose")]:
            await self.extras.pop(name).aclose()
        if self.replica is not None:
            await self.replica.close()
        await self.db.close()

    async def readiness(self) -> dict[str, Any]:
        """Database reachable and migrated to head."""
        heads = script_heads()
        try:
            rows = await self.db.fetch("SELECT version_num FROM alembic_version")
        except Exception as exc:  # reported, not raised: this is a health probe
            return {"ready": False, "database": "unreachable", "error": type(exc).__name__}
        current = {r["version_num"] for r in rows}
        status: dict[str, Any] = {"ready": current == heads, "database": "ok",
                                  "migrations": {"current": sorted(current),
                                                 "head": sorted(heads)}}
        degraded = self.without_session()
        if degraded:  # still ready: every request is served, these features run degraded
            status["degraded"] = {"needs": "DRIFT_DIRECT_DATABASE_URL", "features": degraded}
        if self.replica is not None:  # never fails readiness: reads fall back to the primary
            status["replica"] = await self.replica.status()
        return status
