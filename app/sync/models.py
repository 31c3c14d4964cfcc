"""Table metadata for the sync ingest (the schema itself lives in Alembic, 0201_sync)."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = MetaData()

scans = Table(
    "scans", metadata,
    Column("tenant_id", UUID, primary_key=True),
    Column("id", UUID, primary_key=True),
    Column("project_id", UUID, nullable=False),
    Column("external_id", Text, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True), nullable=False),
    Column("files_scanned", Integer, nullable=False),
    Column("duration_ms", BigInteger, nullable=False),
    Column("counts", JSONB, nullable=False),
    Column("gates_total", Integer, nullable=False),
    Column("gates_failed", Integer, nullable=False),
    Column("violations_received", Integer, nullable=False),
    Column("violations_new", Integer, nullable=False),
    Column("synced_by", UUID),
    Column("created_at", DateTime(timezone=True), nullable=False),
    ForeignKeyConstraint(["tenant_id", "project_id"], ["projects.tenant_id", "projects.id"],
                         ondelete="CASCADE"),
)

scan_gate_results = Table(
    "scan_gate_results", metadata,
    Column("tenant_id", UUID, primary_key=True),
    Column("scan_id", UUID, primary_key=True),
    Column("gate", Text, primary_key=True),
    Column("passed", Boolean, nullable=False),
    Column("score", Float, nullable=False),
    Column("threshold", Float, nullable=False),
    ForeignKeyConstraint(["tenant_id", "scan_id"], ["scans.tenant_id", "scans.id"],
                         ondelete="CASCADE"),
)

violations = Table(
    "violations", metadata,
    Column("tenant_id", UUID, primary_key=True),
    Column("project_id", UUID, primary_key=True),
    Column("fingerprint", Text, primary_key=True),
    Column("rule", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("file", Text, nullable=False),
    Column("line", Integer),
    Column("message", Text, nullable=False),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("first_scan_id", UUID, nullable=False),
    Column("last_scan_id", UUID, nullable=False),
    Column("occurrences", Integer, nullable=False),
    ForeignKeyConstraint(["tenant_id", "project_id"], ["projects.tenant_id", "projects.id"],
                         ondelete="CASCADE"),
)
