"""SCIM custom attributes: a tenant's own User attributes and their filter index

Revision ID: 0013_scim_attributes
Revises: 0012_scim_breaker

- scim_custom_attributes: the attributes a tenant declared (PUT /api/v1/settings/scim/schema)
  under urn:drift:params:scim:schemas:extension:custom:2.0:User. `name_key` is lower(name):
  names are case-insensitive (RFC 7643 §2.1) and unique per tenant.
- scim_custom_values: the filter index of the values, which themselves are stored in
  users.scim_resource under the extension URN. One row per (user, attribute) with `value_key`,
  the value in the form filters compare (lower-cased for caseExact=false strings). Under RLS an
  index on an expression over the jsonb document (or a jsonb_path_ops GIN index: `@>` is not
  LEAKPROOF) cannot serve a query's own condition; plain text equality on a stored column can
  (docs/ARCHITECTURE.md, "Case-insensitive lookups under RLS"). Rows go when the user or the
  attribute goes (ON DELETE CASCADE).

The SQL is in alembic/sql/0013_scim_attributes.sql; alembic/README.md has the rules.
"""

from app.core.migrate import sql_revision

revision = "0013_scim_attributes"
down_revision = "0012_scim_breaker"
upgrade, downgrade = sql_revision(revision)
