"""Webhooks: a per-endpoint sequence number on every delivery

Revision ID: 0014_webhook_sequence
Revises: 0013_scim_attributes

- webhook_endpoint_sequences (tenant_id, endpoint_id, last_seq): the counter. One row per
  endpoint, made with the endpoint. The fan-out statement (app.core.outbox) moves it on by the
  number of deliveries it queues for the endpoint, in the emitting transaction, so numbers are
  gap-free per endpoint and follow commit order (the row lock is held until COMMIT). It is a
  table of its own rather than a column of webhook_endpoints: the worker locks endpoint rows
  (rate-limit reservations, the circuit breaker) in transactions that also emit alerts, and
  a counter on those rows would let the two wait for each other.
- webhook_deliveries.seq: the number, sent as `webhook-sequence`; NULL for test pings (sent
  to one endpoint outside the stream). Unique per endpoint; also the key of
  GET /api/v1/webhooks/{id}/events?after_seq=.
- Existing deliveries are numbered by (created_at, id) per endpoint and the counters start
  after them.

The SQL is in alembic/sql/0014_webhook_sequence.sql; alembic/README.md has the rules.
"""

from app.core.migrate import sql_revision

revision = "0014_webhook_sequence"
down_revision = "0013_scim_attributes"
upgrade, downgrade = sql_revision(revision)
