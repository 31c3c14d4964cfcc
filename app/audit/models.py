"""Table metadata for the audit log (built by the migrations; see app.core.models).

audit_events is range-partitioned by month on created_at; the partitions, the RLS policy on
each, the immutability and chain triggers live in the migrations only. seq/prev_hash/hash are
assigned by the BEFORE INSERT trigger (drift_private.audit_chain_step) under the tenant's
chain-head lock."""

from sqlalchemy import BigInteger, Column, Computed, DateTime, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import BYTEA, INET, UUID

from app.core import models as m

audit_events = m.entity_table(
    "audit_events",
    Column("created_at", DateTime(timezone=True), primary_key=True, server_default=m.NOW),
    *m.not_null(actor_type=Text),
    Column("actor_id", UUID),
    Column("actor_email", Text),
    *m.not_null(action=Text, resource_type=Text),
    Column("resource_id", Text),
    *m.not_null(outcome=Text),
    Column("ip", INET),
    Column("user_agent", Text),
    Column("request_id", Text),
    m.json_object("metadata"),
    *m.not_null(seq=BigInteger, prev_hash=BYTEA, hash=BYTEA),
    m.lower_key("actor_email_key", "actor_email"),
    # the action's last dot-separated segment, for `action=<verb>` (0004_audit)
    Column("action_verb", Text(collation="C"),
           Computed("split_part(action, '.', -1)", persisted=True)),
    postgresql_partition_by="RANGE (created_at)",
)
_e = audit_events.c
_NOT_SUCCESS = text("outcome <> 'success'::text")
Index("audit_events_seq", _e.tenant_id, _e.seq)
Index("audit_events_actor_seq", _e.tenant_id, _e.actor_id, _e.seq)
Index("audit_events_actor_email", _e.tenant_id, _e.actor_email_key, _e.seq)
# `action COLLATE "C"` (byte order, so `project.*` prefixes use the index). The collation rides
# in postgresql_ops, which SQLAlchemy renders right after the column: the DDL matches the
# migration's. SQLAlchemy's reflection does not report index collations, so `alembic check`
# sees only the columns; tests/core/test_models_match_migrations.py compares the whole
# definition (collation and predicate included) as PostgreSQL renders it.
_C = {"action": 'COLLATE "C"'}
Index("audit_events_action_seq", _e.tenant_id, _e.action, _e.seq, postgresql_ops=_C)
Index("audit_events_action_verb_seq", _e.tenant_id, _e.action_verb, _e.seq)
Index("audit_events_resource", _e.tenant_id, _e.resource_type, _e.resource_id, _e.seq)
Index("audit_events_outcome_seq", _e.tenant_id, _e.outcome, _e.seq,
      postgresql_where=_NOT_SUCCESS)
Index("audit_events_outcome_action_seq", _e.tenant_id, _e.outcome, _e.action, _e.seq,
      postgresql_where=_NOT_SUCCESS, postgresql_ops=_C)

_ZERO_HASH = text("decode(repeat('00'::text, 32), 'hex'::text)")

# One row per tenant: the head of its hash chain and the retention boundary.
audit_chain = m.tenant_table(
    "audit_chain",
    m.counter("last_seq", BigInteger),
    Column("prev_hash", BYTEA, nullable=False, server_default=_ZERO_HASH),
    Column("last_hash", BYTEA, nullable=False, server_default=_ZERO_HASH),
    m.counter("retained_seq", BigInteger),
    Column("retained_hash", BYTEA, nullable=False, server_default=_ZERO_HASH),
    m.timestamp("retained_at"),
    m.updated_at(),
    postgresql_with={"fillfactor": "50"},
    comment=(
        "Per-tenant head of the audit hash chain. last_seq/last_hash: the newest event;"
        " retained_seq/retained_hash: the newest event removed by retention (its hash is the"
        " prev_hash of the oldest kept event). Written only by the audit_events trigger and"
        " the retention functions."
    ),
)

# One row per tenant: the retention window last announced by email (0004_audit).
audit_retention_notices = m.tenant_table(
    "audit_retention_notices",
    m.timestamp("notified_at", nullable=False),
    m.timestamp("cutoff", nullable=False),
    m.timestamp("purge_from", nullable=False),
    m.timestamp("prior_cutoff"),
    *m.not_null(events=BigInteger, retention_days=Integer),
    m.tenant_fk(),
)

# single-use tickets for opening the live stream from a browser (0004_audit)
audit_stream_tickets = m.entity_table(
    "audit_stream_tickets",
    *m.secret_hash("audit_stream_tickets", "ticket_hash"),
    *m.not_null(credential_type=Text, credential_id=UUID, user_id=UUID),
    Column("created_ip", INET),
    *m.single_use(),
    Column("used_ip", INET),
    m.created_at(),
    m.tenant_fk(),
    m.tenant_ref(["user_id"], "users"),
)
m.expires_index(audit_stream_tickets)

# destinations that the worker pushes the tenant's log to (0004_audit; app.audit.siem_*)
audit_streams = m.entity_table(
    "audit_streams",
    *m.not_null(name=Text, type=Text, url=Text, token_encrypted=BYTEA),
    m.json_object("filters"),
    m.json_object("options"),
    m.choice("status", default="active"),
    m.counter("delivered_through_seq", BigInteger),
    m.counter("delivered_events", BigInteger),
    m.counter("consecutive_failures"),
    *m.retry_schedule(),
    Column("lease_id", UUID),
    m.timestamp("last_success_at"),
    Column("last_error", Text),
    m.timestamp("last_error_at"),
    *m.timestamps(),
    m.tenant_fk(),
)
m.created_index(audit_streams)
