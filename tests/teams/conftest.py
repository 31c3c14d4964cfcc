"""Helpers for the teams capability's tests: teams, projects, invitation tokens."""

from __future__ import annotations

import re
import secrets
from typing import Any

import httpx

from app.core.runtime import Runtime
from app.email.service import body_of
from tests.conftest import Tenant

LINK = re.compile(r"https://drift\.test/invitations/(dci_[A-Za-z0-9_-]{43})")


def unique_email(t: Tenant, who: str = "invitee") -> str:
    return f"{who}-{secrets.token_hex(4)}@{t.slug}.example"


async def create_team(client: httpx.AsyncClient, t: Tenant, name: str | None = None,
                      **extra: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/teams", headers=t.headers,
                          json={"name": name or f"team-{secrets.token_hex(3)}", **extra})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def create_project(client: httpx.AsyncClient, t: Tenant, name: str | None = None
                         ) -> dict[str, Any]:
    r = await client.post("/api/v1/projects", headers=t.headers,
                          json={"name": name or f"project-{secrets.token_hex(3)}"})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def invite(client: httpx.AsyncClient, t: Tenant, email: str | None = None,
                 **extra: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/invitations", headers=t.headers,
                          json={"email": email or unique_email(t), **extra})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def token_in(text: str) -> str:
    found = LINK.findall(text)
    assert len(found) == 1, f"expected one invitation link in: {text!r}"
    return str(found[0])


async def outbox_tokens(rt: Runtime, t: Tenant, email: str) -> list[str]:
    """The invitation links queued for `email`, oldest first (read from the encrypted outbox,
    for tests that do not need the SMTP round trip)."""
    rows = await t.sql("SELECT body_encrypted FROM email_outbox WHERE to_address = $1"
                       " AND kind = 'invitation' ORDER BY created_at, id", email)
    return [token_in(body_of(rt.secret_key, r["body_encrypted"])) for r in rows]


async def invite_token(client: httpx.AsyncClient, rt: Runtime, t: Tenant,
                       email: str | None = None, **extra: Any) -> tuple[dict[str, Any], str]:
    inv = await invite(client, t, email, **extra)
    return inv, (await outbox_tokens(rt, t, inv["email"]))[-1]

