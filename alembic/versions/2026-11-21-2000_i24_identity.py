"""identity: the owner's IdP consent, why an invitation was revoked (branch i24-identity)

Revision ID: 0620_i24_identity
Revises: 0610_audit_perf
Create Date: 2026-11-21 20:00

- tenants.owner_managed_by_idp: the owner's own choice to let SCIM change the owner's userName,
  emails and externalId (their sign-in identity). Off by default: SCIM answers 400 mutability.
  Set only through PUT /api/v1/settings/owner-identity (owner only), reset by an ownership
  transfer (the new owner has not agreed to it).
- invitations.revoked_reason: `admin` for a revocation through the API, `superseded_by_scim`
  when the identity provider provisioned the address (docs/teams.md, "Invitations").

Stored addresses need no rewrite to their canonical form (app.core.emails): nothing was
deployed before this revision, and every write path converts from here on.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0620_i24_identity"
down_revision: str | Sequence[str] | None = "0610_audit_perf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE tenants ADD COLUMN owner_managed_by_idp boolean NOT NULL"
               " DEFAULT false")
    op.execute("ALTER TABLE invitations ADD COLUMN revoked_reason text"
               " CHECK (revoked_reason IS NULL OR length(revoked_reason) <= 64)")


def downgrade() -> None:
    op.execute("ALTER TABLE invitations DROP COLUMN revoked_reason")
    op.execute("ALTER TABLE tenants DROP COLUMN owner_managed_by_idp")
