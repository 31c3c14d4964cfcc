"""teams access: project reach enforced by the database, write guards, one owner

Revision ID: 0400_teams_access
Revises: 0003_enter_functions
Create Date: 2026-11-21 13:00

Project access (docs/teams.md, "Access model"): owners and admins reach every project; members
and viewers reach the projects assigned to one of their teams. Python checks it
(app.teams.access) and so does PostgreSQL:

- The credential-entering functions (drift_api.enter_api_key / enter_session) are replaced,
  same signatures and checks, so that, once the credential is verified, they also set the
  transaction-local settings app.user_id and app.role. No extra round trip: they already run
  in the request's `BEGIN; SELECT drift_api.enter_*(...)`.
- View `reachable_projects` (security_barrier, security_invoker): the projects of the tenant
  that the entered user may reach. Owners and admins see all; members and viewers only the
  projects of their teams (team_projects x team_memberships); a transaction without an entered
  user (app.role unset) sees none (fail closed). Request reads of projects go through it.
- Write guards (BEFORE row triggers, not policies: every tenant table keeps exactly its one
  tenant policy): in a transaction entered with a user credential (app.role set),
  * projects: INSERT and DELETE need owner/admin; UPDATE needs owner/admin, or member on a
    project assigned to one of the user's teams. Viewers never write.
  * teams, team_memberships, team_projects, invitations: owner/admin only (a member cannot
    grant themselves project access through a team).
  Transactions with no entered user (SCIM, invitation acceptance, the worker, the CLI) are not
  user requests and are not bound by these role guards; RLS still confines them to a tenant.
  A guard refusal raises SQLSTATE DR403.
- Exactly one owner: a partial unique index (0001) allows at most one; here the user named by
  tenants.owner_id can be neither demoted nor deactivated (immediate, SQLSTATE DR409), only the
  user named by tenants.owner_id may become owner, and a deferred constraint trigger checks at
  commit that tenants.owner_id names an active owner (so a transfer moves owner_id, demotes,
  promotes, in one transaction).
"""

from collections.abc import Sequence

from alembic import op
from app.core.migrate import app_role

revision: str = "0400_teams_access"
down_revision: str | Sequence[str] | None = "0003_enter_functions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFINER = "SECURITY DEFINER SET search_path = pg_catalog, pg_temp"
INVOKER = "SET search_path = pg_catalog, pg_temp"

ENTER_API_KEY = """
CREATE OR REPLACE FUNCTION drift_api.enter_api_key(p_key uuid, p_tenant uuid, p_role text,
                                                   p_email_md5 text, p_now timestamptz)
    RETURNS void LANGUAGE plpgsql {definer} AS $$
DECLARE r record;
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    SELECT k.revoked_at, k.expires_at, k.last_used_at, u.id AS uid, u.active, u.role,
           md5(coalesce(u.email, '')) AS email_md5, u.last_active_at
      INTO r
      FROM public.api_keys k
      JOIN public.users u ON u.tenant_id = k.tenant_id AND u.id = k.user_id
     WHERE k.id = p_key;
    IF NOT FOUND OR r.revoked_at IS NOT NULL THEN
        PERFORM set_config('app.tenant_id', '', true);
        RAISE EXCEPTION 'revoked' USING ERRCODE = 'DR401';
    ELSIF r.expires_at IS NOT NULL AND r.expires_at <= p_now THEN
        PERFORM set_config('app.tenant_id', '', true);
        RAISE EXCEPTION 'expired' USING ERRCODE = 'DR401';
    ELSIF NOT r.active THEN
        PERFORM set_config('app.tenant_id', '', true);
        RAISE EXCEPTION 'inactive' USING ERRCODE = 'DR401';
    ELSIF r.role <> p_role OR r.email_md5 <> p_email_md5 THEN
        PERFORM set_config('app.tenant_id', '', true);
        RAISE EXCEPTION 'changed' USING ERRCODE = 'DR401';
    END IF;
    -- the verified user, for the database's own access rules (reachable_projects, guards)
    PERFORM set_config('app.user_id', r.uid::text, true);
    PERFORM set_config('app.role', r.role, true);
    IF r.last_used_at IS NULL OR r.last_used_at < p_now - interval '60 seconds' THEN
        UPDATE public.api_keys SET last_used_at = p_now WHERE id = p_key;
    END IF;
    IF r.last_active_at IS NULL OR r.last_active_at < p_now - interval '60 seconds' THEN
        UPDATE public.users SET last_active_at = p_now WHERE id = r.uid;
    END IF;
END $$"""

ENTER_SESSION = """
CREATE OR REPLACE FUNCTION drift_api.enter_session(p_session uuid, p_tenant uuid, p_user uuid,
                                                   p_role text, p_email_md5 text,
                                                   p_now timestamptz)
    RETURNS void LANGUAGE plpgsql {definer} AS $$
DECLARE r record;
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    SELECT s.revoked_at, s.expires_at, u.active, u.role,
           md5(coalesce(u.email, '')) AS email_md5, u.last_active_at
      INTO r
      FROM public.sessions s
      JOIN public.users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
     WHERE s.id = p_session AND s.user_id = p_user;
    IF NOT FOUND OR r.revoked_at IS NOT NULL THEN
        PERFORM set_config('app.tenant_id', '', true);
        RAISE EXCEPTION 'revoked' USING ERRCODE = 'DR401';
    ELSIF r.expires_at <= p_now THEN
        PERFORM set_config('app.tenant_id', '', true);
        RAISE EXCEPTION 'expired' USING ERRCODE = 'DR401';
    ELSIF NOT r.active THEN
        PERFORM set_config('app.tenant_id', '', true);
        RAISE EXCEPTION 'inactive' USING ERRCODE = 'DR401';
    ELSIF r.role <> p_role OR r.email_md5 <> p_email_md5 THEN
        PERFORM set_config('app.tenant_id', '', true);
        RAISE EXCEPTION 'changed' USING ERRCODE = 'DR401';
    END IF;
    -- the verified user, for the database's own access rules (reachable_projects, guards)
    PERFORM set_config('app.user_id', p_user::text, true);
    PERFORM set_config('app.role', r.role, true);
    IF r.last_active_at IS NULL OR r.last_active_at < p_now - interval '60 seconds' THEN
        UPDATE public.users SET last_active_at = p_now WHERE id = p_user;
    END IF;
END $$"""

# The projects the entered user reaches, as one predicate on a projects row `p`.
_REACH = """(
    NULLIF(current_setting('app.role', true), '') IN ('owner', 'admin')
    OR EXISTS (
        SELECT 1 FROM public.team_projects tp
          JOIN public.team_memberships tm
            ON tm.tenant_id = tp.tenant_id AND tm.team_id = tp.team_id
         WHERE tp.tenant_id = p.tenant_id AND tp.project_id = p.id
           AND tm.user_id = NULLIF(current_setting('app.user_id', true), '')::uuid))"""

REACHABLE_VIEW = f"""
CREATE VIEW reachable_projects WITH (security_barrier = true, security_invoker = true) AS
SELECT p.tenant_id, p.id, p.name, p.slug, p.description, p.created_at, p.updated_at
  FROM public.projects p
 WHERE {_REACH}"""

GUARD_PROJECT_WRITE = f"""
CREATE FUNCTION drift_private.guard_project_write() RETURNS trigger
    LANGUAGE plpgsql {INVOKER} AS $$
DECLARE
    v_role text := NULLIF(current_setting('app.role', true), '');
    v_user uuid := NULLIF(current_setting('app.user_id', true), '')::uuid;
    v_id uuid := CASE WHEN TG_OP = 'INSERT' THEN NEW.id ELSE OLD.id END;
BEGIN
    IF v_role IS NULL OR v_role IN ('owner', 'admin') THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'UPDATE' AND v_role = 'member' AND EXISTS (
            SELECT 1 FROM public.team_projects tp
              JOIN public.team_memberships tm
                ON tm.tenant_id = tp.tenant_id AND tm.team_id = tp.team_id
             WHERE tp.tenant_id = OLD.tenant_id AND tp.project_id = OLD.id
               AND tm.user_id = v_user) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'project_access_denied: a % may not % project %', v_role, lower(TG_OP), v_id
        USING ERRCODE = 'DR403';
END $$"""

GUARD_ADMIN_WRITE = f"""
CREATE FUNCTION drift_private.guard_admin_write() RETURNS trigger
    LANGUAGE plpgsql {INVOKER} AS $$
DECLARE
    v_role text := NULLIF(current_setting('app.role', true), '');
BEGIN
    IF v_role IS NULL OR v_role IN ('owner', 'admin') THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    RAISE EXCEPTION 'insufficient_role: a % may not change %', v_role, TG_TABLE_NAME
        USING ERRCODE = 'DR403';
END $$"""

GUARD_OWNER = f"""
CREATE FUNCTION drift_private.guard_owner() RETURNS trigger
    LANGUAGE plpgsql {INVOKER} AS $$
DECLARE
    v_owner uuid;
BEGIN
    SELECT t.owner_id INTO v_owner FROM public.tenants t WHERE t.tenant_id = NEW.tenant_id;
    IF OLD.role = 'owner' AND OLD.id = v_owner
       AND (NEW.role <> 'owner' OR NOT NEW.active) THEN
        RAISE EXCEPTION 'owner_protected: the tenant owner cannot be demoted or deactivated; transfer ownership first'
            USING ERRCODE = 'DR409';
    END IF;
    IF NEW.role = 'owner' AND OLD.role <> 'owner' AND NEW.id IS DISTINCT FROM v_owner THEN
        RAISE EXCEPTION 'owner_protected: only the user named by tenants.owner_id can be the owner; use the ownership transfer'
            USING ERRCODE = 'DR409';
    END IF;
    RETURN NEW;
END $$"""

CHECK_OWNER = f"""
CREATE FUNCTION drift_private.check_owner() RETURNS trigger
    LANGUAGE plpgsql {INVOKER} AS $$
DECLARE
    r record;
BEGIN
    SELECT t.owner_id, u.role, u.active INTO r
      FROM public.tenants t
      LEFT JOIN public.users u ON u.tenant_id = t.tenant_id AND u.id = t.owner_id
     WHERE t.tenant_id = NEW.tenant_id;
    IF FOUND AND r.owner_id IS NOT NULL AND (r.role IS DISTINCT FROM 'owner' OR NOT r.active) THEN
        RAISE EXCEPTION 'owner_protected: tenants.owner_id must name the one active owner'
            USING ERRCODE = 'DR409';
    END IF;
    RETURN NULL;
END $$"""


def upgrade() -> None:
    app = app_role()
    sql = [
        ENTER_API_KEY.format(definer=DEFINER),
        ENTER_SESSION.format(definer=DEFINER),
        REACHABLE_VIEW,
        f"GRANT SELECT ON reachable_projects TO {app}",
        GUARD_PROJECT_WRITE,
        """CREATE TRIGGER projects_guard_write BEFORE INSERT OR UPDATE OR DELETE ON projects
            FOR EACH ROW EXECUTE FUNCTION drift_private.guard_project_write()""",
        GUARD_ADMIN_WRITE,
        GUARD_OWNER,
        """CREATE TRIGGER users_guard_owner BEFORE UPDATE OF role, active ON users
            FOR EACH ROW WHEN (OLD.role = 'owner' OR NEW.role = 'owner')
            EXECUTE FUNCTION drift_private.guard_owner()""",
        CHECK_OWNER,
        """CREATE CONSTRAINT TRIGGER tenants_check_owner AFTER UPDATE OF owner_id ON tenants
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
            EXECUTE FUNCTION drift_private.check_owner()""",
        """CREATE CONSTRAINT TRIGGER users_check_owner AFTER UPDATE OF role, active ON users
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
            WHEN (OLD.role = 'owner' OR NEW.role = 'owner')
            EXECUTE FUNCTION drift_private.check_owner()""",
    ]
    for table in ("teams", "team_memberships", "team_projects", "invitations"):
        sql.append(f"""CREATE TRIGGER {table}_guard_write
            BEFORE INSERT OR UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION drift_private.guard_admin_write()""")
    for fn in ("guard_project_write", "guard_admin_write", "guard_owner", "check_owner"):
        sql.append(f"REVOKE EXECUTE ON FUNCTION drift_private.{fn}() FROM PUBLIC")
    for stmt in sql:
        op.execute(stmt)


def downgrade() -> None:
    for table in ("teams", "team_memberships", "team_projects", "invitations"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_guard_write ON {table}")
    for stmt in [
        "DROP TRIGGER IF EXISTS users_check_owner ON users",
        "DROP TRIGGER IF EXISTS tenants_check_owner ON tenants",
        "DROP TRIGGER IF EXISTS users_guard_owner ON users",
        "DROP TRIGGER IF EXISTS projects_guard_write ON projects",
        "DROP FUNCTION IF EXISTS drift_private.check_owner()",
        "DROP FUNCTION IF EXISTS drift_private.guard_owner()",
        "DROP FUNCTION IF EXISTS drift_private.guard_admin_write()",
        "DROP FUNCTION IF EXISTS drift_private.guard_project_write()",
        "DROP VIEW IF EXISTS reachable_projects",
    ]:
        op.execute(stmt)
    # back to the 0003 bodies: the same functions without app.user_id / app.role
    op.execute(ENTER_API_KEY.format(definer=DEFINER)
               .replace("    PERFORM set_config('app.user_id', r.uid::text, true);\n", "")
               .replace("    PERFORM set_config('app.role', r.role, true);\n", ""))
    op.execute(ENTER_SESSION.format(definer=DEFINER)
               .replace("    PERFORM set_config('app.user_id', p_user::text, true);\n", "")
               .replace("    PERFORM set_config('app.role', r.role, true);\n", ""))
