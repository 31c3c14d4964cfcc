"""SSO HTTP: connection settings (admin), enforcement (owner), the browser login flow, and the
one-time code exchange. Importing this module registers the password-credential check
(app.auth.service.password_checks)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Cookie, Query, Request
from starlette.responses import RedirectResponse, Response

from app.auth.schemas import TokenOut
from app.auth.service import password_checks, tenant_for_slug
from app.core.access import (
    AdminPrincipal,
    CtxDep,
    OwnerPrincipal,
    RuntimeDep,
    TenantTx,
    run_tenant_checks,
)
from app.core.errors import BadRequest, NotFound
from app.core.responses import json_response
from app.domains.service import tenant_for_email
from app.sso import connections, service
from app.sso.schemas import (
    ConnectionIn,
    ConnectionList,
    ConnectionOut,
    ConnectionPatch,
    ExchangeIn,
    SsoSettingsIn,
    SsoSettingsOut,
)
from app.tenants.service import current_tenant

router = APIRouter(prefix="/api/v1", tags=["sso"])
browser = APIRouter(prefix="/sso", tags=["sso"])

if connections.check_password_credential not in password_checks:
    password_checks.append(connections.check_password_credential)

CONNECTIONS = "/settings/sso/connections"
# Called without credentials (the browser flow, and the code exchange that yields them).
PUBLIC_OPERATIONS = {("get", "/sso/start"), ("get", "/sso/oidc/callback"),
                     ("post", "/api/v1/auth/sso/exchange"),
                     ("get", "/sso/saml/{connection_id}/metadata"),
                     ("post", "/sso/saml/{connection_id}/acs")}


async def _out(request: Request, tx: TenantTx, row: asyncpg.Record) -> dict[str, Any]:
    tenant = await current_tenant(tx)
    return connections.connection_out(request.app.state.runtime, row, tenant["slug"])


@router.post(CONNECTIONS, status_code=201, response_model=ConnectionOut,
             summary="Add an SSO connection (OIDC or SAML 2.0)",
             responses={400: {"description": "incomplete_connection, invalid_issuer, "
                                             "discovery_failed, invalid_certificate, ..."},
                        409: {"description": "connection_limit"}})
async def create_connection(body: ConnectionIn, request: Request, rt: RuntimeDep,
                            _: AdminPrincipal, tx: TenantTx) -> Response:
    row = await connections.create_connection(rt, tx, body)
    out = await _out(request, tx, row)
    return json_response(out, 201, headers={"Location": f"/api/v1{CONNECTIONS}/{row['id']}"})


@router.get(CONNECTIONS, response_model=ConnectionList, summary="The tenant's SSO connections")
async def list_connections(request: Request, _: AdminPrincipal, tx: TenantTx) -> Response:
    rows = await connections.list_connections(tx)
    return json_response({"data": [await _out(request, tx, r) for r in rows]})


@router.get(CONNECTIONS + "/{connection_id:uuid}", response_model=ConnectionOut,
            summary="One SSO connection (secrets are never returned)")
async def get_connection(connection_id: UUID, request: Request, _: AdminPrincipal,
                         tx: TenantTx) -> Response:
    row = await connections.get_connection(tx, connection_id)
    return json_response(await _out(request, tx, row))


@router.patch(CONNECTIONS + "/{connection_id:uuid}", response_model=ConnectionOut,
              summary="Change an SSO connection")
async def update_connection(connection_id: UUID, body: ConnectionPatch, request: Request,
                            rt: RuntimeDep, _: AdminPrincipal, tx: TenantTx) -> Response:
    row = await connections.update_connection(rt, tx, connection_id, body)
    return json_response(await _out(request, tx, row))


@router.delete(CONNECTIONS + "/{connection_id:uuid}", status_code=204,
               summary="Delete an SSO connection (ends the sessions it started)",
               responses={409: {"description": "sso_enforced: the last enabled connection"}})
async def delete_connection(connection_id: UUID, _: AdminPrincipal, tx: TenantTx) -> Response:
    await connections.delete_connection(tx, connection_id)
    return Response(status_code=204)


@router.get("/settings/sso", response_model=SsoSettingsOut,
            summary="Whether SSO is enforced for this tenant")
async def get_sso_settings(_: AdminPrincipal, tx: TenantTx) -> Response:
    return json_response(await connections.get_sso_settings(tx))


@router.put("/settings/sso", response_model=SsoSettingsOut,
            summary="Enforce SSO (owner only): password login is then refused",
            responses={409: {"description": "no_sso_connection"}})
async def put_sso_settings(body: SsoSettingsIn, _: OwnerPrincipal, tx: TenantTx) -> Response:
    return json_response(await connections.put_sso_settings(
        tx, enforced=body.enforced, owner_break_glass=body.owner_break_glass))


@router.post("/auth/sso/exchange", response_model=TokenOut, tags=["auth"],
             summary="Exchange the one-time sso_code from the login redirect for tokens",
             responses={401: {"description": "invalid_sso_code"}})
async def exchange(body: ExchangeIn, request: Request, rt: RuntimeDep, ctx: CtxDep
                   ) -> Response:
    tenant_id = service.token_tenant(body.code)
    if tenant_id is not None:
        await run_tenant_checks(request, rt, tenant_id)
    pair = await service.exchange_code(rt, ctx, body.code)
    return json_response(pair.as_dict())


def _cookie_secure(rt: RuntimeDep) -> bool:
    return rt.settings.public_url.lower().startswith("https://")


@browser.get("/start", status_code=302, response_class=RedirectResponse,
             summary="Start signing in through the tenant's identity provider",
             responses={302: {"description": "To the identity provider"},
                        400: {"description": "connection_required, invalid_return_to"},
                        404: {"description": "unknown_tenant, no_sso_connection"}})
async def start(request: Request, rt: RuntimeDep, ctx: CtxDep,
                tenant: Annotated[str | None, Query(max_length=63,
                                                    description="The tenant's slug")] = None,
                email: Annotated[str | None, Query(max_length=320, description=(
                    "Home-realm discovery: the organisation that verified this address's "
                    "domain"))] = None,
                connection: Annotated[UUID | None, Query(
                    description="Which connection, when the tenant has several")] = None,
                return_to: Annotated[str | None, Query(max_length=1024, description=(
                    "A path on this site to return to after signing in"))] = None,
                ) -> Response:
    path = service.safe_return_path(return_to)
    if tenant is not None:
        tenant_id = await tenant_for_slug(rt, tenant)
    elif email is not None:
        # home-realm discovery: only a domain the tenant verified over DNS (docs/sso.md)
        by_domain = await tenant_for_email(rt.db, email)
        if by_domain is None:
            raise NotFound("No organisation signs in with that email domain; ask your admin "
                           "for your organisation's sign-in link.", code="unknown_domain")
        tenant_id = by_domain
    else:
        raise BadRequest("Pass tenant=<slug> or email=<your work address>.",
                         code="tenant_required")
    await run_tenant_checks(request, rt, tenant_id)
    url, cookie = await service.start_login(rt, ctx, tenant_id, connection_id=connection,
                                            return_to=path)
    resp = RedirectResponse(url, status_code=302)
    resp.set_cookie(service.BROWSER_COOKIE, cookie, max_age=int(service.STATE_TTL.total_seconds()),
                    path="/sso", httponly=True, secure=_cookie_secure(rt), samesite="lax")
    return resp


@browser.get("/oidc/callback", status_code=302, response_class=RedirectResponse,
             summary="The identity provider's redirect back (OIDC)",
             responses={302: {"description": "To the return path, with sso_code"},
                        400: {"description": "sso_invalid_state and other state failures"},
                        401: {"description": "sso_* (the reason), audited"}})
async def oidc_callback(request: Request, rt: RuntimeDep, ctx: CtxDep,
                        state: Annotated[str, Query(min_length=1, max_length=200)],
                        code: Annotated[str | None, Query(max_length=2048)] = None,
                        error: Annotated[str | None, Query(max_length=200)] = None,
                        drift_sso: Annotated[str | None, Cookie(max_length=100)] = None,
                        ) -> Response:
    tenant_id = service.token_tenant(state)
    if tenant_id is None:
        raise service.LoginFailed("This sign-in link is not valid; start again.",
                                  code="sso_invalid_state", status=400)
    await run_tenant_checks(request, rt, tenant_id)
    url = await service.oidc_callback(rt, ctx, tenant_id, state=state, code=code, error=error,
                                      browser=drift_sso)
    resp = RedirectResponse(url, status_code=302)
    resp.delete_cookie(service.BROWSER_COOKIE, path="/sso")
    return resp


@browser.get("/saml/{connection_id}/metadata", response_class=Response,
             summary="This connection's SAML service-provider metadata (for the IdP admin)",
             responses={200: {"content": {"application/samlmetadata+xml": {}}},
                        404: {"description": "unknown_tenant, no_sso_connection"}})
async def saml_metadata(connection_id: UUID, rt: RuntimeDep, ctx: CtxDep,
                        tenant: Annotated[str, Query(min_length=1, max_length=63,
                                                     description="The tenant's slug")],
                        ) -> Response:
    tenant_id = await tenant_for_slug(rt, tenant)
    xml = await service.saml_sp_metadata(rt, ctx, tenant_id, connection_id)
    return Response(xml, media_type="application/samlmetadata+xml")


@browser.post("/saml/{connection_id}/acs", status_code=303, response_class=RedirectResponse,
              summary="The identity provider's SAML response (HTTP-POST binding)",
              responses={303: {"description": "To the return path, with sso_code"},
                         400: {"description": "sso_invalid_state and other state failures"},
                         401: {"description": "sso_* (the reason), audited"}})
async def saml_acs(connection_id: UUID, request: Request, rt: RuntimeDep, ctx: CtxDep
                   ) -> Response:
    form = parse_qs((await request.body()).decode("latin-1"), max_num_fields=10)
    relay, response = form.get("RelayState", [""])[0], form.get("SAMLResponse", [""])[0]
    tenant_id = service.token_tenant(relay) if relay else None
    if tenant_id is None or not response:
        raise service.LoginFailed("This sign-in is not valid; start again.",
                                  code="sso_invalid_state", status=400)
    await run_tenant_checks(request, rt, tenant_id)
    url = await service.saml_acs(rt, ctx, tenant_id, connection_id, relay_state=relay,
                                 saml_response=response)
    resp = RedirectResponse(url, status_code=303)
    resp.delete_cookie(service.BROWSER_COOKIE, path="/sso")
    return resp
