"""Table metadata for projects (built by the migrations; see app.core.models)."""

from sqlalchemy import Column, Text

from app.core import models as m

projects = m.entity_table(
    "projects",
    *m.not_null(name=Text, slug=Text),
    Column("description", Text),
    *m.timestamps(),
    m.tenant_unique("projects", "slug"),
    m.tenant_fk(),
)
m.created_index(projects)
