"""i16 webhooks: per-endpoint retry policy and the alert state

Revision ID: 0810_i16_webhooks
Revises: 0800_i16_siem
Create Date: 2026-12-08 10:00

- webhook_endpoints.retry_policy: `fast` (only DRIFT_WEBHOOK_RETRY_SCHEDULE) or `extended`
  (then DRIFT_WEBHOOK_EXTENDED_RETRY_SCHEDULE, about a day). Endpoints that exist when this
  runs keep `fast`, the behaviour they were registered under; new ones default to `extended`.
- webhook_endpoints.failing_since: set when the tenant was told that the endpoint is failing
  (a delivery exhausted its retries, or the endpoint was disabled by the system); cleared,
  with a `webhook.endpoint.recovered` alert, by the next successful delivery or re-enable.
- webhook_endpoints.project_ids / min_severity: filters applied by the fan-out statement
  (NULL: no filter): events about other projects, and violation.new / scan.completed below
  the severity, are not queued for the endpoint.
- webhook_endpoints.header_names / headers_encrypted: custom request headers; the names in
  clear (shown by the API), the name/value pairs encrypted like the signing secrets.
- webhook_endpoints.rate_limit / next_send_at: at most `rate_limit` deliveries per second to
  the endpoint, across workers: the claim statement reserves capacity by moving next_send_at
  (under the endpoint's row lock) and claims only what it reserved.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0810_i16_webhooks"
down_revision: str | Sequence[str] | None = "0800_i16_siem"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for stmt in [
        "ALTER TABLE webhook_endpoints ADD COLUMN retry_policy text NOT NULL DEFAULT 'fast'"
        " CHECK (retry_policy IN ('fast', 'extended'))",
        "ALTER TABLE webhook_endpoints ALTER COLUMN retry_policy SET DEFAULT 'extended'",
        "ALTER TABLE webhook_endpoints ADD COLUMN failing_since timestamptz",
        "ALTER TABLE webhook_endpoints ADD COLUMN project_ids uuid[]"
        " CHECK (project_ids IS NULL OR cardinality(project_ids) BETWEEN 1 AND 20)",
        "ALTER TABLE webhook_endpoints ADD COLUMN min_severity text"
        " CHECK (min_severity IN ('info', 'low', 'medium', 'high', 'critical'))",
        "ALTER TABLE webhook_endpoints ADD COLUMN header_names text[]",
        "ALTER TABLE webhook_endpoints ADD COLUMN headers_encrypted bytea",
        "ALTER TABLE webhook_endpoints ADD COLUMN rate_limit integer"
        " CHECK (rate_limit BETWEEN 1 AND 10000)",
        "ALTER TABLE webhook_endpoints ADD COLUMN next_send_at timestamptz",
    ]:
        op.execute(stmt)


def downgrade() -> None:
    op.execute("ALTER TABLE webhook_endpoints DROP COLUMN IF EXISTS next_send_at")
    op.execute("ALTER TABLE webhook_endpoints DROP COLUMN IF EXISTS rate_limit")
    op.execute("ALTER TABLE webhook_endpoints DROP COLUMN IF EXISTS headers_encrypted")
    op.execute("ALTER TABLE webhook_endpoints DROP COLUMN IF EXISTS header_names")
    op.execute("ALTER TABLE webhook_endpoints DROP COLUMN IF EXISTS min_severity")
    op.execute("ALTER TABLE webhook_endpoints DROP COLUMN IF EXISTS project_ids")
    op.execute("ALTER TABLE webhook_endpoints DROP COLUMN IF EXISTS failing_since")
    op.execute("ALTER TABLE webhook_endpoints DROP COLUMN IF EXISTS retry_policy")
