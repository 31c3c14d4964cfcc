"""Projects: the Drift codebases a tenant syncs. Create/delete emit webhook events."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from app.core import clock
from app.core.audit_record import record
from app.core.errors import Conflict, NotFound, found
from app.core.outbox import emit
from app.core.principal import Principal
from app.core.project_access import ensure_project_access, project_access_denied, sees_all_projects
from app.core.sql import expect_row
from app.core.tx import Tx
from app.projects import repository
from app.projects.schemas import ProjectCreate, ProjectUpdate
from app.tenants.service import slugify


def _event_data(row: asyncpg.Record) -> dict[str, Any]:
    return {"project_id": str(row["id"]), "name": row["name"], "slug": row["slug"]}


async def get_project(tx: Tx, project_id: UUID, principal: Principal | None = None, *,
                      write: bool = False) -> asyncpg.Record:
    """The project, 404 if it does not exist in this tenant, 403 if `principal` may not reach
    it (members and viewers reach only their teams' projects).

    With a principal (a request entered with a user credential) the row is read through the
    database's own reach filter and checked in Python as well (app.core.project_access).
    Owners and admins, who reach every project, read the table itself: the statement that
    reads it also verifies that role (drift_api.enter_*), so a demoted admin's cached role
    reaches nothing, and the view's team check would only cost executor start-up."""
    if principal is None or sees_all_projects(principal):
        return found(await repository.get(tx, project_id), "No project with that id.")
    row = await repository.get_reachable(tx, project_id)
    if row is None:
        if not await repository.exists(tx, project_id):
            raise NotFound("No project with that id.")
        raise project_access_denied()
    await ensure_project_access(tx, principal, project_id, write=write)
    return row


async def create_project(tx: Tx, body: ProjectCreate) -> asyncpg.Record:
    slug = body.slug or slugify(body.name)
    try:
        row = await repository.insert(tx, name=body.name, slug=slug,
                                      description=body.description, now=clock.now())
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(f"A project with slug {slug!r} already exists in this tenant.",
                       code="slug_taken") from exc
    await emit(tx, "project.created", _event_data(row))
    # last: record() takes the tenant's audit chain lock, held until COMMIT (docs/audit.md)
    await record(tx, "project.create", resource_id=row["id"],
                 metadata={"name": row["name"], "slug": row["slug"]})
    return row


async def update_project(tx: Tx, principal: Principal, project_id: UUID, body: ProjectUpdate
                         ) -> asyncpg.Record:
    fields = body.model_dump(exclude_unset=True)
    if "name" in fields and fields["name"] is None:
        del fields["name"]
    if "slug" in fields and fields["slug"] is None:
        del fields["slug"]
    before = await get_project(tx, project_id, principal, write=True)
    try:
        row = await repository.update(tx, project_id, fields, clock.now())
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(f"A project with slug {fields.get('slug')!r} already exists in this "
                       "tenant.", code="slug_taken") from exc
    row = expect_row(row)
    changes = {k: {"from": before[k], "to": row[k]} for k in fields if before[k] != row[k]}
    await record(tx, "project.update", resource_id=project_id, metadata={"changes": changes})
    return row


async def delete_project(tx: Tx, project_id: UUID) -> None:
    row = found(await repository.delete(tx, project_id), "No project with that id.")
    await emit(tx, "project.deleted", _event_data(row))
    await record(tx, "project.delete", resource_id=project_id,
                 metadata={"name": row["name"], "slug": row["slug"]})


async def list_projects(tx: Tx, principal: Principal, *, after: tuple[datetime, UUID] | None,
                        limit: int) -> tuple[list[asyncpg.Record], int]:
    """Admins see every project; members and viewers the ones their teams reach."""
    member_id = None if sees_all_projects(principal) else principal.user_id
    return await repository.list_page(tx, after=after, limit=limit, reachable_by=member_id)
