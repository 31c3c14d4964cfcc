"""SCIM mass-deprovision breaker: per-tenant settings and the log of SCIM deprovisions

Revision ID: 0012_scim_breaker
Revises: 0011_request_gates

- scim_breaker_settings: one row per tenant that changed the defaults (no row: on, 30 % of
  the active users, 10 minutes, at least 5 changes). `max_share` in (0, 1], `window_seconds`
  60..86400, `min_changes` (the floor: that many deprovisions per window are always allowed,
  so a small tenant can still deprovision someone) 1..100000.
- scim_deprovisions: every deactivation or DELETE of a user by a SCIM token. `applied` rows
  are what the breaker counts in its window (pruned after a day, the longest window);
  `held` rows wait for an admin (`approved`, `rejected`; `cancelled` when the identity
  provider reactivated the user; `void` when the user was gone by approval time). At most one
  held change per user. `trip_id` is the id of the first held change of its trip.
docs/scim.md, "Mass-deprovision breaker".

The SQL is in alembic/sql/0012_scim_breaker.sql; alembic/README.md has the rules.
"""

from app.core.migrate import sql_revision

revision = "0012_scim_breaker"
down_revision = "0011_request_gates"
upgrade, downgrade = sql_revision(revision)
