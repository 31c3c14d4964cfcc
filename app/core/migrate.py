"""Running Alembic migrations as the owner role, and helpers the revisions share.

The runtime role's name reaches revisions through the Alembic config attribute `app_role`
(from DRIFT_DATABASE_URL's user; drift_app when embedded), so they can GRANT to it.
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from alembic import command

ROOT = Path(__file__).resolve().parents[2]

# The fail-closed tenant predicate every tenant table's policy uses (docs/ARCHITECTURE.md).
TENANT_PREDICATE = "tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid)"


def alembic_config(owner_url: str | None = None, app_role: str | None = None) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    if owner_url is not None:
        cfg.attributes["owner_url"] = owner_url
    if app_role is not None:
        cfg.attributes["app_role"] = app_role
    return cfg


def run_migrations(owner_url: str, app_role: str, revision: str = "heads") -> None:
    """Upgrade to head. Synchronous (Alembic drives its own event loop): call it from a thread
    when an event loop is already running."""
    command.upgrade(alembic_config(owner_url, app_role), revision)


def script_heads() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def app_role() -> str:
    """For revisions: the quoted runtime role name to GRANT to."""
    from alembic import context

    role = context.config.attributes.get("app_role")
    if not role:
        raise RuntimeError("app_role is not set: run migrations through `drift-cloud migrate`")
    return quote_ident(str(role))


def tenant_rls(table: str) -> list[str]:
    """ENABLE + FORCE row-level security and the one tenant policy (USING and WITH CHECK)."""
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {table} USING ({TENANT_PREDICATE}) "
        f"WITH CHECK ({TENANT_PREDICATE})",
    ]
