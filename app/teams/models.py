"""Table metadata for teams, memberships, team projects and invitations (built by
0003_projects_teams; see app.core.models)."""

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID

from app.core.models import (
    choice,
    counter,
    created_at,
    created_index,
    entity_table,
    flag,
    lower_key,
    secret_hash,
    tenant_fk,
    tenant_ref,
    tenant_table,
    timestamp,
    timestamps,
    views,
)

teams = entity_table(
    "teams",
    Column("name", Text, nullable=False),
    Column("description", Text),
    flag("scim_managed", default=False),
    Column("external_id", Text),
    *timestamps(),
    lower_key("name_key", "name"),
    tenant_fk(),
)
created_index(teams)
Index("teams_name_uq", teams.c.tenant_id, func.lower(teams.c.name), unique=True)
Index("teams_scim_created", teams.c.tenant_id, teams.c.created_at, teams.c.id,
      postgresql_where=text("scim_managed"))
Index("teams_scim_external_id", teams.c.tenant_id, teams.c.external_id,
      postgresql_where=text("external_id IS NOT NULL"))
Index("teams_scim_name_key", teams.c.tenant_id, teams.c.name_key)

team_memberships = tenant_table(
    "team_memberships",
    Column("team_id", UUID, primary_key=True),
    Column("user_id", UUID, primary_key=True),
    choice("role", default="member"),  # lead|member
    created_at(),
    tenant_ref(["team_id"], "teams"),
    tenant_ref(["user_id"], "users"),
)
Index("team_memberships_team_created", team_memberships.c.tenant_id,
      team_memberships.c.team_id, team_memberships.c.created_at, team_memberships.c.user_id)
Index("team_memberships_user", team_memberships.c.tenant_id, team_memberships.c.user_id)

team_projects = tenant_table(
    "team_projects",
    Column("team_id", UUID, primary_key=True),
    Column("project_id", UUID, primary_key=True),
    created_at(),
    tenant_ref(["team_id"], "teams"),
    tenant_ref(["project_id"], "projects"),
)
Index("team_projects_project", team_projects.c.tenant_id, team_projects.c.project_id)
Index("team_projects_team_created", team_projects.c.tenant_id, team_projects.c.team_id,
      team_projects.c.created_at, team_projects.c.project_id)

invitations = entity_table(
    "invitations",
    Column("email", Text, nullable=False),
    Column("role", Text, nullable=False),  # admin | member | viewer
    Column("team_id", UUID),
    *secret_hash("invitations", "token_hash"),  # SHA-256 of the dci_ token
    timestamp("expires_at", nullable=False),
    timestamp("accepted_at"),
    Column("accepted_user_id", UUID),
    timestamp("revoked_at"),
    Column("revoked_reason", Text),  # admin, superseded_by_scim, ... (0003_projects_teams)
    Column("invited_by", UUID),
    created_at(),
    Column("ttl_seconds", Integer, nullable=False, server_default=text("604800")),
    counter("sent_count", start=1),
    timestamp("last_sent_at"),
    lower_key("email_key", "email"),
    tenant_fk(),
    ForeignKeyConstraint(["tenant_id", "team_id"], ["teams.tenant_id", "teams.id"],
                         ondelete="SET NULL (team_id)"),
)
_PENDING = text("accepted_at IS NULL AND revoked_at IS NULL")
Index("invitations_email", invitations.c.tenant_id, invitations.c.email_key,
      postgresql_where=_PENDING)
Index("invitations_pending_created", invitations.c.tenant_id, invitations.c.created_at,
      invitations.c.id, postgresql_where=_PENDING)

# The security-barrier view of the projects the entered user may reach (0003_projects_teams).
reachable_projects = Table(
    "reachable_projects", views,
    Column("tenant_id", UUID),
    Column("id", UUID),
    Column("name", Text),
    Column("slug", Text),
    Column("description", Text),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)
