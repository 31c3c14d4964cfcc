"""The drift-cloud command against the test database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DbInfo


def _cli(test_db: DbInfo, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DRIFT_DATABASE_URL": test_db.app_url,
           "DRIFT_MIGRATION_DATABASE_URL": test_db.owner_url, "DRIFT_DATA_DIR": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_tenants_create_and_list(test_db: DbInfo, tmp_path: Path) -> None:
    slug = f"cli-{os.getpid()}"
    out = _cli(test_db, tmp_path, "tenants", "create", "--name", "CLI Co", "--slug", slug,
               "--owner-email", "boss@cli.example", "--plan", "team", "--seat-limit", "5",
               "--json")
    assert out.returncode == 0, out.stderr
    created = json.loads(out.stdout)
    assert set(created) == {"tenant_id", "slug", "owner_user_id", "api_key"}
    assert created["slug"] == slug and created["api_key"].startswith("dck_")
    again = _cli(test_db, tmp_path, "tenants", "create", "--name", "CLI Co", "--slug", slug,
                 "--owner-email", "boss@cli.example")
    assert again.returncode == 1 and "already exists" in again.stderr
    listed = json.loads(_cli(test_db, tmp_path, "tenants", "list", "--json").stdout)
    mine = [t for t in listed if t["slug"] == slug]
    assert mine and mine[0]["plan"] == "team" and mine[0]["seat_limit"] == 5


def test_db_bootstrap_prints_role_sql(test_db: DbInfo, tmp_path: Path) -> None:
    out = _cli(test_db, tmp_path, "db", "bootstrap")
    assert out.returncode == 0, out.stderr
    sql = out.stdout
    assert "NOSUPERUSER NOBYPASSRLS" in sql and f'CREATE ROLE "{test_db.app_role}"' in sql
    assert f'CREATE ROLE "{test_db.owner_role}"' in sql and "\\gexec" in sql
