"""A real DNS server (dnslib) on loopback that serves the records a test publishes, and an
app whose resolver asks it (DRIFT_DNS_NAMESERVERS)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from dnslib import QTYPE, RCODE, RR, TXT, A, DNSRecord
from dnslib.server import BaseResolver, DNSServer

from app.core.runtime import Runtime
from tests.conftest import app_with, asgi_client

PREFIX = "/api/v1/settings/domains"


@dataclass
class Zone(BaseResolver):  # type: ignore[misc]
    """Authoritative answers for what the test published: TXT strings per name, names that
    exist without TXT, and names whose server fails. Everything else is NXDOMAIN."""

    txt: dict[str, list[str]] = field(default_factory=dict)
    other: set[str] = field(default_factory=set)
    failing: set[str] = field(default_factory=set)

    def publish(self, name: str, *values: str) -> None:
        self.txt.setdefault(name.lower().rstrip("."), []).extend(values)

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        qname = str(request.q.qname).lower().rstrip(".")
        if qname in self.failing:
            reply.header.rcode = RCODE.SERVFAIL
        elif qname in self.txt:
            if request.q.qtype == QTYPE.TXT:
                for value in self.txt[qname]:
                    reply.add_answer(RR(qname, QTYPE.TXT, rdata=TXT(value), ttl=60))
        elif qname in self.other:
            if request.q.qtype == QTYPE.A:
                reply.add_answer(RR(qname, QTYPE.A, rdata=A("192.0.2.1"), ttl=60))
        else:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def zone() -> Zone:
    return Zone()


@contextlib.contextmanager
def running_dns(zone: Zone) -> Iterator[str]:
    """A dnslib DNSServer (UDP, loopback) answering from `zone`; yields "127.0.0.1:port"."""
    port = _free_udp_port()
    server = DNSServer(zone, address="127.0.0.1", port=port, logger=_Quiet())
    server.start_thread()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def dns_server(zone: Zone) -> Iterator[str]:
    with running_dns(zone) as address:
        yield address


class _Quiet:
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


@pytest.fixture
async def dns_client(runtime: Runtime, dns_server: str) -> AsyncIterator[httpx.AsyncClient]:
    app = app_with(runtime, dns_nameservers=[dns_server], dns_timeout=3.0)
    async with asgi_client(app) as client:
        yield client
