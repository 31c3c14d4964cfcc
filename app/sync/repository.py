"""SQL for the sync ingest."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from app.core.tx import Tx

SCAN_COLUMNS = ("id, project_id, external_id, started_at, completed_at, files_scanned,"
                " duration_ms, counts, gates_total, gates_failed, violations_received,"
                " violations_new, created_at")


async def insert_scan(tx: Tx, *, project_id: UUID, external_id: str, started_at: datetime,
                      completed_at: datetime, files_scanned: int, duration_ms: int,
                      counts: dict[str, int], gates_total: int, gates_failed: int,
                      violations_received: int, synced_by: UUID | None, now: datetime
                      ) -> asyncpg.Record | None:
    """The new scan, or None if this project already has a scan with that client id."""
    return await tx.fetchrow(
        "INSERT INTO scans (tenant_id, project_id, external_id, started_at, completed_at,"
        " files_scanned, duration_ms, counts, gates_total, gates_failed, violations_received,"
        " synced_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        f" ON CONFLICT (tenant_id, project_id, external_id) DO NOTHING RETURNING {SCAN_COLUMNS}",
        tx.tenant_id, project_id, external_id, started_at, completed_at, files_scanned,
        duration_ms, counts, gates_total, gates_failed, violations_received, synced_by, now)


async def get_scan(tx: Tx, project_id: UUID, external_id: str) -> asyncpg.Record | None:
    return await tx.fetchrow(
        f"SELECT {SCAN_COLUMNS} FROM scans WHERE project_id = $1 AND external_id = $2",
        project_id, external_id)


async def set_new_violations(tx: Tx, scan_id: UUID, n: int) -> None:
    await tx.execute("UPDATE scans SET violations_new = $2 WHERE id = $1", scan_id, n)


async def insert_gate_results(tx: Tx, scan_id: UUID, gates: Sequence[Any]) -> None:
    if not gates:
        return
    await tx.execute(
        "INSERT INTO scan_gate_results (tenant_id, scan_id, gate, passed, score, threshold)"
        " SELECT $1, $2, g, p, s, t FROM unnest($3::text[], $4::bool[], $5::float8[],"
        " $6::float8[]) AS u(g, p, s, t)",
        tx.tenant_id, scan_id, [g.gate for g in gates], [g.passed for g in gates],
        [g.score for g in gates], [g.threshold for g in gates])


async def upsert_violations(tx: Tx, *, project_id: UUID, scan_id: UUID,
                            violations: Sequence[Any], now: datetime) -> set[str]:
    """Insert or refresh violations by fingerprint; returns the fingerprints that were new
    to the project (inserted rather than updated)."""
    if not violations:
        return set()
    rows = await tx.fetch(
        "INSERT INTO violations (tenant_id, project_id, fingerprint, rule, severity, file,"
        " line, message, first_seen_at, last_seen_at, first_scan_id, last_scan_id)"
        " SELECT $1, $2, f, r, s, fl, l, m, $3, $3, $4, $4"
        " FROM unnest($5::text[], $6::text[], $7::text[], $8::text[], $9::int[], $10::text[])"
        "   AS u(f, r, s, fl, l, m)"
        " ON CONFLICT (tenant_id, project_id, fingerprint) DO UPDATE SET"
        "   rule = EXCLUDED.rule, severity = EXCLUDED.severity, file = EXCLUDED.file,"
        "   line = EXCLUDED.line, message = EXCLUDED.message,"
        "   last_seen_at = EXCLUDED.last_seen_at, last_scan_id = EXCLUDED.last_scan_id,"
        "   occurrences = violations.occurrences + 1"
        " RETURNING fingerprint, (xmax = 0) AS inserted",
        tx.tenant_id, project_id, now, scan_id,
        [v.fingerprint for v in violations], [v.rule for v in violations],
        [v.severity for v in violations], [v.file for v in violations],
        [v.line for v in violations], [v.message for v in violations])
    return {r["fingerprint"] for r in rows if r["inserted"]}
