"""Table metadata for projects (built by the migrations; see app.core.models)."""

from sqlalchemy import Column, Text

from app.core import models as m

projects = m.entity_table(
    "projects",
    Column("name", Text, nullable=False),
    Column("slug", Text, nullable=False),
    Column("description", Text),
    *m.timestamps(),
    m.tenant_unique("projects", "slug"),
    m.tenant_fk(),
)
m.created_index(projects)
