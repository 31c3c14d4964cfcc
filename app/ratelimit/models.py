"""Table metadata for tenant request budgets (built by 0010_limits_idempotency; see
app.core.models).
The login/token throttle table `drift_private.auth_throttle` is private and stays in the
migration."""

from sqlalchemy import Integer, Text

from app.core import models as m

tenant_rate_windows = m.tenant_table(
    "tenant_rate_windows",
    *m.primary_key(kind=Text),
    m.timestamp("window_start", nullable=False),
    *m.not_null(used=Integer),
    m.tenant_fk(),
)
