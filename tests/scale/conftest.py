"""A real pgbouncer in transaction pooling mode in front of the test database (docs/scaling.md).

The fixture runs Debian's `pgbouncer` binary (installed by `make install`) in the foreground
with its own ini on a free loopback port: `pool_mode = transaction`, `default_pool_size = 2`,
SCRAM auth from an auth_file holding the test roles' passwords. It is never a system service.
As root, pgbouncer refuses to run, so it is started with `-u` as the user owning the embedded
server's socket directory (that server runs as its own system user too).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import httpx
import pytest

from app.config import Settings
from app.core.runtime import Runtime
from app.main import create_app
from app.tenants.service import create_tenant
from tests.conftest import DbInfo, Tenant, User, free_port

POOL_SIZE = 2


@dataclass(frozen=True)
class Bouncer:
    port: int
    app_url: str  # the runtime role, through pgbouncer
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _server(url: str) -> tuple[str, int, str]:
    """host (or socket directory), port and database of a postgresql:// URL."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    host = query.get("host") or parts.hostname or "127.0.0.1"
    port = int(query.get("port") or parts.port or 5432)
    return host, port, unquote(parts.path.lstrip("/"))


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("pgbouncer exited: " + log.read_text(errors="replace"))
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("pgbouncer did not listen: " + log.read_text(errors="replace"))


@pytest.fixture(scope="session")
def pgbouncer(test_db: DbInfo) -> Iterator[Bouncer]:
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    host, pg_port, database = _server(test_db.app_url)
    app = urlsplit(test_db.app_url)
    user, password = unquote(app.username or ""), unquote(app.password or "")
    workdir = Path(tempfile.mkdtemp(prefix="drift-pgbouncer-"))
    port = free_port()
    auth = workdir / "userlist.txt"
    auth.write_text(f'"{user}" "{password}"\n')
    ini = workdir / "pgbouncer.ini"
    ini.write_text(
        "[databases]\n"
        f"{database} = host={host} port={pg_port} dbname={database}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "unix_socket_dir =\n"
        "auth_type = scram-sha-256\n"
        f"auth_file = {auth}\n"
        "pool_mode = transaction\n"
        f"default_pool_size = {POOL_SIZE}\n"
        "min_pool_size = 0\n"
        "reserve_pool_size = 0\n"
        "max_client_conn = 500\n"
        "max_db_connections = 0\n"
        "server_lifetime = 3600\n"
        "server_idle_timeout = 600\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
        "admin_users =\n"
    )
    cmd = [binary, str(ini)]
    if os.geteuid() == 0:  # pgbouncer will not run as root: run as the user who owns the
        # server's socket directory (the embedded server's system user), else as nobody
        run_as = pwd.getpwuid(os.stat(host).st_uid).pw_name if host.startswith("/") else "nobody"
        shutil.chown(workdir, run_as)
        for f in (auth, ini):
            shutil.chown(f, run_as)
        cmd = [binary, "-u", run_as, str(ini)]
    log = workdir / "pgbouncer.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_listening(port, proc, log)
        app_url = (f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
                   f"@127.0.0.1:{port}/{quote(database)}")
        yield Bouncer(port=port, app_url=app_url, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


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
