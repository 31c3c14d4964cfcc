"""A real OpenID Provider (oidc-provider on Node.js, tests/sso/idp/server.mjs) on loopback, and
a browser that signs in through it (bench/idp.py, shared with the sso_login bench scenario)
and talks to Drift through the ASGI app with Drift's cookie."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, parse_qs, urlsplit

import httpx
import pytest

from bench.idp import sign_in_at_idp
from bench.process import stop_process
from tests.conftest import Tenant, bearer, free_port

IDP_DIR = Path(__file__).parent / "idp"
PUBLIC = "https://drift.test"
SECRET = "-secret-that-is-long-enough-for-hs256-0123456789"


@dataclass
class Idp:
    issuer: str

    def secret(self, client_id: str) -> str:
        return client_id + SECRET


@pytest.fixture(scope="session")
def idp(settings: Any) -> Iterator[Idp]:
    assert settings.public_url == PUBLIC
    port = free_port()
    proc = subprocess.Popen(
        ["node", "server.mjs"], cwd=IDP_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={"PATH": "/usr/local/bin:/usr/bin:/bin", "IDP_PORT": str(port),
                        "IDP_REDIRECT_URI": PUBLIC + "/sso/oidc/callback"})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("ready "):
        proc.kill()
        err = proc.stderr.read() if proc.stderr else ""
        raise RuntimeError(f"the test IdP did not start: {line} {err}")
    yield Idp(issuer=line.split()[1])
    stop_process(proc)


@pytest.fixture
async def browser(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Drift as a browser on DRIFT_PUBLIC_URL sees it (https, so the Secure cookie is sent)."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as c:
        yield c


async def add_connection(t: Tenant, client: httpx.AsyncClient, idp: Idp,
                         client_id: str = "drift-rs", **extra: Any) -> dict[str, Any]:
    body = {"protocol": "oidc", "name": f"IdP {client_id}",
            "issuer": extra.pop("issuer", idp.issuer),
            "client_id": client_id, "client_secret": idp.secret(client_id),
            "scopes": ["openid", "email", "profile", "groups"], **extra}
    r = await client.post("/api/v1/settings/sso/connections", json=body, headers=t.headers)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def through_idp(url: str, login: str) -> str:
    """Follow the IdP from the authorization URL to the redirect back to Drift, signing in as
    `login` (submitting the login form, then the consent form). Returns Drift's callback URL."""
    return await sign_in_at_idp(url, login, PUBLIC)


async def start(browser: httpx.AsyncClient, t: Tenant, **params: Any) -> httpx.Response:
    r = await browser.get("/sso/start", params={"tenant": t.slug, **params})
    return r


async def idp_callback(browser: httpx.AsyncClient, t: Tenant, login: str, **params: Any
                       ) -> SplitResult:
    """Start at Drift and sign in at the IdP: the callback URL the IdP sends the browser back
    to, not yet followed."""
    r = await start(browser, t, **params)
    assert r.status_code == 302, r.text
    return urlsplit(await through_idp(r.headers["location"], login))


async def sso_callback(browser: httpx.AsyncClient, t: Tenant, login: str, **params: Any
                       ) -> httpx.Response:
    """Start at Drift, sign in at the IdP, and return Drift's answer to the callback."""
    back = await idp_callback(browser, t, login, **params)
    return await browser.get(back.path + "?" + back.query)


def sso_code(resp: httpx.Response) -> str:
    assert resp.status_code == 302, resp.text
    return parse_qs(urlsplit(resp.headers["location"]).query)["sso_code"][0]


async def exchange(browser: httpx.AsyncClient, code: str) -> httpx.Response:
    return await browser.post("/api/v1/auth/sso/exchange", json={"code": code})


async def sso_login(browser: httpx.AsyncClient, t: Tenant, login: str, **params: Any
                    ) -> dict[str, Any]:
    """The whole round trip; the token pair."""
    r = await exchange(browser, sso_code(await sso_callback(browser, t, login, **params)))
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


__all__ = ["Idp", "add_connection", "bearer", "exchange", "idp_callback", "sso_callback",
           "sso_code", "sso_login", "start", "through_idp"]
