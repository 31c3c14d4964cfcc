"""audit filter by bare verb (`action=delete`): a stored, indexed `action_verb` column

Revision ID: 0700_i23_audit_verb
Revises: 0620_i24_identity
Create Date: 2026-11-22 09:00

`GET /api/v1/audit?action=delete` matches every event whose action's last dot-separated
segment is `delete` (project.delete, team.delete, webhook.delete, ...). An expression on the
column (`split_part(action, '.', -1) = $1`) cannot use an index under RLS: split_part is not
LEAKPROOF, so PostgreSQL applies the tenant policy first and filters afterwards
(docs/ARCHITECTURE.md, "Case-insensitive lookups under RLS"). A stored generated column
compared with plain equality (texteq is leakproof) can, and its index ends in `seq`, so a
page is an in-order index range like every other filter (docs/audit.md, "Filters").

The column is declared COLLATE "C" (byte order, like the `action` index), so the index needs
no collation clause and `action_verb = $1` matches it.

ADD COLUMN ... STORED rewrites every partition under ACCESS EXCLUSIVE. A rewrite fires no row
triggers, so the immutability trigger (which refuses UPDATE) does not object, and the chain
is untouched: `action_verb` is derived from `action`, which the canonical form already covers,
so it is not hashed. Partitions created later (drift_api.ensure_audit_partitions, PARTITION
OF) inherit the column and the index.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0700_i23_audit_verb"
down_revision: str | Sequence[str] | None = "0620_i24_identity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute('ALTER TABLE audit_events ADD COLUMN action_verb text COLLATE "C"'
               " GENERATED ALWAYS AS (split_part(action, '.', -1)) STORED")
    op.execute("CREATE INDEX audit_events_action_verb_seq ON audit_events"
               " (tenant_id, action_verb, seq)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS audit_events_action_verb_seq")
    op.execute("ALTER TABLE audit_events DROP COLUMN IF EXISTS action_verb")
