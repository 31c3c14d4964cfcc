"""Webhook test harness: a real HTTP receiver on loopback, fake DNS, and tenant hygiene.

- `receiver` (session): uvicorn in a thread serving /hooks/<name>. `receiver.hook(...)` makes a
  fresh hook with a reply script (status, headers, body, a delay to hang, a huge streamed
  body); the last reply repeats. Every request is recorded (headers, exact body bytes).
- `fake_dns`: replaces the resolver used at registration and at send time, so tests decide
  what a name resolves to (no real DNS).
- `make_tenant`/`tenant`/`other_tenant` are wrapped so that after each test the tenants it
  made keep no active endpoints or pending deliveries: a dispatcher run in a later test never
  picks up this test's leftovers.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn

from app.core.tx import own_tx
from app.webhooks import ssrf
from tests.conftest import Tenant, ThreadedServer, free_port


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0          # sleep before answering (a hanging receiver)
    stream_bytes: int = 0       # stream this many bytes as the body (a huge response)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    raw_headers: list[tuple[str, str]]
    body: bytes
    at: float
    peer: tuple[str, int] | None = None  # the sender's address and port

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Hook:
    base: str
    name: str
    script: list[Reply]
    requests: list[Received] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"/hooks/{self.name}"

    @property
    def url(self) -> str:
        return self.base + self.path

    def reply_for(self, n: int) -> Reply:
        return self.script[min(n, len(self.script) - 1)]

    async def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"hook {self.name}: {len(self.requests)} of {count} "
                                     f"requests within {timeout}s")
            await asyncio.sleep(0.02)
        return list(self.requests)

    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.requests]

    def events(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.requests]


class Receiver(ThreadedServer):
    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        self.port = free_port()
        self.base = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.hooks: dict[str, Hook] = {}
        super().__init__(uvicorn.Config(self.app, host="127.0.0.1", port=self.port,
                                        log_level="error", lifespan="off", access_log=False,
                                        interface="asgi3", timeout_graceful_shutdown=1,
                                        limit_concurrency=2000,
                                        ssl_certfile=str(tls[0]) if tls else None,
                                        ssl_keyfile=str(tls[1]) if tls else None),
                         stop_timeout=10)

    def hook(self, *script: Reply) -> Hook:
        h = Hook(base=self.base, name=secrets.token_hex(6), script=list(script) or [Reply()])
        self.hooks[h.path] = h
        return h

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        hook = self.hooks.get(scope["path"])
        if hook is None:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b"no such hook"})
            return
        raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        n = len(hook.requests)
        hook.requests.append(Received(method=scope["method"], path=scope["path"],
                                      headers={k.lower(): v for k, v in raw}, raw_headers=raw,
                                      body=bytes(body), at=time.monotonic(),
                                      peer=scope.get("client")))
        reply = hook.reply_for(n)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        headers = [(k.encode(), v.encode()) for k, v in reply.headers]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        if reply.stream_bytes:
            chunk = b"x" * 65536
            sent = 0
            while sent < reply.stream_bytes:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                sent += len(chunk)
            await send({"type": "http.response.body", "body": b""})
        else:
            await send({"type": "http.response.body", "body": reply.body})


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@dataclass(frozen=True)
class TlsFiles:
    ca_pem: Path
    cert: Path
    key: Path


def make_certificates(directory: Path, hostname: str) -> TlsFiles:
    """A throwaway CA and a server certificate for `hostname` signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Drift test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                       crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False,
                                       decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return files


TLS_HOST = "hooks.drift.test"


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_certificates(tmp_path_factory.mktemp("tls"), TLS_HOST)


@pytest.fixture(scope="session")
def tls_receiver(tls_files: TlsFiles) -> Iterator[Receiver]:
    """An https receiver whose certificate names TLS_HOST (signed by a test CA)."""
    r = Receiver(tls=(tls_files.cert, tls_files.key)).start()
    yield r
    r.stop()


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """name -> addresses; a name not in the table does not resolve."""
    table: dict[str, list[str]] = {}

    async def resolve(host: str, port: int) -> list[ssrf.IPAddress]:
        if host not in table:
            raise ssrf.ResolutionFailed(f"{host} could not be resolved")
        return [ipaddress.ip_address(a) for a in table[host]]

    monkeypatch.setattr(ssrf, "resolve", resolve)
    return table


# ---- tenant hygiene ----

async def quiesce(t: Tenant) -> None:
    """No active endpoint and no pending delivery left in this tenant."""
    async with own_tx(t.rt.db, t.id) as tx:
        await tx.execute("UPDATE webhook_endpoints SET active = false WHERE active")
        await tx.execute(
            "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL,"
            " locked_until = NULL, error = coalesce(error, 'test ended')"
            " WHERE status = 'pending'")


@pytest.fixture
async def make_tenant(make_tenant: Callable[..., Any]) -> AsyncIterator[Callable[..., Any]]:
    made: list[Tenant] = []

    async def factory(**kwargs: Any) -> Tenant:
        t: Tenant = await make_tenant(**kwargs)
        made.append(t)
        return t

    yield factory
    for t in made:
        await quiesce(t)


@pytest.fixture
async def tenant(make_tenant: Callable[..., Any]) -> Tenant:
    t: Tenant = await make_tenant()
    return t


@pytest.fixture
async def other_tenant(make_tenant: Callable[..., Any]) -> Tenant:
    t: Tenant = await make_tenant()
    return t
