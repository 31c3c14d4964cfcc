"""Creating tenants (CLI, demo tenant, tests) and reading the caller's tenant."""

from __future__ import annotations

import re
import uuid
from typing import Any

import asyncpg

from app.auth import repository as auth_repo
from app.auth.service import create_api_key
from app.core import clock
from app.core.audit_record import record
from app.core.context import Actor, RequestContext
from app.core.db import Database
from app.core.emails import canonical_address
from app.core.errors import BadRequest, Conflict
from app.core.principal import Role
from app.core.security import hash_password_async
from app.core.tx import Tx, own_tx
from app.tenants import repository

PLANS = ("free", "pro", "team", "enterprise")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63].strip("-")
    return slug if len(slug) >= 2 else f"t-{uuid.uuid4().hex[:8]}"


async def create_tenant(db: Database, *, name: str, owner_email: str,
                        owner_password: str | None = None, plan: str = "free",
                        seat_limit: int | None = None, slug: str | None = None,
                        owner_name: str | None = None) -> dict[str, Any]:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise BadRequest("name must be 1 to 200 characters.")
    slug = (slug or slugify(name)).lower()
    if not _SLUG.match(slug):
        raise BadRequest("slug must be 2-63 characters of a-z, 0-9 and '-', starting with a "
                         "letter or digit.", code="invalid_slug")
    if plan not in PLANS:
        raise BadRequest(f"plan must be one of {', '.join(PLANS)}.", code="invalid_plan")
    if seat_limit is not None and seat_limit < 1:
        raise BadRequest("seat_limit must be at least 1 (omit it for unlimited).")
    if "@" not in owner_email:
        raise BadRequest("owner email is not an email address.", code="invalid_email")
    owner_email = canonical_address(owner_email.strip())
    owner_name = " ".join((owner_name or "").split()) or None
    if owner_name is not None and len(owner_name) > 200:
        raise BadRequest("owner name must be at most 200 characters.")
    tenant_id = uuid.uuid4()
    pw_hash = await hash_password_async(owner_password) if owner_password else None
    ctx = RequestContext(actor=Actor.system())
    now = clock.now()
    try:
        async with own_tx(db, tenant_id, ctx) as tx:
            await repository.insert_tenant(tx, name=name, slug=slug, plan=plan,
                                           seat_limit=seat_limit, now=now)
            owner = await auth_repo.insert_user(
                tx, email=owner_email, user_name=owner_email, display_name=owner_name,
                role=Role.owner.value, password_hash=pw_hash, now=now)
            await repository.set_owner(tx, owner["id"])
            await record(tx, "tenant.create", resource_id=tenant_id,
                         metadata={"name": name, "slug": slug, "plan": plan,
                                   "seat_limit": seat_limit, "owner_email": owner_email})
            key = await create_api_key(tx, user_id=owner["id"], name="Initial owner key",
                                       expires_at=None)
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(f"A tenant with slug {slug!r} already exists.",
                       code="slug_taken") from exc
    return {"tenant_id": str(tenant_id), "slug": slug, "owner_user_id": str(owner["id"]),
            "api_key": key["key"]}


async def current_tenant(tx: Tx) -> asyncpg.Record:
    row = await repository.get_tenant(tx)
    if row is None:
        raise RuntimeError("tenant row must be visible inside its own transaction")
    return row
