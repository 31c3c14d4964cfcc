"""Teams: admins create, rename and delete teams, manage their members and assign projects;
members and viewers read the teams they belong to.

Teams with scim_managed = true mirror an IdP group (SCIM Groups): the IdP owns their name,
their existence and their membership, so this API refuses those changes with 409
`managed_by_scim`. What the IdP does not know about stays editable here: the description,
the lead/member role inside the team and the team's project assignments.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from app.core import clock
from app.core.audit_record import record
from app.core.errors import Conflict, Forbidden, NotFound
from app.core.events import build_data
from app.core.outbox import emit
from app.core.principal import Principal, Role
from app.core.sql import expect_row
from app.core.tx import Tx
from app.projects import service as projects
from app.teams.teams import repository
from app.teams.teams.schemas import TeamCreate, TeamMemberAdd, TeamUpdate


def _name_taken(name: str) -> Conflict:
    return Conflict(f"A team named {name!r} already exists in this tenant (names are unique "
                    "regardless of case).", code="team_name_taken")


def managed_by_scim(team: asyncpg.Record, what: str) -> Conflict:
    return Conflict(f"Team {team['name']!r} mirrors a group of your identity provider: {what} "
                    "is changed there and reaches Drift through SCIM.", code="managed_by_scim")


async def _team(tx: Tx, team_id: UUID, *, for_update: bool = False) -> asyncpg.Record:
    row = await repository.get_team(tx, team_id, for_update=for_update)
    if row is None:
        raise NotFound("No team with that id.", code="team_not_found")
    return row


async def _readable_team(tx: Tx, principal: Principal, team_id: UUID) -> asyncpg.Record:
    """The team, if the caller may read it: admins any team, others the teams they are in."""
    row = await _team(tx, team_id)
    if not principal.at_least(Role.admin) and (
            principal.user_id is None
            or not await repository.is_member(tx, team_id, principal.user_id)):
        raise Forbidden("Only members of this team (and admins) can see it.",
                        code="team_access_denied")
    return row


# ---- teams ----

async def create_team(tx: Tx, body: TeamCreate) -> asyncpg.Record:
    try:
        row = await repository.insert_team(tx, name=body.name, description=body.description,
                                           now=clock.now())
    except asyncpg.UniqueViolationError as exc:
        raise _name_taken(body.name) from exc
    await emit(tx, "team.created", build_data("team.created", team_id=row["id"],
                                               name=row["name"],
                                               description=row["description"]))
    await record(tx, "team.create", resource_id=row["id"],
                 metadata={"name": row["name"], "description": row["description"]})
    return row


async def get_team(tx: Tx, principal: Principal, team_id: UUID) -> asyncpg.Record:
    return await _readable_team(tx, principal, team_id)


async def list_teams(tx: Tx, principal: Principal, *, after: tuple[datetime, UUID] | None,
                     limit: int) -> tuple[list[asyncpg.Record], int]:
    """Admins list every team; members and viewers the teams they belong to."""
    if principal.at_least(Role.admin):
        return await repository.list_teams(tx, member_id=None, after=after, limit=limit)
    if principal.user_id is None:
        return [], 0
    return await repository.list_teams(tx, member_id=principal.user_id, after=after,
                                       limit=limit)


async def update_team(tx: Tx, team_id: UUID, body: TeamUpdate) -> asyncpg.Record:
    fields = body.model_dump(exclude_unset=True)
    if fields.get("name", "") is None:  # a team always has a name: null means "unchanged"
        del fields["name"]
    before = await _team(tx, team_id, for_update=True)
    if before["scim_managed"] and "name" in fields and fields["name"] != before["name"]:
        raise managed_by_scim(before, "its name")
    try:
        row = await repository.update_team(tx, team_id, fields, clock.now())
    except asyncpg.UniqueViolationError as exc:
        raise _name_taken(str(fields.get("name"))) from exc
    row = expect_row(row)
    changes = {k: {"from": before[k], "to": row[k]} for k in fields if before[k] != row[k]}
    if changes:
        await emit(tx, "team.updated", build_data(
            "team.updated", team_id=team_id, name=row["name"], description=row["description"],
            changed=sorted(changes)))
    await record(tx, "team.update", resource_id=team_id, metadata={"changes": changes})
    return row


async def delete_team(tx: Tx, team_id: UUID) -> None:
    team = await _team(tx, team_id, for_update=True)
    if team["scim_managed"]:
        raise managed_by_scim(team, "whether the team exists")
    await repository.delete_team(tx, team_id)
    await emit(tx, "team.deleted", build_data("team.deleted", team_id=team_id,
                                               name=team["name"],
                                               description=team["description"]))
    await record(tx, "team.delete", resource_id=team_id,
                 metadata={"name": team["name"], "members_removed": int(team["member_count"]),
                           "projects_unassigned": int(team["project_count"])})


# ---- members ----

async def add_member(tx: Tx, team_id: UUID, body: TeamMemberAdd) -> asyncpg.Record:
    team = await _team(tx, team_id)
    if team["scim_managed"]:
        raise managed_by_scim(team, "its membership")
    user = await repository.find_user(tx, user_id=body.user_id, email=body.email)
    if user is None:
        raise NotFound("No member of this tenant with that " +
                       ("id." if body.user_id is not None else "email."), code="user_not_found")
    if not user["active"]:
        raise Conflict("That user is deactivated; reactivate them (invite them again) before "
                       "adding them to a team.", code="user_inactive")
    if not await repository.insert_membership(tx, team_id, user["id"], body.role, clock.now()):
        raise Conflict("That user is already a member of this team; change their role with "
                       "PATCH.", code="already_team_member")
    await emit(tx, "team.member.added", build_data(
        "team.member.added", team_id=team_id, team_name=team["name"], user_id=user["id"],
        email=user["email"], role=body.role, source="teams_api"))
    await record(tx, "team.member_add", resource_id=team_id,
                 metadata={"user_id": str(user["id"]), "email": user["email"],
                           "role": body.role, "team_name": team["name"]})
    row = await repository.get_membership(tx, team_id, user["id"])
    return expect_row(row)


async def list_members(tx: Tx, principal: Principal, team_id: UUID, *,
                       after: tuple[datetime, UUID] | None, limit: int
                       ) -> tuple[list[asyncpg.Record], int]:
    await _readable_team(tx, principal, team_id)
    return await repository.list_members(tx, team_id, after=after, limit=limit)


async def update_member(tx: Tx, team_id: UUID, user_id: UUID, role: str) -> asyncpg.Record:
    """Change a member's role in the team (lead/member). Allowed on SCIM-managed teams too:
    IdP groups carry no roles, so SCIM never sets or overwrites it."""
    team = await _team(tx, team_id)
    before = await repository.get_membership(tx, team_id, user_id, for_update=True)
    if before is None:
        raise NotFound("That user is not a member of this team.", code="team_member_not_found")
    if before["role"] != role:
        await repository.set_membership_role(tx, team_id, user_id, role)
        await record(tx, "team.member_role_change", resource_id=team_id,
                     metadata={"user_id": str(user_id), "email": before["email"],
                               "team_name": team["name"],
                               "role": {"from": before["role"], "to": role}})
    row = await repository.get_membership(tx, team_id, user_id)
    return expect_row(row)


async def remove_member(tx: Tx, team_id: UUID, user_id: UUID) -> None:
    team = await _team(tx, team_id)
    if team["scim_managed"]:
        raise managed_by_scim(team, "its membership")
    member = await repository.get_membership(tx, team_id, user_id, for_update=True)
    if member is None or not await repository.delete_membership(tx, team_id, user_id):
        raise NotFound("That user is not a member of this team.", code="team_member_not_found")
    await emit(tx, "team.member.removed", build_data(
        "team.member.removed", team_id=team_id, team_name=team["name"], user_id=user_id,
        email=member["email"], role=member["role"], source="teams_api"))
    await record(tx, "team.member_remove", resource_id=team_id,
                 metadata={"user_id": str(user_id), "email": member["email"],
                           "role": member["role"], "team_name": team["name"]})


# ---- projects ----

async def assign_project(tx: Tx, team_id: UUID, project_id: UUID) -> asyncpg.Record:
    team = await _team(tx, team_id)
    project = await projects.get_project(tx, project_id)  # 404 if not in this tenant
    try:
        added = await repository.insert_team_project(tx, team_id, project_id, clock.now())
    except asyncpg.ForeignKeyViolationError as exc:  # deleted meanwhile
        raise NotFound("No project with that id.") from exc
    if not added:
        raise Conflict("That project is already assigned to this team.",
                       code="project_already_assigned")
    await record(tx, "team.project_assign", resource_id=team_id,
                 metadata={"project_id": str(project_id), "project_name": project["name"],
                           "team_name": team["name"]})
    row = await repository.get_team_project(tx, team_id, project_id)
    return expect_row(row)


async def list_projects(tx: Tx, principal: Principal, team_id: UUID, *,
                        after: tuple[datetime, UUID] | None, limit: int
                        ) -> tuple[list[asyncpg.Record], int]:
    await _readable_team(tx, principal, team_id)
    return await repository.list_team_projects(tx, team_id, after=after, limit=limit)


async def unassign_project(tx: Tx, team_id: UUID, project_id: UUID) -> None:
    team = await _team(tx, team_id)
    assigned = await repository.get_team_project(tx, team_id, project_id)
    if assigned is None or not await repository.delete_team_project(tx, team_id, project_id):
        raise NotFound("That project is not assigned to this team.",
                       code="team_project_not_found")
    await record(tx, "team.project_unassign", resource_id=team_id,
                 metadata={"project_id": str(project_id), "project_name": assigned["name"],
                           "team_name": team["name"]})
