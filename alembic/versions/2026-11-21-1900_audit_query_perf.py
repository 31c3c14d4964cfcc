"""audit query speed: outcome indexes, no empty far-future partitions

Revision ID: 0610_audit_perf
Revises: 0600_ci_keys
Create Date: 2026-11-21 19:00

Measured on the bench data set (10M events, 1M in one tenant; docs/audit.md, "Performance"):
- `outcome=denied&action=...` walked every event of that action (no index has outcome):
  ~400 ms. Non-success events are a few percent of a log, so two partial indexes over them are
  small and cheap to maintain, and give outcome and outcome+action filters their order by seq.
- Every query plans every partition (the filters do not constrain created_at). The foundation
  migration created 14 months of partitions ahead; the worker keeps 3 ahead. Empty partitions
  starting more than 3 months ahead are dropped here (the worker creates them again in time),
  which halves planning time on a young database.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0610_audit_perf"
down_revision: str | Sequence[str] | None = "0600_ci_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONTHS_AHEAD = 3  # as the worker's audit-partitions job (app/worker.py)


def upgrade() -> None:
    op.execute("CREATE INDEX audit_events_outcome_seq ON audit_events (tenant_id, outcome, seq)"
               " WHERE outcome <> 'success'")
    op.execute('CREATE INDEX audit_events_outcome_action_seq ON audit_events'
               ' (tenant_id, outcome, action COLLATE "C", seq) WHERE outcome <> \'success\'')
    op.execute(f"""
    DO $$
    DECLARE
        part record;
        is_empty boolean;
    BEGIN
        FOR part IN
            SELECT c.relname
              FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'public.audit_events'::regclass
               AND c.relname ~ '^audit_events_[0-9]{{4}}_[0-9]{{2}}$'
               AND to_date(substr(c.relname, 14), 'YYYY_MM')
                   > date_trunc('month', current_date) + interval '{MONTHS_AHEAD} months'
        LOOP
            EXECUTE format('LOCK TABLE public.%I IN ACCESS EXCLUSIVE MODE', part.relname);
            EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM public.%I)', part.relname)
               INTO is_empty;
            IF is_empty THEN
                EXECUTE format('DROP TABLE public.%I', part.relname);
            END IF;
        END LOOP;
    END $$""")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS audit_events_outcome_action_seq")
    op.execute("DROP INDEX IF EXISTS audit_events_outcome_seq")
    op.execute("SELECT drift_api.ensure_audit_partitions(current_date, 14)")
