"""https deliveries connect to the vetted address while TLS verifies the host name (SNI)."""

from __future__ import annotations

import ssl

import httpx
import pytest

from app.core.runtime import Runtime
from app.webhooks import dispatcher
from tests.conftest import Tenant
from tests.webhooks.conftest import TLS_HOST, Receiver, TlsFiles
from tests.webhooks.helpers import deliver, deliveries, emit_events, register


@pytest.fixture
def trust_test_ca(monkeypatch: pytest.MonkeyPatch, tls_files: TlsFiles) -> None:
    def context() -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(tls_files.ca_pem))

    monkeypatch.setattr(dispatcher, "tls_context", context)


@pytest.mark.usefixtures("trust_test_ca")
async def test_https_delivery_verifies_the_certificate_for_the_host_name(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, tls_receiver: Receiver,
        fake_dns: dict[str, list[str]]) -> None:
    fake_dns[TLS_HOST] = ["127.0.0.1"]
    fake_dns["impostor.drift.test"] = ["127.0.0.1"]
    good = tls_receiver.hook()
    bad = tls_receiver.hook()
    await register(client, tenant, good.url.replace("127.0.0.1", TLS_HOST), ["sync.failed"])
    # same address, but the certificate does not name this host: refused by TLS
    await register(client, tenant, bad.url.replace("127.0.0.1", "impostor.drift.test"),
                   ["sync.failed"])
    await emit_events(tenant, 1)
    await deliver(runtime, tenant)
    (got,) = await good.wait_for(1)
    assert got.headers["host"] == f"{TLS_HOST}:{tls_receiver.port}"
    assert bad.requests == []
    rows = {r["status"]: r for r in await deliveries(tenant)}
    assert set(rows) == {"delivered", "pending"}
    assert "CERTIFICATE_VERIFY_FAILED" in rows["pending"]["error"] or \
        "match" in rows["pending"]["error"], rows["pending"]["error"]


async def test_https_to_an_untrusted_certificate_fails(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, tls_receiver: Receiver,
        fake_dns: dict[str, list[str]]) -> None:
    fake_dns[TLS_HOST] = ["127.0.0.1"]
    hook = tls_receiver.hook()
    await register(client, tenant, hook.url.replace("127.0.0.1", TLS_HOST), ["sync.failed"])
    await emit_events(tenant, 1)
    await deliver(runtime, tenant)
    assert hook.requests == []
    (row,) = await deliveries(tenant)
    assert row["status"] == "pending" and "CERTIFICATE_VERIFY_FAILED" in row["error"]
