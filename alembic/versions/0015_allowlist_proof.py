"""The request gates prove the IP allowlist cache current

Revision ID: 0015_allowlist_proof
Revises: 0014_webhook_sequence

drift_api.enter_api_key / enter_session / enter_scim_token and their gate_* take one more
argument, p_allowlist_seq: the allowlist change counter the request's IP allowlist check had
applied when it decided from its per-process cache without waiting for the cache's freshness
barrier. When drift_private.ip_allowlist_seq has moved past it (a change committed that the
process has not applied yet), they raise DR412 before entering, and the caller checks the
allowlist again the slow way (app.core.tx.Freshness). NULL skips the proof.

The SQL is in alembic/sql/0015_allowlist_proof.sql; alembic/README.md has the rules.
"""

from app.core.migrate import sql_revision

revision = "0015_allowlist_proof"
down_revision = "0014_webhook_sequence"
upgrade, downgrade = sql_revision(revision)
