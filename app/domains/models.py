"""Table metadata for verified domains (built by 0009_sso_domains; see app.core.models).
The cross-tenant index `drift_private.domain_index` is private and stays in the migration."""

from sqlalchemy import Column, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import UUID

from app.core.models import (
    created_at,
    created_index,
    entity_table,
    tenant_fk,
    tenant_ref,
    timestamp,
)

verified_domains = entity_table(
    "verified_domains",
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
created_index(verified_domains)
