"""Project access: owners and admins reach every project; members and viewers reach the
projects assigned to one of their teams. Viewers never write.

Enforced twice (docs/teams.md, "Access model"):
- here, in Python, with the verified principal (403 project_access_denied / insufficient_role);
- in PostgreSQL, from the user the request's credential check entered (drift_api.enter_*
  set app.user_id and app.role for the transaction): request reads of projects go through the
  security-barrier view `reachable_projects`, and row triggers refuse project writes (and any
  write to teams, memberships, team projects, invitations) the entered role may not make.
So a query that forgot the Python check still cannot show or change a project the user does
not reach. Admins pay no extra query: the view lets them through on app.role alone, and
app.projects.service.get_project reads a single project of an owner/admin from the table
itself (the statement's gate verifies that role; the view would cost executor start-up only).
"""

from __future__ import annotations

from uuid import UUID

from app.core.errors import Forbidden
from app.core.principal import Principal, Role
from app.core.tx import Tx

REACHABLE_SQL = (
    "SELECT tp.project_id FROM team_projects tp JOIN team_memberships tm"
    " ON tm.tenant_id = tp.tenant_id AND tm.team_id = tp.team_id WHERE tm.user_id = $1")


def sees_all_projects(principal: Principal) -> bool:
    return principal.at_least(Role.admin)


def project_access_denied() -> Forbidden:
    return Forbidden("You have no access to this project: it is not assigned to any of "
                     "your teams.", code="project_access_denied")


async def can_reach(tx: Tx, principal: Principal, project_id: UUID) -> bool:
    if sees_all_projects(principal):
        return True
    if principal.user_id is None:
        return False
    return bool(await tx.fetchval(
        f"SELECT EXISTS ({REACHABLE_SQL} AND tp.project_id = $2)",
        principal.user_id, project_id))


async def ensure_project_access(tx: Tx, principal: Principal, project_id: UUID, *,
                                write: bool = False) -> None:
    """403 project_access_denied unless the caller may reach (and, for writes, change) the
    project. Call after establishing that the project exists (404 first)."""
    if write and not principal.at_least(Role.member):
        raise Forbidden("Viewers cannot change projects.", code="insufficient_role")
    if not await can_reach(tx, principal, project_id):
        raise project_access_denied()
