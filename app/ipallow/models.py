"""Table metadata for the IP allowlist (built by 0006_ip_allowlist; see
app.core.models).
The change counter `drift_private.ip_allowlist_seq` is private and stays in the migration."""

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import CIDR, INET, UUID

from app.core import models as m

ip_allowlist = m.entity_table(
    "ip_allowlist",
    *m.not_null(cidr=CIDR),
    Column("description", Text),
    m.timestamp("expires_at"),
    *m.created_by_user(),
    *m.timestamps(),
    m.choice("scope", default="all"),
    m.choice("mode", default="enforce"),
    UniqueConstraint("tenant_id", "mode", "cidr", name="ip_allowlist_cidr_uq"),
    m.tenant_fk(),
)
m.created_index(ip_allowlist)
Index("ip_allowlist_cidr_gist", ip_allowlist.c.cidr, postgresql_using="gist",
      postgresql_ops={"cidr": "inet_ops"})

ip_allowlist_resets = m.entity_table(
    "ip_allowlist_resets",
    *m.secret_hash("ip_allowlist_resets", "token_hash"),
    *m.not_null(requested_by=UUID, email=Text),
    Column("requested_ip", INET),
    *m.single_use(),
    Column("used_ip", INET),
    m.timestamp("superseded_at"),
    m.created_at(),
    m.tenant_fk(),
    m.tenant_ref(["requested_by"], "users"),
)
Index("ip_allowlist_resets_created", ip_allowlist_resets.c.tenant_id,
      ip_allowlist_resets.c.created_at)

ip_allowlist_report = m.entity_table(
    "ip_allowlist_report",
    *m.not_null(credential_type=Text),
    Column("ip", INET),
    Column("user_id", UUID),
    m.counter("count", BigInteger),
    m.timestamp("first_seen", nullable=False),
    m.timestamp("last_seen", nullable=False),
    UniqueConstraint("tenant_id", "credential_type", "ip", "user_id",
                     name="ip_allowlist_report_key", postgresql_nulls_not_distinct=True),
    m.tenant_fk(),
    m.tenant_ref(["user_id"], "users"),
)
Index("ip_allowlist_report_seen", ip_allowlist_report.c.tenant_id,
      ip_allowlist_report.c.last_seen, ip_allowlist_report.c.id)
