"""A real pgbouncer in transaction pooling mode in front of the test database (docs/scaling.md).

The fixture runs Debian's `pgbouncer` binary (bench/pgbouncer.py; installed by `make install`)
in the foreground with its own ini on a free loopback port: `pool_mode = transaction`,
`default_pool_size = 2`, SCRAM auth from an auth_file holding the runtime role's password. It
is never the system service.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.core.runtime import Runtime
from app.main import create_app
from app.tenants.service import create_tenant
from bench.pgbouncer import PgBouncer
from tests.conftest import DbInfo, Tenant, User

POOL_SIZE = 2


@dataclass(frozen=True)
class Bouncer:
    port: int
    app_url: str  # the runtime role, through pgbouncer


@pytest.fixture(scope="session")
def pgbouncer(test_db: DbInfo) -> Iterator[Bouncer]:
    bouncer = PgBouncer(test_db.app_url, pool_size=POOL_SIZE).start()
    try:
        yield Bouncer(port=bouncer.port, app_url=bouncer.url)
    finally:
        bouncer.stop()


def pooled_settings(settings: Settings, bouncer: Bouncer, *, direct: bool = True,
                    **overrides: Any) -> Settings:
    """The test settings with DRIFT_DATABASE_URL at pgbouncer (transaction pooling) and, when
    `direct`, DRIFT_DIRECT_DATABASE_URL at the server itself."""
    update: dict[str, Any] = {
        "database_url": bouncer.app_url, "database_pooler": "pgbouncer",
        "direct_database_url": settings.database_url if direct else None,
        "db_pool_max": 16,
    }
    update.update(overrides)
    return settings.model_copy(update=update)


@pytest.fixture(scope="session")
def pooled_settings_direct(settings: Settings, pgbouncer: Bouncer) -> Settings:
    return pooled_settings(settings, pgbouncer)


@pytest.fixture(scope="session")
async def pooled_runtime(pooled_settings_direct: Settings) -> AsyncIterator[Runtime]:
    """A runtime whose every request transaction goes through pgbouncer."""
    rt = Runtime.create(pooled_settings_direct, pooled_settings_direct.database_url or "")
    await rt.start()
    yield rt
    await rt.close()


@pytest.fixture(scope="session")
async def pooled_client(pooled_runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(pooled_runtime.settings, runtime=pooled_runtime, run_worker=False)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def pooled_tenant_factory(pooled_runtime: Runtime) -> Any:
    """Tenants created through pgbouncer too."""
    async def factory() -> Tenant:
        slug = f"t-{secrets.token_hex(6)}"
        email = f"owner@{slug}.example"
        out = await create_tenant(pooled_runtime.db, name=f"Tenant {slug}", slug=slug,
                                  owner_email=email, owner_password=None, plan="enterprise",
                                  seat_limit=None)
        owner = User(id=uuid.UUID(out["owner_user_id"]), email=email, role="owner",
                     api_key=out["api_key"])
        return Tenant(id=uuid.UUID(out["tenant_id"]), slug=slug, owner=owner,
                      rt=pooled_runtime)

    return factory


from tests.webhooks.conftest import receiver  # noqa: E402,F401  (the real HTTP receiver)
