"""The service refuses to run as a role that row-level security does not bind."""

from __future__ import annotations

import secrets

import pytest

from app.config import Settings
from app.core.db import UnsafeDatabaseRole, connect
from app.core.runtime import Runtime
from tests.conftest import DbInfo, _with_db

pytestmark = pytest.mark.isolation


async def _start(settings: Settings, url: str) -> None:
    rt = Runtime.create(settings.model_copy(update={"database_url": url}), url)
    try:
        await rt.start()
    finally:
        await rt.close()


async def test_refuses_superuser(settings: Settings, test_db: DbInfo) -> None:
    with pytest.raises(UnsafeDatabaseRole, match="is a superuser"):
        await _start(settings, test_db.superuser_url)


async def test_refuses_table_owner(settings: Settings, test_db: DbInfo) -> None:
    with pytest.raises(UnsafeDatabaseRole, match="owns tables"):
        await _start(settings, test_db.owner_url)


async def test_refuses_bypassrls_role(settings: Settings, test_db: DbInfo) -> None:
    role = f"drift_bypass_{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(12)
    admin = await connect(test_db.superuser_url)
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN BYPASSRLS PASSWORD '{password}'")
        await admin.execute(f"GRANT CONNECT ON DATABASE {admin._params.database} TO {role}")
        url = _with_db(test_db.superuser_url, admin._params.database, role, password)
        with pytest.raises(UnsafeDatabaseRole, match="has BYPASSRLS"):
            await _start(settings, url)
    finally:
        await admin.execute(f"REVOKE ALL ON DATABASE {admin._params.database} FROM {role}")
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()


async def test_accepts_the_runtime_role(settings: Settings, test_db: DbInfo) -> None:
    await _start(settings, test_db.app_url)


def test_cli_serve_exits_with_a_clear_message(test_db: DbInfo, tmp_path: object) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "DRIFT_DATABASE_URL": test_db.owner_url,
           "DRIFT_MIGRATION_DATABASE_URL": test_db.owner_url, "DRIFT_DATA_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "app.cli", "serve", "--port", "1"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Refusing to start" in proc.stderr and "owns tables" in proc.stderr
