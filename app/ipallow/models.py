"""Table metadata for the IP allowlist (built by 0006_ip_allowlist; see
app.core.models).
The change counter `drift_private.ip_allowlist_seq` is private and stays in the migration."""

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import CIDR, INET, UUID

from app.core.models import (
    choice,
    counter,
    created_at,
    created_by_user,
    created_index,
    entity_table,
    secret_hash,
    single_use,
    tenant_fk,
    tenant_ref,
    timestamp,
    timestamps,
)

ip_allowlist = entity_table(
    "ip_allowlist",
    Column("cidr", CIDR, nullable=False),
    Column("description", Text),
    timestamp("expires_at"),
    *created_by_user(),
    *timestamps(),
    choice("scope", default="all"),
    choice("mode", default="enforce"),
    UniqueConstraint("tenant_id", "mode", "cidr", name="ip_allowlist_cidr_uq"),
    tenant_fk(),
)
created_index(ip_allowlist)
Index("ip_allowlist_cidr_gist", ip_allowlist.c.cidr, postgresql_using="gist",
      postgresql_ops={"cidr": "inet_ops"})

ip_allowlist_resets = entity_table(
    "ip_allowlist_resets",
    *secret_hash("ip_allowlist_resets", "token_hash"),
    Column("requested_by", UUID, nullable=False),
    Column("email", Text, nullable=False),
    Column("requested_ip", INET),
    *single_use(),
    Column("used_ip", INET),
    timestamp("superseded_at"),
    created_at(),
    tenant_fk(),
    tenant_ref(["requested_by"], "users"),
)
Index("ip_allowlist_resets_created", ip_allowlist_resets.c.tenant_id,
      ip_allowlist_resets.c.created_at)

ip_allowlist_report = entity_table(
    "ip_allowlist_report",
    Column("credential_type", Text, nullable=False),
    Column("ip", INET),
    Column("user_id", UUID),
    counter("count", BigInteger),
    timestamp("first_seen", nullable=False),
    timestamp("last_seen", nullable=False),
    UniqueConstraint("tenant_id", "credential_type", "ip", "user_id",
                     name="ip_allowlist_report_key", postgresql_nulls_not_distinct=True),
    tenant_fk(),
    tenant_ref(["user_id"], "users"),
)
Index("ip_allowlist_report_seen", ip_allowlist_report.c.tenant_id,
      ip_allowlist_report.c.last_seen, ip_allowlist_report.c.id)
