"""Table metadata for projects (built by the migrations; see app.core.models)."""

from sqlalchemy import Column, Text

from app.core.models import created_index, entity_table, tenant_fk, tenant_unique, timestamps

projects = entity_table(
    "projects",
    Column("name", Text, nullable=False),
    Column("slug", Text, nullable=False),
    Column("description", Text),
    *timestamps(),
    tenant_unique("projects", "slug"),
    tenant_fk(),
)
created_index(projects)
