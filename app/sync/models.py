"""Table metadata for the sync ingest (built by 0008_sync; see app.core.models)."""

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, Text
from sqlalchemy.dialects.postgresql import DOUBLE_PRECISION, UUID

from app.core import models as m

scans = m.entity_table(
    "scans",
    *m.not_null(project_id=UUID, external_id=Text),
    m.timestamp("started_at", nullable=False),
    m.timestamp("completed_at", nullable=False),
    *m.not_null(files_scanned=Integer, duration_ms=BigInteger),
    m.json_object("counts"),
    m.counter("gates_total"),
    m.counter("gates_failed"),
    m.counter("violations_received"),
    m.counter("violations_new"),
    Column("synced_by", UUID),
    m.created_at(),
    m.tenant_unique("scans", "project_id", "external_id"),
    m.tenant_ref(["project_id"], "projects"),
)
Index("scans_project", scans.c.tenant_id, scans.c.project_id, scans.c.created_at)

scan_gate_results = m.tenant_table(
    "scan_gate_results",
    *m.primary_key(scan_id=UUID, gate=Text),
    *m.not_null(passed=Boolean, score=DOUBLE_PRECISION, threshold=DOUBLE_PRECISION),
    m.tenant_ref(["scan_id"], "scans"),
)

violations = m.tenant_table(
    "violations",
    *m.primary_key(project_id=UUID, fingerprint=Text),
    *m.not_null(rule=Text, severity=Text, file=Text),
    Column("line", Integer),
    *m.not_null(message=Text),
    m.timestamp("first_seen_at", nullable=False),
    m.timestamp("last_seen_at", nullable=False),
    *m.not_null(first_scan_id=UUID, last_scan_id=UUID),
    m.counter("occurrences", start=1),
    m.tenant_ref(["project_id"], "projects"),
)
