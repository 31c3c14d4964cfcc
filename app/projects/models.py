"""Table metadata for projects (built by the migrations; see app.core.models)."""

from sqlalchemy import Column, Index, Table, Text, UniqueConstraint

from app.core.models import created_at, id_key, metadata, tenant_fk, tenant_key, updated_at

projects = Table(
    "projects", metadata,
    tenant_key(),
    id_key(),
    Column("name", Text, nullable=False),
    Column("slug", Text, nullable=False),
    Column("description", Text),
    created_at(),
    updated_at(),
    UniqueConstraint("tenant_id", "slug", name="projects_tenant_id_slug_key"),
    tenant_fk(),
)
Index("projects_created", projects.c.tenant_id, projects.c.created_at, projects.c.id)
