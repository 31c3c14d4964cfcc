"""Table metadata for verified domains (built by 0009_sso_domains; see app.core.models).
The cross-tenant index `drift_private.domain_index` is private and stays in the migration."""

from sqlalchemy import Text, UniqueConstraint

from app.core import models as m

verified_domains = m.entity_table(
    "verified_domains",
    *m.not_null(domain=Text, token=Text),
    m.choice("status", default="pending"),
    m.timestamp("verified_at"),
    *m.created_by_user(),
    m.created_at(),
    UniqueConstraint("tenant_id", "domain", name="verified_domains_domain_uq"),
    m.tenant_fk(),
)
m.created_index(verified_domains)
