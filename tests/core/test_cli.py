"""The drift-cloud command against the test database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from app.cli import DEMO_FILE, create_demo_tenant, demo_banner
from app.core.runtime import Runtime
from app.core.tx import own_tx
from tests.conftest import DbInfo, bearer


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


async def test_demo_tenant_prints_a_scim_token_once_then_how_to_make_one(
        runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path) -> None:
    """`make run` on a fresh data dir: the demo tenant comes with a working SCIM token, shown
    in the banner only then (not stored); on a restart the banner says how to create one."""
    demo_file = tmp_path / DEMO_FILE
    first = await create_demo_tenant(runtime, demo_file, slug=f"demo-{uuid.uuid4().hex[:8]}")
    url = "http://127.0.0.1:8000"
    banner = "\n".join(demo_banner(url, first))
    token = first["scim_token"]
    assert token.startswith("dcs_") and f"SCIM token  : {token}" in banner
    assert f"{url}/scim/v2" in banner
    scim = await client.get("/scim/v2/Users", headers=bearer(token))
    assert scim.status_code == 200, scim.text  # the printed token works
    # shown once: not kept in the demo file (which holds the API key and password, 0600)
    assert token not in demo_file.read_text()
    assert demo_file.stat().st_mode & 0o777 == 0o600
    restarted = json.loads(demo_file.read_text())
    again = "\n".join(demo_banner(url, restarted))
    assert "dcs_" not in again and "shown only on the first start" in again
    curl = next(line for line in again.splitlines() if "curl -X POST" in line)
    assert f"{url}/api/v1/settings/scim" in curl and restarted["api_key"] in curl
    # and what it says works: the printed API key may create a SCIM token there
    made = await client.post("/api/v1/settings/scim", headers=bearer(restarted["api_key"]),
                             json={"name": "Okta"})
    assert made.status_code == 201, made.text
    tenant_id = uuid.UUID(first["tenant_id"])
    async with own_tx(runtime.db, tenant_id) as tx:
        created = await tx.fetch(
            "SELECT metadata->>'name' AS name, actor_type FROM audit_events"
            " WHERE action = 'scim.token_created' ORDER BY created_at")
    assert [(r["name"], r["actor_type"]) for r in created] == [
        ("Demo identity provider", "system"), ("Okta", "api_key")]
