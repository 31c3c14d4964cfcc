"""HTTP for verified domains (admin+): add (returns the DNS challenge), list, get, verify,
remove."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter
from starlette.responses import Response

from app.core.access import AdminPrincipal, RuntimeDep, TenantTx
from app.core.pagination import DEFAULT_LIMIT, Cursor, Limit, page_response, parse_time_id_cursor
from app.core.responses import json_response
from app.domains import service
from app.domains.schemas import DomainCreate, DomainList, DomainOut

PREFIX = "/api/v1/settings/domains"
router = APIRouter(prefix=PREFIX, tags=["verified domains"])

ADD: dict[int | str, dict[str, Any]] = {
    409: {"description": "domain_exists (in this organisation) or domain_claimed (verified "
                         "by another organisation)"}}
VERIFY: dict[int | str, dict[str, Any]] = {
    400: {"description": "dns_name_not_found, txt_record_missing or txt_token_mismatch: "
                         "the challenge is not published (yet)"},
    409: {"description": "domain_claimed: verified by another organisation"},
    503: {"description": "dns_unavailable: the DNS servers did not answer; retry"}}


@router.post("", status_code=201, response_model=DomainOut, responses=ADD,
             summary="Add a domain; answers the DNS TXT record that proves control (admin+)")
async def add_domain(body: DomainCreate, principal: AdminPrincipal, tx: TenantTx) -> Response:
    row = await service.add_domain(tx, principal, body.domain)
    return json_response(service.domain_out(row), 201,
                         headers={"Location": f"{PREFIX}/{row['id']}"})


@router.get("", response_model=DomainList, summary="List the organisation's domains (admin+)")
async def list_domains(_: AdminPrincipal, tx: TenantTx, limit: Limit = DEFAULT_LIMIT,
                       cursor: Cursor = None) -> Response:
    rows, total = await service.list_domains(tx, after=parse_time_id_cursor(cursor), limit=limit)
    return page_response(rows, total, limit, service.domain_out)


@router.get("/{domain_id}", response_model=DomainOut, summary="A domain and its status (admin+)")
async def get_domain(domain_id: UUID, _: AdminPrincipal, tx: TenantTx) -> Response:
    return json_response(service.domain_out(await service.get_domain(tx, domain_id)))


@router.post("/{domain_id}/verify", response_model=DomainOut, responses=VERIFY,
             summary="Look the TXT record up in DNS and mark the domain verified (admin+)")
async def verify_domain(domain_id: UUID, _: AdminPrincipal, tx: TenantTx, rt: RuntimeDep
                        ) -> Response:
    row = await service.verify_domain(tx, rt.settings, domain_id)
    return json_response(service.domain_out(row))


@router.delete("/{domain_id}", status_code=204, summary="Remove a domain (admin+)")
async def delete_domain(domain_id: UUID, _: AdminPrincipal, tx: TenantTx) -> Response:
    await service.delete_domain(tx, domain_id)
    return Response(status_code=204)
