"""Shared by the SCIM scenarios: a SCIM token per bench tenant (kept in .drift-bench, since a
token is only ever shown once and a tenant may hold at most two active ones)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from app.core import clock
from app.core.security import SCIM_TOKEN_PREFIX, display_prefix, new_token, token_hash
from app.core.tx import own_tx
from bench.run import DATA, Env


async def scim_tokens(env: Env, tenant_ids: list[str]) -> dict[str, str]:
    path = DATA / "scim_tokens.json"
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [t for t in tenant_ids if t not in known]
    for tid in missing:
        async with own_tx(env.rt.db, uuid.UUID(tid)) as tx:
            now = clock.now()
            await tx.execute("UPDATE scim_tokens SET revoked_at = $1 WHERE revoked_at IS NULL",
                             now)
            token = new_token(SCIM_TOKEN_PREFIX)
            await tx.execute(
                "INSERT INTO scim_tokens (tenant_id, name, prefix, token_hash, created_at)"
                " VALUES ($1, 'bench', $2, $3, $4)",
                tx.tenant_id, display_prefix(token), token_hash(token), now)
        known[tid] = token
    if missing:
        path.write_text(json.dumps(known))
    return {t: known[t] for t in tenant_ids}


def headers(token: str, body: bool = False) -> dict[str, Any]:
    h = {"Authorization": f"Bearer {token}", "Accept": "application/scim+json"}
    if body:
        h["Content-Type"] = "application/scim+json"
    return h
