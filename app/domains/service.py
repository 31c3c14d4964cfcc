"""Verified domains: a tenant proves it controls a DNS domain by publishing a TXT record;
a verified domain belongs to one tenant only and routes sign-ins by email address to it
(home-realm discovery). docs/sso.md, "Verified domains"."""

from __future__ import annotations

import hmac
import logging
import secrets
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver

from app.config import Settings, parse_nameserver
from app.core import clock
from app.core.audit_record import record
from app.core.db import Database
from app.core.emails import InvalidDomain, canonical_domain, email_domain
from app.core.errors import BadRequest, Conflict, ServiceUnavailable, found
from app.core.principal import Principal
from app.core.tx import Tx
from app.domains import repository

log = logging.getLogger("drift.domains")

CHALLENGE_LABEL = "_drift-challenge"
VALUE_PREFIX = "drift-verification="


def challenge(domain: str, token: str) -> dict[str, str]:
    name = f"{CHALLENGE_LABEL}.{domain}"
    value = f"{VALUE_PREFIX}{token}"
    return {"name": name, "type": "TXT", "value": value, "record": f'{name} TXT "{value}"'}


def domain_out(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": row["id"], "domain": row["domain"], "status": row["status"],
            "challenge": challenge(row["domain"], row["token"]),
            "verified_at": row["verified_at"],
            "created_by": row["created_by"], "created_at": row["created_at"]}


def _claimed() -> Conflict:
    return Conflict("This domain is verified by another organisation. A domain can be "
                    "verified by one organisation only; ask its administrators to remove it.",
                    code="domain_claimed")


async def add_domain(tx: Tx, principal: Principal, domain: str) -> asyncpg.Record:
    try:
        domain = canonical_domain(domain)
    except InvalidDomain as exc:
        raise BadRequest(str(exc), code="invalid_domain") from None
    holder = await repository.domain_tenant(tx, domain)
    if holder is not None and holder != tx.tenant_id:
        raise _claimed()
    try:
        row = await repository.insert(tx, domain=domain, token=secrets.token_urlsafe(24),
                                      created_by=principal.user_id, now=clock.now())
    except asyncpg.UniqueViolationError:
        raise Conflict(f"{domain} is already in this organisation's domains.",
                       code="domain_exists") from None
    await record(tx, "domain.add", resource_id=row["id"], metadata={"domain": domain})
    return row


async def list_domains(tx: Tx, *, after: tuple[datetime, UUID] | None, limit: int
                       ) -> tuple[list[asyncpg.Record], int]:
    """A page of the tenant's domains in creation order, and their total."""
    return await repository.list_page(tx, after=after, limit=limit)


async def get_domain(tx: Tx, domain_id: UUID) -> asyncpg.Record:
    return found(await repository.get(tx, domain_id), "No domain with that id.")


async def delete_domain(tx: Tx, domain_id: UUID) -> None:
    row = found(await repository.delete(tx, domain_id), "No domain with that id.")
    await record(tx, "domain.remove", resource_id=domain_id,
                 metadata={"domain": row["domain"], "status": row["status"]})


def resolver(settings: Settings) -> dns.asyncresolver.Resolver:
    """The resolver DRIFT_DNS_NAMESERVERS names (else the system's), no cache: a check must
    see the record as published now."""
    configured = settings.dns_nameservers
    res = dns.asyncresolver.Resolver(configure=not configured)
    if configured:
        res.nameservers = [dns.nameserver.Do53Nameserver(*parse_nameserver(ns))
                           for ns in configured]
    res.lifetime = settings.dns_timeout
    res.timeout = settings.dns_timeout
    res.cache = None
    return res


async def txt_values(settings: Settings, name: str) -> list[str]:
    """The TXT strings at `name` (multi-string records joined), or a problem saying what DNS
    answered."""
    try:
        answer = await resolver(settings).resolve(name, "TXT", search=False)
    except dns.resolver.NXDOMAIN:
        raise BadRequest(f"DNS says {name} does not exist. Publish the TXT record shown in "
                         "`challenge` (at your DNS provider) and retry; changes can take a "
                         "few minutes to appear.", code="dns_name_not_found") from None
    except dns.resolver.NoAnswer:
        raise BadRequest(f"{name} has no TXT record. Publish the TXT record shown in "
                         "`challenge` and retry.", code="txt_record_missing") from None
    except (dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
        log.warning("dns lookup failed", extra={"dns_name": name, "error": type(exc).__name__})
        raise ServiceUnavailable("The DNS lookup failed (no answer from the DNS servers); "
                                 "retry in a minute.", code="dns_unavailable",
                                 headers={"Retry-After": "60"}) from None
    values = []
    for rdata in answer:
        values.append(b"".join(rdata.strings).decode("utf-8", "replace"))
    return values


async def verify_domain(tx: Tx, settings: Settings, domain_id: UUID) -> asyncpg.Record:
    """Look the challenge up in DNS; mark the domain verified when it is there."""
    row = await get_domain(tx, domain_id)
    if row["status"] == "verified":
        return row
    holder = await repository.domain_tenant(tx, row["domain"])
    if holder is not None and holder != tx.tenant_id:
        raise _claimed()
    expected = challenge(row["domain"], row["token"])
    values = await txt_values(settings, expected["name"])
    if not any(hmac.compare_digest(v.strip().encode(), expected["value"].encode())
               for v in values):
        raise BadRequest(f"{expected['name']} has TXT records, but none is "
                         f"\"{expected['value']}\". Publish exactly that value and retry.",
                         code="txt_token_mismatch")
    try:
        verified = await repository.mark_verified(tx, domain_id, clock.now())
    except asyncpg.UniqueViolationError:  # another tenant verified it a moment ago
        raise _claimed() from None
    if verified is None:
        raise RuntimeError("expected verified is not None")
    log.info("domain verified", extra={"domain": row["domain"], "tenant_id": str(tx.tenant_id)})
    await record(tx, "domain.verified", resource_id=domain_id,
                 metadata={"domain": row["domain"], "record": expected["name"]})
    return verified


async def tenant_for_email(db: Database | Tx | asyncpg.Connection, email: str) -> UUID | None:
    """Home-realm discovery: the tenant that verified the email address's domain, or None.
    Works before any tenant is known (a definer function reads the private index)."""
    domain = email_domain(email)
    if domain is None:
        return None
    return await repository.domain_tenant(db, domain)
