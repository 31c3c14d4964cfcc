"""Every response builder (the `*_out` functions beside their schemas) turns a real row, read
by its domain's repository from a tenant the API populated, into exactly what its schema
declares: the schema validates it and no key is left over or missing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import httpx
import pytest
from pydantic import BaseModel

from app.auth import repository as auth_repo
from app.auth.schemas import ApiKeyOut, key_out
from app.core.tx import Tx, own_tx
from app.ipallow import repository as ipallow_repo
from app.ipallow.schemas import EntryOut, entry_out
from app.projects import repository as projects_repo
from app.projects.schemas import ProjectOut, project_out
from app.scim.repository import mappings as mappings_repo
from app.scim.repository import tokens as tokens_repo
from app.scim.schemas import GroupMappingOut, ScimTokenOut, mapping_out, token_out
from app.teams.invitations import repository as invitations_repo
from app.teams.invitations.schemas import InvitationOut, invitation_out
from app.teams.members import repository as members_repo
from app.teams.members.schemas import MemberOut, member_out
from app.teams.ownership import repository as ownership_repo
from app.teams.ownership.schemas import OwnerIdentityOut, TenantOut, owner_identity_out, tenant_out
from app.teams.teams import repository as teams_repo
from app.teams.teams.schemas import (
    TeamMemberOut,
    TeamOut,
    TeamProjectOut,
    team_member_out,
    team_out,
    team_project_out,
)
from app.tenants import repository as tenants_repo
from app.webhooks import repository as webhooks_repo
from app.webhooks.schemas import DeliveryOut, WebhookOut, delivery_out, endpoint_out
from tests.conftest import Tenant

Fetch = Callable[[Tx, dict[str, Any]], Awaitable[Any]]


CASES: list[tuple[str, Callable[..., dict[str, Any]], type[BaseModel], Fetch]] = [
    ("project", project_out, ProjectOut,
     lambda tx, ids: projects_repo.get(tx, ids["project"])),
    ("api key", key_out, ApiKeyOut,
     lambda tx, ids: _first_awaitable(auth_repo.list_api_keys(tx, user_id=None, after=None,
                                                                limit=5))),
    ("allowlist entry", entry_out, EntryOut,
     lambda tx, ids: ipallow_repo.get(tx, ids["entry"])),
    ("webhook endpoint", endpoint_out, WebhookOut,
     lambda tx, ids: webhooks_repo.get_endpoint(tx, ids["webhook"])),
    ("delivery", delivery_out, DeliveryOut,
     lambda tx, ids: _first_awaitable(webhooks_repo.list_deliveries(
         tx, ids["webhook"], status=None, event_type=None, before=None, limit=5))),
    ("team", team_out, TeamOut, lambda tx, ids: teams_repo.get_team(tx, ids["team"])),
    ("team member", team_member_out, TeamMemberOut,
     lambda tx, ids: _first_awaitable(teams_repo.list_members(tx, ids["team"], after=None,
                                                               limit=5))),
    ("team project", team_project_out, TeamProjectOut,
     lambda tx, ids: _first_awaitable(teams_repo.list_team_projects(tx, ids["team"],
                                                                     after=None, limit=5))),
    ("member", member_out, MemberOut,
     lambda tx, ids: members_repo.get_member(tx, ids["member"])),
    ("invitation", invitation_out, InvitationOut,
     lambda tx, ids: invitations_repo.get(tx, ids["invitation"])),
    ("scim token", token_out, ScimTokenOut,
     lambda tx, ids: tokens_repo.get(tx, ids["scim_token"])),
    ("group mapping", mapping_out, GroupMappingOut,
     lambda tx, ids: _first_list(mappings_repo.list_all(tx))),
    ("tenant", tenant_out, TenantOut, lambda tx, ids: tenants_repo.get_tenant(tx)),
    ("owner identity", owner_identity_out, OwnerIdentityOut,
     lambda tx, ids: ownership_repo.owner_identity(tx)),
]


async def _first_awaitable(pending: Awaitable[tuple[list[Any], int]]) -> Any:
    rows, _ = await pending
    return rows[0]


async def _first_list(pending: Awaitable[list[Any]]) -> Any:
    rows = await pending
    return rows[0]


@pytest.fixture
async def populated(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    """One of everything, made through the API as a customer would."""
    h = tenant.headers

    async def post(path: str, body: dict[str, Any], method: str = "POST") -> dict[str, Any]:
        r = await client.request(method, path, headers=h, json=body)
        assert r.status_code in (200, 201), (path, r.text)
        out: dict[str, Any] = r.json()
        return out

    member = await tenant.add_user("member")
    project = await post("/api/v1/projects", {"name": "builders"})
    team = await post("/api/v1/teams", {"name": "Builders"})
    await post(f"/api/v1/teams/{team['id']}/members", {"user_id": str(member.id)})
    await post(f"/api/v1/teams/{team['id']}/projects", {"project_id": project["id"]})
    invitation = await post("/api/v1/invitations", {"email": "new@builders.example"})
    entry = await post("/api/v1/settings/ip-allowlist",
                       {"cidr": "127.0.0.0/8", "description": "loopback"})
    webhook = await post("/api/v1/webhooks", {"url": "http://127.0.0.1:9/hook",
                                              "events": ["project.created"]})
    await post("/api/v1/projects", {"name": "one delivery"})
    token = await post("/api/v1/settings/scim", {"name": "builders"})
    await post("/api/v1/settings/scim/group-mappings",
               {"mappings": [{"group": "Admins", "role": "admin"}]}, method="PUT")
    return {"project": UUID(project["id"]), "team": UUID(team["id"]), "member": member.id,
            "invitation": UUID(invitation["id"]), "entry": UUID(entry["id"]),
            "webhook": UUID(webhook["id"]), "scim_token": UUID(token["id"])}


@pytest.mark.parametrize(("name", "builder", "schema", "fetch"), CASES,
                         ids=[c[0] for c in CASES])
async def test_builder_output_is_its_schema(name: str, builder: Callable[..., dict[str, Any]],
                                            schema: type[BaseModel], fetch: Fetch,
                                            tenant: Tenant, populated: dict[str, Any]) -> None:
    async with own_tx(tenant.rt.db, tenant.id) as tx:
        row = await fetch(tx, populated)
    assert row is not None, name
    out = builder(row)
    model = schema.model_validate(out)
    # nothing dropped, nothing invented: the schema's fields are exactly the builder's keys
    assert set(out) == set(schema.model_fields), (name, set(out) ^ set(schema.model_fields))
    assert model.model_dump(mode="json").keys() == out.keys()
