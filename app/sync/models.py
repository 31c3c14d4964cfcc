"""Table metadata for the sync ingest (built by 0008_sync; see app.core.models)."""

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, Text
from sqlalchemy.dialects.postgresql import DOUBLE_PRECISION, UUID

from app.core.models import (
    counter,
    created_at,
    entity_table,
    json_object,
    tenant_ref,
    tenant_table,
    tenant_unique,
    timestamp,
)

scans = entity_table(
    "scans",
    Column("project_id", UUID, nullable=False),
    Column("external_id", Text, nullable=False),
    timestamp("started_at", nullable=False),
    timestamp("completed_at", nullable=False),
    Column("files_scanned", Integer, nullable=False),
    Column("duration_ms", BigInteger, nullable=False),
    json_object("counts"),
    counter("gates_total"),
    counter("gates_failed"),
    counter("violations_received"),
    counter("violations_new"),
    Column("synced_by", UUID),
    created_at(),
    tenant_unique("scans", "project_id", "external_id"),
    tenant_ref(["project_id"], "projects"),
)
Index("scans_project", scans.c.tenant_id, scans.c.project_id, scans.c.created_at)

scan_gate_results = tenant_table(
    "scan_gate_results",
    Column("scan_id", UUID, primary_key=True),
    Column("gate", Text, primary_key=True),
    Column("passed", Boolean, nullable=False),
    Column("score", DOUBLE_PRECISION, nullable=False),
    Column("threshold", DOUBLE_PRECISION, nullable=False),
    tenant_ref(["scan_id"], "scans"),
)

violations = tenant_table(
    "violations",
    Column("project_id", UUID, primary_key=True),
    Column("fingerprint", Text, primary_key=True),
    Column("rule", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("file", Text, nullable=False),
    Column("line", Integer),
    Column("message", Text, nullable=False),
    timestamp("first_seen_at", nullable=False),
    timestamp("last_seen_at", nullable=False),
    Column("first_scan_id", UUID, nullable=False),
    Column("last_scan_id", UUID, nullable=False),
    counter("occurrences", start=1),
    tenant_ref(["project_id"], "projects"),
)
