"""Table metadata for tenant request budgets (built by 0010_limits_idempotency; see
app.core.models).
The login/token throttle table `drift_private.auth_throttle` is private and stays in the
migration."""

from sqlalchemy import Column, Integer, Table, Text

from app.core.models import metadata, tenant_fk, tenant_key, timestamp

tenant_rate_windows = Table(
    "tenant_rate_windows", metadata,
    tenant_key(),
    Column("kind", Text, primary_key=True),
    timestamp("window_start", nullable=False),
    Column("used", Integer, nullable=False),
    tenant_fk(),
)
