"""Table metadata for tenants (built by 0002_tenants_identity; see app.core.models)."""

from sqlalchemy import Column, ForeignKeyConstraint, Integer, Text
from sqlalchemy.dialects.postgresql import UUID

from app.core import models as m

# `tenants` is itself a tenant table: its key column is tenant_id, so RLS shows a tenant only
# its own row. owner_id references users in the same tenant (deferred: both rows are created
# in one transaction).
tenants = m.tenant_table(
    "tenants",
    *m.not_null(name=Text, slug=Text),
    m.choice("plan", default="free"),
    Column("seat_limit", Integer),
    Column("owner_id", UUID),
    Column("audit_retention_days", Integer),
    # the owner's own choice to let SCIM change the owner's sign-in identity (0002_tenants_identity)
    m.flag("owner_managed_by_idp", default=False),
    *m.timestamps(),
    m.tenant_unique("tenants", "slug"),
    ForeignKeyConstraint(["tenant_id", "owner_id"], ["users.tenant_id", "users.id"],
                         name="tenants_owner_fk", deferrable=True, initially="DEFERRED",
                         use_alter=True),
)
