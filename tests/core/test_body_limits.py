"""Request body limits (RequestContextMiddleware): bodies over the limit are refused with 413
before they are read, by Content-Length or, for chunked bodies, as the bytes arrive.

The live-server tests speak raw HTTP/1.1 over a socket, so they control exactly what is sent:
a Content-Length with no body at all (a server that waited for the body would never answer),
and chunked bodies (no Content-Length for the server to go by)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from app.scim.constants import MAX_PAYLOAD_SIZE
from tests.conftest import LiveServer, Tenant, audit_events
from tests.scim.conftest import SCIM_JSON, assert_scim_error, create_token

LIMIT = 1_048_576  # DRIFT_MAX_BODY_BYTES default
TIMEOUT = 15.0
PASSWORD = "correct horse battery staple"


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


async def exchange(server: LiveServer, method: str, path: str, headers: dict[str, str],
                   chunks: Iterable[bytes] = (), *, chunked: bool = False) -> RawResponse:
    """Send one request (the body as chunks, chunk-encoded if `chunked`) and read the answer
    until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(head.encode() + b"\r\n")
        body = [b"%x\r\n%s\r\n" % (len(c), c) for c in chunks] if chunked else list(chunks)
        if chunked:  # the last chunk and the terminator in one write: the server reads both,
            body[-1:] = [body[-1] + b"0\r\n\r\n"] if body else [b"0\r\n\r\n"]
        try:  # so nothing is left unread when it closes (which would reset the connection)
            for piece in body:
                writer.write(piece)
                await writer.drain()
        except ConnectionError:  # the server answered and closed while we were still sending
            pass
        async with asyncio.timeout(TIMEOUT):
            raw = await reader.read()
    finally:
        writer.close()
    head_bytes, _, rest = raw.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    out_headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in lines[1:])}
    length = int(out_headers.get("content-length", len(rest)))
    return RawResponse(int(lines[0].split()[1]), out_headers, rest[:length])


def padded(body: dict[str, Any], size: int) -> bytes:
    """`body` as JSON followed by whitespace (still valid JSON) to exactly `size` bytes."""
    raw = orjson.dumps(body)
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


def pieces(data: bytes, n: int = 65_536) -> list[bytes]:
    return [data[i:i + n] for i in range(0, len(data), n)]


def assert_too_large(r: httpx.Response | RawResponse, limit: int = LIMIT) -> None:
    assert r.status_code == 413 if isinstance(r, httpx.Response) else r.status == 413, r
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == "payload_too_large"
    assert str(limit) in body["detail"]


async def test_declared_length_over_the_limit_is_refused_before_any_byte_is_read(
        live_server: LiveServer) -> None:
    """The 200 MB login body of the live probe: the answer comes without one body byte
    having been sent (a server reading the body would still be waiting for it)."""
    r = await exchange(live_server, "POST", "/api/v1/auth/login",
                       {"Content-Type": "application/json", "Content-Length": str(200 * 2**20)})
    assert_too_large(r)
    assert r.headers["connection"] == "close"
    assert r.headers.get("x-request-id")


async def test_body_over_the_limit_changes_nothing_and_one_at_the_limit_works(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    name = f"big-{uuid.uuid4().hex[:8]}"
    r = await client.post("/api/v1/projects", content=padded({"name": name}, LIMIT + 1),
                          headers={**tenant.headers, "Content-Type": "application/json"})
    assert_too_large(r)
    assert await tenant.sql("SELECT id FROM projects WHERE name = $1", name) == []
    assert await audit_events(tenant, action="project.create") == []
    r = await client.post("/api/v1/projects", content=padded({"name": name}, LIMIT),
                          headers={**tenant.headers, "Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    assert len(await tenant.sql("SELECT id FROM projects WHERE name = $1", name)) == 1


async def test_chunked_body_over_the_limit_is_refused_as_it_arrives(
        live_server: LiveServer) -> None:
    body = b'{"tenant": "t", "email": "a@b.example", "password": "' + b"x" * LIMIT + b'"}'
    r = await exchange(live_server, "POST", "/api/v1/auth/login",
                       {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                       pieces(body), chunked=True)
    assert_too_large(r)


async def test_chunked_body_at_the_limit_is_read(live_server: LiveServer, make_tenant: Any
                                                 ) -> None:
    t: Tenant = await make_tenant(owner_password=PASSWORD)
    body = padded({"tenant": t.slug, "email": t.owner.email, "password": PASSWORD}, LIMIT)
    r = await exchange(live_server, "POST", "/api/v1/auth/login",
                       {"Content-Type": "application/json", "Transfer-Encoding": "chunked",
                        "Connection": "close"}, pieces(body), chunked=True)
    assert r.status == 200, r.body
    assert r.json()["access_token"]


async def test_scim_bulk_over_max_payload_size_is_a_scim_error(
        live_server: LiveServer, client: httpx.AsyncClient, tenant: Tenant) -> None:
    """SCIM refuses what it advertises (bulk.maxPayloadSize) with its own Error schema
    (RFC 7644 3.7.4: 413, status "413"), before authentication and before reading."""
    token = (await create_token(client, tenant))["token"]
    bulk = padded({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                   "Operations": []}, MAX_PAYLOAD_SIZE + 1)
    for headers in ({"Authorization": f"Bearer {token}"}, {}):  # even without a credential
        r = await client.post("/scim/v2/Bulk", content=bulk,
                              headers={**headers, "Content-Type": SCIM_JSON})
        assert_scim_error(r, 413)
        assert str(MAX_PAYLOAD_SIZE) in r.json()["detail"]
    raw = await exchange(live_server, "POST", "/scim/v2/Bulk",
                         {"Content-Type": SCIM_JSON, "Transfer-Encoding": "chunked",
                          "Authorization": f"Bearer {token}"}, pieces(bulk), chunked=True)
    assert raw.status == 413 and raw.headers["content-type"].startswith(SCIM_JSON)
    assert raw.json()["status"] == "413" and raw.json()["schemas"] == [
        "urn:ietf:params:scim:api:messages:2.0:Error"]


async def test_sync_accepts_bodies_over_the_general_limit(client: httpx.AsyncClient,
                                                          tenant: Tenant) -> None:
    """A real upload: 2,000 violations with the code snippets clients send (and the service
    drops) is about 1.9 MB, over DRIFT_MAX_BODY_BYTES; the sync route has its own limit."""
    r = await client.post("/api/v1/projects", headers=tenant.headers, json={"name": "Core"})
    assert r.status_code == 201, r.text
    snippet = "    const token = process.env.API_TOKEN ?? 'sk_live_0123456789abcdef';  // x\n" * 5
    body = {"project_id": r.json()["id"],
            "scan": {"id": "scan-big", "started_at": "2026-11-21T10:00:00Z",
                     "completed_at": "2026-11-21T10:01:30Z", "files_scanned": 9000,
                     "duration_ms": 90000, "counts": {"low": 2000}},
            "violations": [{"fingerprint": f"fp-{i:05d}", "rule": "no-hardcoded-secrets",
                            "severity": "low", "file": f"src/module_{i}/handler.ts",
                            "line": i, "message": "A secret-looking literal in source",
                            "code": snippet, "snippet": snippet} for i in range(2000)]}
    raw = orjson.dumps(body)
    assert len(raw) > LIMIT
    r = await client.post("/api/v1/sync", content=raw,
                          headers={**tenant.headers, "Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    assert r.json()["violations"]["received"] == 2000
