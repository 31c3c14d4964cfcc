"""Table metadata for teams, memberships, team projects and invitations (built by
0003_projects_teams; see app.core.models)."""

from sqlalchemy import Column, DateTime, Index, Integer, Table, Text, func, text
from sqlalchemy.dialects.postgresql import UUID

from app.core import models as m

teams = m.entity_table(
    "teams",
    *m.not_null(name=Text),
    Column("description", Text),
    m.flag("scim_managed", default=False),
    Column("external_id", Text),
    *m.timestamps(),
    m.lower_key("name_key", "name"),
    m.tenant_fk(),
)
m.created_index(teams)
Index("teams_name_uq", teams.c.tenant_id, func.lower(teams.c.name), unique=True)
Index("teams_scim_created", teams.c.tenant_id, teams.c.created_at, teams.c.id,
      postgresql_where=text("scim_managed"))
Index("teams_scim_external_id", teams.c.tenant_id, teams.c.external_id,
      postgresql_where=text("external_id IS NOT NULL"))
Index("teams_scim_name_key", teams.c.tenant_id, teams.c.name_key)

team_memberships = m.tenant_table(
    "team_memberships",
    *m.primary_key(team_id=UUID, user_id=UUID),
    m.choice("role", default="member"),  # lead|member
    m.created_at(),
    m.tenant_ref(["team_id"], "teams"),
    m.tenant_ref(["user_id"], "users"),
)
Index("team_memberships_team_created", team_memberships.c.tenant_id,
      team_memberships.c.team_id, team_memberships.c.created_at, team_memberships.c.user_id)
Index("team_memberships_user", team_memberships.c.tenant_id, team_memberships.c.user_id)

team_projects = m.tenant_table(
    "team_projects",
    *m.primary_key(team_id=UUID, project_id=UUID),
    m.created_at(),
    m.tenant_ref(["team_id"], "teams"),
    m.tenant_ref(["project_id"], "projects"),
)
Index("team_projects_project", team_projects.c.tenant_id, team_projects.c.project_id)
Index("team_projects_team_created", team_projects.c.tenant_id, team_projects.c.team_id,
      team_projects.c.created_at, team_projects.c.project_id)

invitations = m.entity_table(
    "invitations",
    *m.not_null(email=Text, role=Text),  # role: admin | member | viewer
    Column("team_id", UUID),
    *m.secret_hash("invitations", "token_hash"),  # SHA-256 of the dci_ token
    m.timestamp("expires_at", nullable=False),
    m.timestamp("accepted_at"),
    Column("accepted_user_id", UUID),
    m.timestamp("revoked_at"),
    Column("revoked_reason", Text),  # admin, superseded_by_scim, ... (0003_projects_teams)
    Column("invited_by", UUID),
    m.created_at(),
    Column("ttl_seconds", Integer, nullable=False, server_default=text("604800")),
    m.counter("sent_count", start=1),
    m.timestamp("last_sent_at"),
    m.lower_key("email_key", "email"),
    m.tenant_fk(),
    m.tenant_ref(["team_id"], "teams", ondelete="SET NULL (team_id)"),
)
_PENDING = text("accepted_at IS NULL AND revoked_at IS NULL")
Index("invitations_email", invitations.c.tenant_id, invitations.c.email_key,
      postgresql_where=_PENDING)
Index("invitations_pending_created", invitations.c.tenant_id, invitations.c.created_at,
      invitations.c.id, postgresql_where=_PENDING)

# The security-barrier view of the projects the entered user may reach (0003_projects_teams).
reachable_projects = Table(
    "reachable_projects", m.views,
    Column("tenant_id", UUID),
    Column("id", UUID),
    Column("name", Text),
    Column("slug", Text),
    Column("description", Text),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)
