"""Table metadata for verified domains (built by 0009_sso_domains; see app.core.models).
The cross-tenant index `drift_private.domain_index` is private and stays in the migration."""

from sqlalchemy import Column, Index, Table, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import UUID

from app.core.models import (
    created_at,
    id_key,
    metadata,
    tenant_fk,
    tenant_key,
    tenant_ref,
    timestamp,
)

verified_domains = Table(
    "verified_domains", metadata,
    tenant_key(),
    id_key(),
    Column("domain", Text, nullable=False),
    Column("token", Text, nullable=False),
    Column("status", Text, nullable=False, server_default=text("'pending'::text")),
    timestamp("verified_at"),
    Column("created_by", UUID),
    created_at(),
    UniqueConstraint("tenant_id", "domain", name="verified_domains_domain_uq"),
    tenant_fk(),
    tenant_ref(["created_by"], "users", ondelete="SET NULL (created_by)"),
)
Index("verified_domains_created", verified_domains.c.tenant_id, verified_domains.c.created_at,
      verified_domains.c.id)
