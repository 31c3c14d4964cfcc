"""SSO connections and enforcement (admin/owner settings): create, update, delete and show a
tenant's OIDC and SAML connections (client secrets encrypted, certificates checked), and the
password check that enforced SSO registers in app.auth.service.password_checks. The login
flow that uses them is app.sso.service."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlencode, urlsplit
from uuid import UUID

import asyncpg
from cryptography import x509

from app.core import clock
from app.core.audit_record import record, record_denial
from app.core.crypto import encrypt
from app.core.errors import BadRequest, Conflict, Forbidden, NotFound, found
from app.core.principal import Role
from app.core.runtime import Runtime
from app.core.tx import Tx
from app.sso import oidc, saml
from app.sso import repository as repo
from app.sso.schemas import ClaimMapping, ConnectionIn, ConnectionPatch
from app.sso.service import (
    DEFAULT_SCOPES,
    MAX_CONNECTIONS,
    SECRET_PURPOSE,
    claim_mapping_of,
    public_base,
    redirect_uri,
)


def connection_out(rt: Runtime, row: asyncpg.Record, tenant_slug: str) -> dict[str, Any]:
    cfg = row["config"]
    out: dict[str, Any] = {
        "id": row["id"], "protocol": row["protocol"], "name": row["name"],
        "enabled": row["enabled"], "jit_provisioning": row["jit_provisioning"],
        "default_role": row["default_role"], "claim_mapping": claim_mapping_of(row).model_dump(),
        "created_at": row["created_at"], "updated_at": row["updated_at"],
        "login_url": f"{public_base(rt)}/sso/start?"
                     + urlencode({"tenant": tenant_slug, "connection": str(row["id"])}),
    }
    if row["protocol"] == "oidc":
        out.update(issuer=cfg.get("issuer"), client_id=cfg.get("client_id"),
                   client_secret_set=row["secret_enc"] is not None,
                   scopes=cfg.get("scopes"), id_token_signing_algs=cfg.get("algs"),
                   redirect_uri=redirect_uri(rt))
    else:
        out.update(idp_entity_id=cfg.get("idp_entity_id"), idp_sso_url=cfg.get("idp_sso_url"),
                   idp_certificate_sha256=cfg.get("idp_certificate_sha256"),
                   idp_metadata_xml_set=bool(cfg.get("idp_metadata_xml")),
                   sp_entity_id=saml.sp_urls(row["id"], public_base(rt)).entity_id,
                   acs_url=saml.sp_urls(row["id"], public_base(rt)).acs_url,
                   sp_metadata_url=f"{saml.sp_urls(row['id'], public_base(rt)).metadata_url}?"
                                   + urlencode({"tenant": tenant_slug}))
    return out


def _certificate_sha256(pem: str) -> str:
    text = pem.strip()
    if "BEGIN CERTIFICATE" not in text:  # the bare base64 body, as metadata carries it
        text = "-----BEGIN CERTIFICATE-----\n" + "".join(text.split()) + \
            "\n-----END CERTIFICATE-----\n"
    try:
        cert = x509.load_pem_x509_certificate(text.encode())
    except ValueError:
        raise BadRequest("idp_certificate is not a PEM X.509 certificate.",
                         code="invalid_certificate") from None
    return hashlib.sha256(cert.public_bytes(_der())).hexdigest()


def _der() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


_MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"
_DS = "{http://www.w3.org/2000/09/xmldsig#}"


def _saml_metadata(xml: str) -> dict[str, str]:
    """entity id, SSO URL (HTTP-Redirect, else HTTP-POST) and signing certificate from IdP
    metadata. DOCTYPE and entity declarations are refused before parsing (XXE, entity
    expansion)."""
    if "<!DOCTYPE" in xml.upper() or "<!ENTITY" in xml.upper():
        raise BadRequest("The IdP metadata must not contain a DOCTYPE or entity declarations.",
                         code="invalid_metadata")
    try:
        root = ET.fromstring(xml)  # noqa: S314 - no DOCTYPE, so no entities to expand
    except ET.ParseError as exc:
        raise BadRequest(f"The IdP metadata is not XML: {exc}.", code="invalid_metadata"
                         ) from None
    entity = root if root.tag == f"{_MD}EntityDescriptor" else \
        root.find(f".//{_MD}EntityDescriptor")
    idp = entity.find(f"{_MD}IDPSSODescriptor") if entity is not None else None
    if entity is None or idp is None or not entity.get("entityID"):
        raise BadRequest("The IdP metadata has no EntityDescriptor with an IDPSSODescriptor.",
                         code="invalid_metadata")
    sso = {s.get("Binding", "").rsplit(":", 1)[-1]: s.get("Location", "")
           for s in idp.findall(f"{_MD}SingleSignOnService")}
    location = sso.get("HTTP-Redirect") or sso.get("HTTP-POST")
    cert = next((k.findtext(f".//{_DS}X509Certificate") for k in idp.findall(f"{_MD}KeyDescriptor")
                 if k.get("use") in (None, "signing")), None)
    if not location or not cert:
        raise BadRequest("The IdP metadata names no SingleSignOnService (HTTP-Redirect or "
                         "HTTP-POST) or no signing certificate.", code="invalid_metadata")
    return {"idp_entity_id": str(entity.get("entityID")), "idp_sso_url": location,
            "idp_certificate": cert.strip()}


async def _oidc_config(rt: Runtime, cfg: dict[str, Any], body: ConnectionIn | ConnectionPatch
                       ) -> dict[str, Any]:
    issuer = body.issuer if body.issuer is not None else cfg.get("issuer")
    client_id = body.client_id if body.client_id is not None else cfg.get("client_id")
    if not issuer or not client_id:
        raise BadRequest("An OIDC connection needs issuer, client_id and client_secret.",
                         code="incomplete_connection")
    try:
        issuer = oidc.check_issuer_url(issuer)
    except ValueError as exc:
        raise BadRequest(str(exc), code="invalid_issuer") from None
    if issuer != cfg.get("issuer"):  # a new issuer: it must answer discovery now
        try:
            await oidc.discover(issuer, rt.settings.sso_allowed_cidrs, fresh=True)
        except oidc.OidcError as exc:
            raise BadRequest(exc.detail, code="discovery_failed") from None
    scopes = list(dict.fromkeys(body.scopes or cfg.get("scopes") or DEFAULT_SCOPES))
    if "openid" not in scopes:
        scopes.insert(0, "openid")
    algs = list(dict.fromkeys(body.id_token_signing_algs or cfg.get("algs") or
                              list(oidc.DEFAULT_ALGS)))
    return {"issuer": issuer, "client_id": client_id, "scopes": scopes, "algs": algs}


def _saml_config(cfg: dict[str, Any], body: ConnectionIn | ConnectionPatch) -> dict[str, Any]:
    out: dict[str, Any] = {k: cfg[k] for k in ("idp_entity_id", "idp_sso_url", "idp_certificate",
                               "idp_metadata_xml") if k in cfg}
    if body.idp_metadata_xml is not None:
        out = {**_saml_metadata(body.idp_metadata_xml),
               "idp_metadata_xml": body.idp_metadata_xml}
    for key in ("idp_entity_id", "idp_sso_url", "idp_certificate"):
        if getattr(body, key) is not None:
            out[key] = getattr(body, key)
    if not all(out.get(k) for k in ("idp_entity_id", "idp_sso_url", "idp_certificate")):
        raise BadRequest("A SAML connection needs idp_metadata_xml, or idp_entity_id, "
                         "idp_sso_url and idp_certificate.", code="incomplete_connection")
    if urlsplit(out["idp_sso_url"]).scheme != "https":
        raise BadRequest("idp_sso_url must be an https URL.", code="invalid_sso_url")
    out["idp_certificate_sha256"] = _certificate_sha256(out["idp_certificate"])
    return out


def _oidc_only(body: ConnectionIn | ConnectionPatch, protocol: str) -> None:
    other = (("issuer", "client_id", "client_secret", "scopes", "id_token_signing_algs")
             if protocol == "saml" else
             ("idp_metadata_xml", "idp_entity_id", "idp_sso_url", "idp_certificate"))
    given = [k for k in other if getattr(body, k) is not None]
    if given:
        raise BadRequest(f"{', '.join(given)} do not apply to a {protocol} connection.",
                         code="wrong_protocol_field")


async def list_connections(tx: Tx) -> list[asyncpg.Record]:
    return await repo.list_connections(tx)


async def get_connection(tx: Tx, connection_id: UUID) -> asyncpg.Record:
    return found(await repo.get_connection(tx, connection_id), "No SSO connection with that id.")


async def create_connection(rt: Runtime, tx: Tx, body: ConnectionIn) -> asyncpg.Record:
    _oidc_only(body, body.protocol)
    if await repo.count_connections(tx) >= MAX_CONNECTIONS:
        raise Conflict(f"A tenant can have at most {MAX_CONNECTIONS} SSO connections; delete "
                       "one first.", code="connection_limit")
    secret_enc = None
    if body.protocol == "oidc":
        if body.client_secret is None:
            raise BadRequest("An OIDC connection needs issuer, client_id and client_secret.",
                             code="incomplete_connection")
        config = await _oidc_config(rt, {}, body)
        secret_enc = encrypt(rt.secret_key, SECRET_PURPOSE, body.client_secret.encode())
    else:
        config = _saml_config({}, body)
    config["claim_mapping"] = (body.claim_mapping or ClaimMapping()).model_dump()
    row = await repo.insert_connection(
        tx, protocol=body.protocol, name=body.name, enabled=body.enabled, config=config,
        secret_enc=secret_enc, jit_provisioning=body.jit_provisioning,
        default_role=body.default_role, now=clock.now())
    await record(tx, "sso.connection_created", resource_type="sso_connection",
                 resource_id=row["id"], metadata=_audit_view(row))
    return row


def _audit_view(row: asyncpg.Record) -> dict[str, Any]:
    cfg = row["config"]
    return {"protocol": row["protocol"], "name": row["name"], "enabled": row["enabled"],
            "jit_provisioning": row["jit_provisioning"], "default_role": row["default_role"],
            **{k: cfg.get(k) for k in ("issuer", "client_id", "scopes", "algs",
                                       "idp_entity_id", "idp_sso_url",
                                       "idp_certificate_sha256") if k in cfg}}


async def update_connection(rt: Runtime, tx: Tx, connection_id: UUID, body: ConnectionPatch
                            ) -> asyncpg.Record:
    row = await repo.get_connection(tx, connection_id, for_update=True)
    if row is None:
        raise NotFound("No SSO connection with that id.")
    _oidc_only(body, row["protocol"])
    if body.enabled is False:
        await _keep_one_enabled(tx, row)
    cfg = dict(row["config"])
    secret_enc = row["secret_enc"]
    if row["protocol"] == "oidc":
        config = await _oidc_config(rt, cfg, body)
        if body.client_secret is not None:
            secret_enc = encrypt(rt.secret_key, SECRET_PURPOSE, body.client_secret.encode())
    else:
        config = _saml_config(cfg, body)
    config["claim_mapping"] = (body.claim_mapping.model_dump() if body.claim_mapping
                               else cfg.get("claim_mapping") or ClaimMapping().model_dump())
    new = await repo.update_connection(
        tx, connection_id, name=body.name or row["name"],
        enabled=row["enabled"] if body.enabled is None else body.enabled, config=config,
        secret_enc=secret_enc,
        jit_provisioning=(row["jit_provisioning"] if body.jit_provisioning is None
                          else body.jit_provisioning),
        default_role=body.default_role or row["default_role"], now=clock.now())
    before, after = _audit_view(row), _audit_view(new)
    changes = {k: {"from": before.get(k), "to": after.get(k)}
               for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)}
    if body.client_secret is not None:
        changes["client_secret"] = {"from": "(hidden)", "to": "(replaced)"}
    await record(tx, "sso.connection_updated", resource_type="sso_connection",
                 resource_id=connection_id, metadata={"changes": changes})
    oidc.clear_caches()
    return new


async def _keep_one_enabled(tx: Tx, row: asyncpg.Record) -> None:
    """While SSO is enforced, the last enabled connection may not go away or be disabled."""
    settings = await repo.get_settings(tx)
    if settings is not None and settings["enforced"] and row["enabled"]:
        others = [c for c in await repo.list_connections(tx)
                  if c["enabled"] and c["id"] != row["id"]]
        if not others:
            raise Conflict("SSO is enforced and this is the last enabled connection: turn "
                           "enforcement off first, or nobody but a break-glass owner could "
                           "sign in.", code="sso_enforced")


async def delete_connection(tx: Tx, connection_id: UUID) -> None:
    """Deleting a connection ends the sessions it started (its users must sign in again)."""
    row = await repo.get_connection(tx, connection_id, for_update=True)
    if row is None:
        raise NotFound("No SSO connection with that id.")
    await _keep_one_enabled(tx, row)
    ended = await repo.revoke_connection_sessions(tx, connection_id, clock.now())
    await repo.delete_connection(tx, connection_id)
    await record(tx, "sso.connection_deleted", resource_type="sso_connection",
                 resource_id=connection_id,
                 metadata={**_audit_view(row), "sessions_revoked": ended})


# ---- enforcement ----

async def get_sso_settings(tx: Tx) -> dict[str, Any]:
    row = await repo.get_settings(tx)
    if row is None:
        return {"enforced": False, "owner_break_glass": True, "updated_at": None}
    return dict(row)


async def put_sso_settings(tx: Tx, *, enforced: bool, owner_break_glass: bool
                           ) -> dict[str, Any]:
    if enforced and not await repo.enabled_connections(tx, "oidc") and \
            not await repo.enabled_connections(tx, "saml"):
        raise Conflict("SSO cannot be enforced without an enabled SSO connection.",
                       code="no_sso_connection")
    before = await get_sso_settings(tx)
    row = await repo.put_settings(tx, enforced=enforced, owner_break_glass=owner_break_glass,
                                  now=clock.now())
    await record(tx, "sso.enforced", resource_type="tenant", resource_id=tx.tenant_id,
                 metadata={"enforced": enforced, "owner_break_glass": owner_break_glass,
                           "was_enforced": before["enforced"],
                           "was_owner_break_glass": before["owner_break_glass"]})
    return dict(row)


async def check_password_credential(rt: Runtime, tx: Tx, user_id: UUID,
                                    session_id: UUID | None) -> None:
    """Registered in app.auth.service.password_checks: runs for a password login (session_id
    None) and for a refresh (the session). While SSO is enforced, only SSO sessions refresh
    and only a break-glass owner signs in with a password (audited each time)."""
    row = await repo.password_policy(tx, user_id, session_id)
    if row is None or not row["enforced"]:
        return
    if session_id is not None and row["sso_connection_id"] is not None:
        return  # an SSO session refreshes as usual
    kind = "login" if session_id is None else "refresh"
    if row["role"] == Role.owner.value and row["owner_break_glass"]:
        await record(tx, "sso.break_glass", resource_type="user", resource_id=user_id,
                     metadata={"kind": kind})
        return
    await record_denial(rt.db, tx.tenant_id, tx.ctx, "sso.password_refused",
                        reason="sso_enforced", resource_type="user", resource_id=user_id,
                        metadata={"kind": kind},
                        dedupe_key=(tx.tenant_id, "sso.password_refused", kind, str(tx.ctx.ip),
                                    user_id))
    raise Forbidden("This organisation requires single sign-on: sign in through your identity "
                    "provider (GET /sso/start?tenant=<slug>).", code="sso_required")
