"""The SSO login round trip: GET /sso/start -> the IdP -> GET /sso/oidc/callback -> POST
/api/v1/auth/sso/exchange -> GET /api/v1/me with the new session.

The IdP is the tests' real OpenID Provider (tests/sso/idp/server.mjs, oidc-provider on Node.js,
installed by `make install`), started here on loopback. Each round trip is a new browser (no
IdP session), so it signs in and consents at the IdP every time, as a first login of the day
does. BENCH_SSO_LOGINS (50) logins run one after another in tenant bench-000 as its owner.

Reported: the whole round trip (start to a working session) and the part spent in Drift alone
(start + callback + exchange; the callback includes Drift's code exchange with the IdP and the
id_token check, JWKS cached), p50/p95/max in ms.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from bench.idp import sign_in_at_idp
from bench.process import stop_process
from bench.run import ROOT, Env, ScenarioResult, free_port

NAME = "sso_login"
ORDER = 85
DESCRIPTION = "OIDC login round trip against a real OpenID Provider: start -> working session"
TARGET = "reported (no target set by the issue)"

IDP_DIR = ROOT / "tests" / "sso" / "idp"
PUBLIC = "http://127.0.0.1:8000"  # the bench server's DRIFT_PUBLIC_URL (the default)


def _start_idp() -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    proc = subprocess.Popen(
        ["node", "server.mjs"], cwd=Path(IDP_DIR), stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "IDP_PORT": str(port),
             "IDP_REDIRECT_URI": PUBLIC + "/sso/oidc/callback"})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("ready "):
        proc.kill()
        raise RuntimeError(f"the IdP did not start: {line!r}")
    return proc, line.split()[1]


async def _one(api: str, slug: str, login: str) -> tuple[float, float]:
    """(whole round trip, Drift's part) in seconds."""
    async with httpx.AsyncClient(base_url=api, timeout=30) as drift:
        t0 = time.perf_counter()
        r = await drift.get("/sso/start", params={"tenant": slug})
        t1 = time.perf_counter()
        if r.status_code != 302:
            raise RuntimeError(f"/sso/start: {r.status_code} {r.text[:200]}")
        back = urlsplit(await sign_in_at_idp(r.headers["location"], login, PUBLIC))
        t2 = time.perf_counter()
        r = await drift.get(back.path + "?" + back.query)
        if r.status_code != 302:
            raise RuntimeError(f"callback: {r.status_code} {r.text[:200]}")
        code = parse_qs(urlsplit(r.headers["location"]).query)["sso_code"][0]
        r = await drift.post("/api/v1/auth/sso/exchange", json={"code": code})
        tokens = r.json()
        t3 = time.perf_counter()
        me = await drift.get("/api/v1/me",
                             headers={"Authorization": f"Bearer {tokens['access_token']}"})
        t4 = time.perf_counter()
        if me.status_code != 200:
            raise RuntimeError(f"/me: {me.status_code}")
    return t4 - t0, (t1 - t0) + (t3 - t2)


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000, 1),
            "max_ms": round(ordered[-1] * 1000, 1)}


async def run(env: Env) -> ScenarioResult:
    logins = int(os.environ.get("BENCH_SSO_LOGINS", "50"))
    tenant = env.tenants[0]
    slug = "bench-000"
    headers = {"Authorization": f"Bearer {tenant['api_key']}"}
    proc, issuer = _start_idp()
    try:
        async with httpx.AsyncClient(base_url=env.api, timeout=30) as admin:
            existing = (await admin.get("/api/v1/settings/sso/connections",
                                        headers=headers)).json()["data"]
            for conn in existing:  # the IdP's port changes every run
                await admin.delete(f"/api/v1/settings/sso/connections/{conn['id']}",
                                   headers=headers)
            r = await admin.post("/api/v1/settings/sso/connections", headers=headers, json={
                "protocol": "oidc", "name": "bench IdP", "issuer": issuer,
                "client_id": "drift-rs",
                "client_secret": "drift-rs-secret-that-is-long-enough-for-hs256-0123456789"})
            if r.status_code != 201:
                raise RuntimeError(f"connection: {r.status_code} {r.text[:300]}")
        await _one(env.api, slug, f"owner@{slug}.example")  # warm-up: discovery, JWKS
        whole, drift_part = [], []
        for _ in range(logins):
            w, d = await _one(env.api, slug, f"owner@{slug}.example")
            whole.append(w)
            drift_part.append(d)
    finally:
        stop_process(proc)
    metrics: dict[str, Any] = {"logins": logins,
                               **{f"round_trip_{k}": v for k, v in _ms(whole).items()},
                               **{f"drift_{k}": v for k, v in _ms(drift_part).items()}}
    return ScenarioResult(name=NAME, target=TARGET, metrics=metrics)
