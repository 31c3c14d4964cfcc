"""Request gates: the enter_* functions that open every request's transaction

Revision ID: 0011_request_gates
Revises: 0010_limits_idempotency

drift_api.enter_api_key / enter_session / enter_scim_token verify a credential, set
app.tenant_id (and app.user_id, app.role) for the transaction, and keep last-use bookkeeping
(drift_private.touch_last_use, at most once a minute). They are STABLE, so a read calls them as its
gate, with p_read_only true, which also makes its transaction read-only (docs/adr/
0003-one-flight-reads.md). p_allowlist_seq is the IP allowlist change counter the request's
allowlist check had applied when it decided from its per-process cache: when
drift_private.ip_allowlist_seq has moved past it they raise DR412 before entering, and the
caller checks the allowlist again the slow way (app.core.tx.Freshness). NULL skips the proof.

The SQL is in alembic/sql/0011_request_gates.sql (functions in alembic/sql/functions/, included by it);
alembic/README.md says how a later change adds to it.
"""

from app.core.migrate import sql_revision

revision = "0011_request_gates"
down_revision = "0010_limits_idempotency"
upgrade, downgrade = sql_revision(revision)
