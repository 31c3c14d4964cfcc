"""Verified domains against a real DNS server on loopback: the challenge, verification and its
failures, one verifying organisation per domain, tenant isolation, home-realm discovery."""

from __future__ import annotations

from typing import Any

import httpx

from app.domains.service import tenant_for_email
from tests.conftest import Tenant, assert_problem, audit_events
from tests.domains.conftest import PREFIX, Zone


async def add(client: httpx.AsyncClient, t: Tenant, domain: str) -> dict[str, Any]:
    r = await client.post(PREFIX, headers=t.headers, json={"domain": domain})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def publish(zone: Zone, entry: dict[str, Any]) -> None:
    zone.publish(entry["challenge"]["name"], entry["challenge"]["value"])


async def test_verify_with_the_published_challenge(dns_client: httpx.AsyncClient, zone: Zone,
                                                   tenant: Tenant) -> None:
    entry = await add(dns_client, tenant, "  Acme-Widgets.example.  ")
    assert entry["domain"] == "acme-widgets.example" and entry["status"] == "pending"
    ch = entry["challenge"]
    assert ch["name"] == "_drift-challenge.acme-widgets.example" and ch["type"] == "TXT"
    assert ch["value"].startswith("drift-verification=") and len(ch["value"]) > 40
    assert ch["record"] == f'{ch["name"]} TXT "{ch["value"]}"'
    assert await tenant_for_email(tenant.rt.db, "ada@acme-widgets.example") is None

    zone.publish(ch["name"], "google-site-verification=unrelated")  # other TXT values coexist
    publish(zone, entry)
    r = await dns_client.post(f"{PREFIX}/{entry['id']}/verify", headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "verified" and r.json()["verified_at"]

    listed = (await dns_client.get(PREFIX, headers=tenant.headers)).json()
    assert [(d["domain"], d["status"]) for d in listed["data"]] == [
        ("acme-widgets.example", "verified")]
    # home-realm discovery, whatever the address's case
    assert await tenant_for_email(tenant.rt.db, "Ada@ACME-Widgets.example") == tenant.id
    assert await tenant_for_email(tenant.rt.db, "ada@other.example") is None
    events = await audit_events(tenant, resource_type="domain")
    assert [e["action"] for e in events] == ["domain.add", "domain.verified"]
    assert events[1]["metadata"]["domain"] == "acme-widgets.example"
    assert events[1]["actor_id"] == tenant.owner.id
    # verifying again is a no-op
    again = await dns_client.post(f"{PREFIX}/{entry['id']}/verify", headers=tenant.headers)
    assert again.status_code == 200 and again.json() == r.json()

    assert (await dns_client.delete(f"{PREFIX}/{entry['id']}", headers=tenant.headers)
            ).status_code == 204
    assert await tenant_for_email(tenant.rt.db, "ada@acme-widgets.example") is None
    assert [e["action"] for e in await audit_events(tenant, resource_type="domain")][-1] == \
        "domain.remove"


async def test_international_domain_is_stored_as_punycode(
        dns_client: httpx.AsyncClient, zone: Zone, tenant: Tenant) -> None:
    entry = await add(dns_client, tenant, "Bücher.example")
    assert entry["domain"] == "xn--bcher-kva.example"
    publish(zone, entry)
    r = await dns_client.post(f"{PREFIX}/{entry['id']}/verify", headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert await tenant_for_email(tenant.rt.db, "jo@bücher.example") == tenant.id
    assert await tenant_for_email(tenant.rt.db, "jo@xn--bcher-kva.example") == tenant.id


async def _verify_fails(client: httpx.AsyncClient, t: Tenant, entry: dict[str, Any],
                        status: int, code: str) -> None:
    r = await client.post(f"{PREFIX}/{entry['id']}/verify", headers=t.headers)
    assert r.status_code == status, r.text
    assert r.json()["code"] == code
    assert entry["challenge"]["name"] in r.json()["detail"] or status == 503
    got = (await client.get(f"{PREFIX}/{entry['id']}", headers=t.headers)).json()
    assert got["status"] == "pending" and got["verified_at"] is None
    assert [e["action"] for e in await audit_events(t, resource_type="domain")] == ["domain.add"]


async def test_wrong_token_does_not_verify(dns_client: httpx.AsyncClient, zone: Zone,
                                           tenant: Tenant) -> None:
    entry = await add(dns_client, tenant, "wrong-token.example")
    zone.publish(entry["challenge"]["name"], "drift-verification=someone-elses-token")
    await _verify_fails(dns_client, tenant, entry, 400, "txt_token_mismatch")
    assert await tenant_for_email(tenant.rt.db, "x@wrong-token.example") is None


async def test_missing_txt_record_does_not_verify(dns_client: httpx.AsyncClient, zone: Zone,
                                                  tenant: Tenant) -> None:
    entry = await add(dns_client, tenant, "no-record.example")
    zone.other.add(entry["challenge"]["name"])  # the name exists, with an A record only
    await _verify_fails(dns_client, tenant, entry, 400, "txt_record_missing")


async def test_nxdomain_does_not_verify(dns_client: httpx.AsyncClient, tenant: Tenant) -> None:
    entry = await add(dns_client, tenant, "nothing-published.example")
    await _verify_fails(dns_client, tenant, entry, 400, "dns_name_not_found")


async def test_failing_dns_is_a_503(dns_client: httpx.AsyncClient, zone: Zone,
                                    tenant: Tenant) -> None:
    entry = await add(dns_client, tenant, "servfail.example")
    zone.failing.add(entry["challenge"]["name"])
    await _verify_fails(dns_client, tenant, entry, 503, "dns_unavailable")


async def test_a_domain_verified_by_one_tenant_cannot_be_verified_by_another(
        dns_client: httpx.AsyncClient, zone: Zone, tenant: Tenant, other_tenant: Tenant
        ) -> None:
    ours = await add(dns_client, tenant, "contested.example")
    # the other tenant adds it while it is still pending (allowed: nobody has proven control)
    theirs = await add(dns_client, other_tenant, "contested.example")
    assert theirs["challenge"]["value"] != ours["challenge"]["value"]
    publish(zone, ours)
    r = await dns_client.post(f"{PREFIX}/{ours['id']}/verify", headers=tenant.headers)
    assert r.status_code == 200, r.text

    # even with its own challenge published too, the other tenant cannot verify it
    publish(zone, theirs)
    r = await dns_client.post(f"{PREFIX}/{theirs['id']}/verify", headers=other_tenant.headers)
    assert r.status_code == 409 and r.json()["code"] == "domain_claimed", r.text
    got = (await dns_client.get(f"{PREFIX}/{theirs['id']}", headers=other_tenant.headers)).json()
    assert got["status"] == "pending"
    # nor add it again now that it is verified elsewhere
    r = await dns_client.post(PREFIX, headers=other_tenant.headers,
                              json={"domain": "CONTESTED.example"})
    assert r.status_code == 409 and r.json()["code"] == "domain_claimed"
    assert await tenant_for_email(tenant.rt.db, "x@contested.example") == tenant.id

    # once the holder removes it, the other tenant can prove control
    await dns_client.delete(f"{PREFIX}/{ours['id']}", headers=tenant.headers)
    r = await dns_client.post(f"{PREFIX}/{theirs['id']}/verify", headers=other_tenant.headers)
    assert r.status_code == 200, r.text
    assert await tenant_for_email(tenant.rt.db, "x@contested.example") == other_tenant.id


async def test_another_tenants_domain_is_not_found(dns_client: httpx.AsyncClient, zone: Zone,
                                                   tenant: Tenant, other_tenant: Tenant) -> None:
    entry = await add(dns_client, tenant, "private.example")
    publish(zone, entry)
    url = f"{PREFIX}/{entry['id']}"
    for method, path in (("GET", url), ("POST", f"{url}/verify"), ("DELETE", url)):
        r = await dns_client.request(method, path, headers=other_tenant.headers)
        assert r.status_code == 404 and r.json()["code"] == "not_found", (method, r.text)
    listed = (await dns_client.get(PREFIX, headers=other_tenant.headers)).json()
    assert listed["data"] == []
    got = (await dns_client.get(url, headers=tenant.headers)).json()
    assert got["status"] == "pending"


async def test_input_rules_and_roles(dns_client: httpx.AsyncClient, tenant: Tenant) -> None:
    for bad in ("com", "not a domain", "192.0.2.1", "-x.example", "a" * 64 + ".example", "00"):
        r = await dns_client.post(PREFIX, headers=tenant.headers, json={"domain": bad})
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["code"] == "invalid_domain"
    r = await dns_client.post(PREFIX, headers=tenant.headers, json={"domain": "  "})
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    assert (await dns_client.get(PREFIX, headers=tenant.headers)).json()["data"] == []
    await add(dns_client, tenant, "dup.example")
    r = await dns_client.post(PREFIX, headers=tenant.headers, json={"domain": "DUP.example."})
    assert r.status_code == 409 and r.json()["code"] == "domain_exists"
    member = await tenant.add_user("member")
    for method in ("GET", "POST"):
        r = await dns_client.request(method, PREFIX, headers=member.headers,
                                     json={"domain": "m.example"} if method == "POST" else None)
        assert_problem(r, 403, "insufficient_role")
    assert len((await dns_client.get(PREFIX, headers=tenant.headers)).json()["data"]) == 1
