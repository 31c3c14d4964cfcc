"""Table metadata for teams, memberships, team projects and invitations (the schema itself
lives in Alembic: 0002_org_schema, 0400_teams_access, 0401_teams_lists)."""

from sqlalchemy import Boolean, Column, DateTime, Integer, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import BYTEA, UUID

metadata = MetaData()

teams = Table(
    "teams", metadata,
    Column("tenant_id", UUID, primary_key=True),
    Column("id", UUID, primary_key=True),
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("scim_managed", Boolean, nullable=False),
    Column("external_id", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

team_memberships = Table(
    "team_memberships", metadata,
    Column("tenant_id", UUID, primary_key=True),
    Column("team_id", UUID, primary_key=True),
    Column("user_id", UUID, primary_key=True),
    Column("role", Text, nullable=False),  # lead | member
    Column("created_at", DateTime(timezone=True), nullable=False),
)

team_projects = Table(
    "team_projects", metadata,
    Column("tenant_id", UUID, primary_key=True),
    Column("team_id", UUID, primary_key=True),
    Column("project_id", UUID, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

invitations = Table(
    "invitations", metadata,
    Column("tenant_id", UUID, primary_key=True),
    Column("id", UUID, primary_key=True),
    Column("email", Text, nullable=False),
    Column("role", Text, nullable=False),  # admin | member | viewer
    Column("team_id", UUID),
    Column("token_hash", BYTEA, nullable=False, unique=True),  # SHA-256 of the dci_ token
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("accepted_at", DateTime(timezone=True)),
    Column("accepted_user_id", UUID),
    Column("revoked_at", DateTime(timezone=True)),
    Column("invited_by", UUID),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("ttl_seconds", Integer, nullable=False),
    Column("sent_count", Integer, nullable=False),
    Column("last_sent_at", DateTime(timezone=True)),
)

# The security-barrier view of the projects the entered user may reach (0400_teams_access).
reachable_projects = Table(
    "reachable_projects", metadata,
    Column("tenant_id", UUID),
    Column("id", UUID),
    Column("name", Text),
    Column("slug", Text),
    Column("description", Text),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)
