from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter
from starlette.responses import Response

from app.core.access import AdminPrincipal, CurrentPrincipal, TenantTx
from app.core.idempotency import idempotent
from app.core.pagination import DEFAULT_LIMIT, Cursor, Limit, page_response, parse_time_id_cursor
from app.core.responses import json_response
from app.teams.teams import schemas, service
from app.teams.teams.schemas import (
    TeamCreate,
    TeamList,
    TeamMemberAdd,
    TeamMemberList,
    TeamMemberOut,
    TeamMemberUpdate,
    TeamOut,
    TeamProjectAdd,
    TeamProjectList,
    TeamProjectOut,
    TeamUpdate,
)

router = APIRouter(prefix="/api/v1/teams", tags=["teams"])

SCIM_409: dict[int | str, dict[str, Any]] = {
    409: {"description": "managed_by_scim: the team mirrors an IdP group"}}


@router.post("", status_code=201, response_model=TeamOut, summary="Create a team (admin+)",
             responses={409: {"description": "team_name_taken"}})
@idempotent
async def create_team(body: TeamCreate, _: AdminPrincipal, tx: TenantTx) -> Response:
    row = await service.create_team(tx, body)
    return json_response(schemas.team_out(row), 201,
                         headers={"Location": f"/api/v1/teams/{row['id']}"})


@router.get("", response_model=TeamList,
            summary="List teams (admins: all; members and viewers: their own)")
async def list_teams(principal: CurrentPrincipal, tx: TenantTx, limit: Limit = DEFAULT_LIMIT,
                     cursor: Cursor = None) -> Response:
    rows, total = await service.list_teams(tx, principal, after=parse_time_id_cursor(cursor),
                                           limit=limit)
    return page_response(rows, total, limit, schemas.team_out)


@router.get("/{team_id}", response_model=TeamOut,
            summary="Get a team (admins, or members of the team)")
async def get_team(team_id: UUID, principal: CurrentPrincipal, tx: TenantTx) -> Response:
    return json_response(schemas.team_out(await service.get_team(tx, principal, team_id)))


@router.patch("/{team_id}", response_model=TeamOut,
              summary="Rename a team or change its description (admin+)", responses=SCIM_409)
async def update_team(team_id: UUID, body: TeamUpdate, _: AdminPrincipal, tx: TenantTx
                      ) -> Response:
    return json_response(schemas.team_out(await service.update_team(tx, team_id, body)))


@router.delete("/{team_id}", status_code=204, responses=SCIM_409,
               summary="Delete a team with its memberships and project assignments (admin+)")
async def delete_team(team_id: UUID, _: AdminPrincipal, tx: TenantTx) -> Response:
    await service.delete_team(tx, team_id)
    return Response(status_code=204)


@router.post("/{team_id}/members", status_code=201, response_model=TeamMemberOut,
             summary="Add a member of the tenant to the team (admin+)", responses=SCIM_409)
@idempotent
async def add_member(team_id: UUID, body: TeamMemberAdd, _: AdminPrincipal, tx: TenantTx
                     ) -> Response:
    row = await service.add_member(tx, team_id, body)
    return json_response(schemas.team_member_out(row), 201)


@router.get("/{team_id}/members", response_model=TeamMemberList,
            summary="List the team's members (admins, or members of the team)")
async def list_members(team_id: UUID, principal: CurrentPrincipal, tx: TenantTx,
                       limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> Response:
    rows, total = await service.list_members(tx, principal, team_id,
                                             after=parse_time_id_cursor(cursor), limit=limit)
    return page_response(rows, total, limit, schemas.team_member_out, id_col="user_id")


@router.patch("/{team_id}/members/{user_id}", response_model=TeamMemberOut,
              summary="Change a member's role in the team: lead or member (admin+)")
async def update_member(team_id: UUID, user_id: UUID, body: TeamMemberUpdate,
                        _: AdminPrincipal, tx: TenantTx) -> Response:
    row = await service.update_member(tx, team_id, user_id, body.role)
    return json_response(schemas.team_member_out(row))


@router.delete("/{team_id}/members/{user_id}", status_code=204, responses=SCIM_409,
               summary="Remove a member from the team (admin+)")
async def remove_member(team_id: UUID, user_id: UUID, _: AdminPrincipal, tx: TenantTx
                        ) -> Response:
    await service.remove_member(tx, team_id, user_id)
    return Response(status_code=204)


@router.post("/{team_id}/projects", status_code=201, response_model=TeamProjectOut,
             summary="Assign a project to the team (admin+)",
             responses={409: {"description": "project_already_assigned"}})
@idempotent
async def assign_project(team_id: UUID, body: TeamProjectAdd, _: AdminPrincipal, tx: TenantTx
                         ) -> Response:
    row = await service.assign_project(tx, team_id, body.project_id)
    return json_response(schemas.team_project_out(row), 201)


@router.get("/{team_id}/projects", response_model=TeamProjectList,
            summary="List the team's projects (admins, or members of the team)")
async def list_projects(team_id: UUID, principal: CurrentPrincipal, tx: TenantTx,
                        limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> Response:
    rows, total = await service.list_projects(tx, principal, team_id,
                                              after=parse_time_id_cursor(cursor), limit=limit)
    return page_response(rows, total, limit, schemas.team_project_out, id_col="project_id")


@router.delete("/{team_id}/projects/{project_id}", status_code=204,
               summary="Unassign a project from the team (admin+)")
async def unassign_project(team_id: UUID, project_id: UUID, _: AdminPrincipal, tx: TenantTx
                           ) -> Response:
    await service.unassign_project(tx, team_id, project_id)
    return Response(status_code=204)
