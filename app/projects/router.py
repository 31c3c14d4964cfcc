from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from starlette.responses import Response

from app.core.access import AdminPrincipal, CurrentPrincipal, MemberPrincipal, TenantTx
from app.core.idempotency import idempotent
from app.core.pagination import DEFAULT_LIMIT, Cursor, Limit, page_response, parse_time_id_cursor
from app.core.responses import json_response
from app.projects import schemas, service
from app.projects.schemas import ProjectCreate, ProjectList, ProjectOut, ProjectUpdate

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])


@router.post("", status_code=201, response_model=ProjectOut,
             summary="Create a project (admin+)")
@idempotent
async def create_project(body: ProjectCreate, _: AdminPrincipal, tx: TenantTx) -> Response:
    row = await service.create_project(tx, body)
    return json_response(schemas.project_out(row), 201,
                         headers={"Location": f"/api/v1/projects/{row['id']}"})


@router.get("", response_model=ProjectList, summary="List projects")
async def list_projects(principal: CurrentPrincipal, tx: TenantTx,
                        limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> Response:
    rows, total = await service.list_projects(tx, principal, after=parse_time_id_cursor(cursor),
                                              limit=limit)
    return page_response(rows, total, limit, schemas.project_out)


@router.get("/{project_id}", response_model=ProjectOut, summary="Get a project")
async def get_project(project_id: UUID, principal: CurrentPrincipal, tx: TenantTx) -> Response:
    return json_response(schemas.project_out(
        await service.get_project(tx, project_id, principal)))


@router.patch("/{project_id}", response_model=ProjectOut,
              summary="Change a project's name, slug or description (member+)")
async def update_project(project_id: UUID, body: ProjectUpdate, principal: MemberPrincipal,
                         tx: TenantTx) -> Response:
    return json_response(schemas.project_out(
        await service.update_project(tx, principal, project_id, body)))


@router.delete("/{project_id}", status_code=204, summary="Delete a project (admin+)")
async def delete_project(project_id: UUID, _: AdminPrincipal, tx: TenantTx) -> Response:
    await service.delete_project(tx, project_id)
    return Response(status_code=204)
