"""Table metadata for verified domains (built by 0009_sso_domains; see app.core.models).
The cross-tenant index `drift_private.domain_index` is private and stays in the migration."""

from sqlalchemy import Column, Text, UniqueConstraint

from app.core.models import (
    choice,
    created_at,
    created_by_user,
    created_index,
    entity_table,
    tenant_fk,
    timestamp,
)

verified_domains = entity_table(
    "verified_domains",
    Column("domain", Text, nullable=False),
    Column("token", Text, nullable=False),
    choice("status", default="pending"),
    timestamp("verified_at"),
    *created_by_user(),
    created_at(),
    UniqueConstraint("tenant_id", "domain", name="verified_domains_domain_uq"),
    tenant_fk(),
)
created_index(verified_domains)
