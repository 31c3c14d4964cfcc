"""Table metadata for the sync ingest (built by 0008_sync; see app.core.models)."""

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, Text
from sqlalchemy.dialects.postgresql import DOUBLE_PRECISION, UUID

from app.core import models as m

scans = m.entity_table(
    "scans",
    Column("project_id", UUID, nullable=False),
    Column("external_id", Text, nullable=False),
    m.timestamp("started_at", nullable=False),
    m.timestamp("completed_at", nullable=False),
    Column("files_scanned", Integer, nullable=False),
    Column("duration_ms", BigInteger, nullable=False),
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
    Column("scan_id", UUID, primary_key=True),
    Column("gate", Text, primary_key=True),
    Column("passed", Boolean, nullable=False),
    Column("score", DOUBLE_PRECISION, nullable=False),
    Column("threshold", DOUBLE_PRECISION, nullable=False),
    m.tenant_ref(["scan_id"], "scans"),
)

violations = m.tenant_table(
    "violations",
    Column("project_id", UUID, primary_key=True),
    Column("fingerprint", Text, primary_key=True),
    Column("rule", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("file", Text, nullable=False),
    Column("line", Integer),
    Column("message", Text, nullable=False),
    m.timestamp("first_seen_at", nullable=False),
    m.timestamp("last_seen_at", nullable=False),
    Column("first_scan_id", UUID, nullable=False),
    Column("last_scan_id", UUID, nullable=False),
    m.counter("occurrences", start=1),
    m.tenant_ref(["project_id"], "projects"),
)
