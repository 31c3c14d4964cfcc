"""Login and token throttling: state in PostgreSQL shared by processes, no account
enumeration, Retry-After on the app clock, audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.core import clock
from app.core.runtime import Runtime
from tests.conftest import Tenant, app_with, asgi_client, assert_problem, audit_events

PASSWORD = "correct horse battery staple"


def _login(t: Tenant, email: str, password: str) -> dict[str, Any]:
    return {"tenant": t.slug, "email": email, "password": password}


async def test_account_locked_across_two_apps_same_answer_known_or_unknown(
        runtime: Runtime, tenant: Tenant) -> None:
    """Failures counted by two processes lock the account; then even the right password is
    refused, with the same 429 an account that does not exist gets; Retry-After follows the
    app clock; the refusal is audited in the tenant's log."""
    clock.freeze()
    user = await tenant.add_user("member", password=PASSWORD)
    unknown = f"nobody@{tenant.slug}.example"
    limits = {"login_max_failures": 3, "login_lockout_seconds": 120}
    one, two = app_with(runtime, **limits), app_with(runtime, **limits)
    async with asgi_client(one, "10.14.0.1") as a, asgi_client(two, "10.14.0.2") as b:
        for client, email in ((a, user.email), (b, user.email), (a, user.email),
                              (a, unknown), (b, unknown), (b, unknown)):
            r = await client.post("/api/v1/auth/login", json=_login(tenant, email, "wrong"))
            assert r.status_code == 401 and r.json()["code"] == "invalid_login"

        right = await b.post("/api/v1/auth/login", json=_login(tenant, user.email, PASSWORD))
        nobody = await a.post("/api/v1/auth/login", json=_login(tenant, unknown, PASSWORD))
        for r in (right, nobody):
            assert r.status_code == 429, r.text
            assert r.json()["code"] == "too_many_attempts"
            assert r.headers["retry-after"] == "120"
            assert "access_token" not in r.text
        assert right.json() == nobody.json()
        assert right.headers["retry-after"] == nobody.headers["retry-after"]

        clock.advance(timedelta(seconds=119))
        still = await a.post("/api/v1/auth/login", json=_login(tenant, user.email, PASSWORD))
        assert still.status_code == 429 and still.headers["retry-after"] == "1"
        clock.advance(timedelta(seconds=1))
        ok = await a.post("/api/v1/auth/login", json=_login(tenant, user.email, PASSWORD))
        assert ok.status_code == 200, ok.text

    throttled = await audit_events(tenant, action="auth.login_throttled")
    assert throttled and throttled[0]["outcome"] == "denied"
    assert throttled[0]["metadata"]["reason"] == "too_many_failures"


async def test_one_address_guessing_many_accounts_is_locked_out(
        runtime: Runtime, tenant: Tenant, other_tenant: Tenant) -> None:
    clock.freeze()
    app = app_with(runtime, login_ip_max_failures=4, login_max_failures=100)
    async with asgi_client(app, "10.14.1.1") as guesser, asgi_client(app, "10.14.1.2") as other:
        for i in range(4):
            t = tenant if i % 2 else other_tenant
            r = await guesser.post("/api/v1/auth/login",
                                   json=_login(t, f"u{i}@{t.slug}.example", "wrong"))
            assert_problem(r, 401, "invalid_login")
        user = await tenant.add_user("member", password=PASSWORD)
        refused = await guesser.post("/api/v1/auth/login",
                                     json=_login(tenant, user.email, PASSWORD))
        assert refused.status_code == 429 and refused.json()["code"] == "too_many_attempts"
        # another address is not affected
        ok = await other.post("/api/v1/auth/login", json=_login(tenant, user.email, PASSWORD))
        assert ok.status_code == 200


async def test_repeated_lockouts_back_off_exponentially(runtime: Runtime,
                                                        tenant: Tenant) -> None:
    clock.freeze()
    app = app_with(runtime, login_max_failures=2, login_lockout_seconds=60)
    async with asgi_client(app, "10.14.2.1") as c:
        body = _login(tenant, f"x@{tenant.slug}.example", "wrong")
        waits = []
        for _ in range(3):
            for _ in range(2):
                assert_problem(await c.post("/api/v1/auth/login", json=body), 401, "invalid_login")
            r = await c.post("/api/v1/auth/login", json=body)
            assert_problem(r, 429, "too_many_attempts")
            waits.append(int(r.headers["retry-after"]))
            clock.advance(timedelta(seconds=waits[-1]))
        assert waits == [60, 120, 240]


async def test_invalid_refresh_and_invitation_tokens_are_throttled_per_address(
        runtime: Runtime) -> None:
    clock.freeze()
    app = app_with(runtime, token_ip_max_failures=3, login_lockout_seconds=30)
    async with asgi_client(app, "10.14.3.1") as c, asgi_client(app, "10.14.3.2") as other:
        for _ in range(3):
            r = await c.post("/api/v1/auth/refresh", json={"refresh_token": "dcr_" + "x" * 43})
            assert_problem(r, 401, "invalid_refresh_token")
        r = await c.post("/api/v1/auth/refresh", json={"refresh_token": "dcr_" + "y" * 43})
        assert r.status_code == 429 and r.headers["retry-after"] == "30"
        assert r.json()["code"] == "too_many_attempts"
        r = await other.post("/api/v1/auth/refresh", json={"refresh_token": "dcr_" + "y" * 43})
        assert_problem(r, 401, "invalid_refresh_token")

        for _ in range(3):
            r = await c.post("/api/v1/invitations/dci_" + "z" * 43 + "/accept")
            assert_problem(r, 404, "invitation_not_found")
        r = await c.post("/api/v1/invitations/dci_" + "z" * 43 + "/accept")
        assert_problem(r, 429, "too_many_attempts")

        for _ in range(3):
            r = await c.post("/api/v1/settings/ip-allowlist/emergency-reset/" + "q" * 43)
            assert_problem(r, 404, "reset_token_invalid")
        r = await c.post("/api/v1/settings/ip-allowlist/emergency-reset/" + "q" * 43)
        assert_problem(r, 429, "too_many_attempts")
