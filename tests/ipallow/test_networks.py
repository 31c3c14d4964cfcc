"""Client address resolution and matching, without HTTP; in-memory matching agrees with SQL."""

from __future__ import annotations

import ipaddress
import random
from datetime import UTC, datetime, timedelta

import pytest

from app.config import parse_networks
from app.core.db import connect
from app.core.errors import BadRequest
from app.core.net import client_ip, normalize, parse_ip
from app.ipallow.networks import CompiledList, Entry, bypass_list, decide, parse_cidr
from tests.conftest import DbInfo, Tenant
from tests.ipallow.conftest import add_entry

PROXIES = parse_networks("10.0.0.0/8, 2001:db8:ffff::/48")
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("peer", "xff", "expected"), [
    # untrusted peer: the header is ignored
    ("203.0.113.5", ["198.51.100.1"], "203.0.113.5"),
    ("203.0.113.5", ["garbage"], "203.0.113.5"),
    # trusted peer: rightmost hop that is not a proxy
    ("10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
    ("10.0.0.2", ["1.1.1.1, 198.51.100.1, 10.0.0.3"], "198.51.100.1"),
    ("10.0.0.2", ["1.1.1.1", "198.51.100.1"], "198.51.100.1"),
    ("10.0.0.2", ["junk, 198.51.100.1"], "198.51.100.1"),  # never read left of the client
    ("10.0.0.2", ["198.51.100.1:4711"], "198.51.100.1"),
    ("10.0.0.2", ["[2001:db8::7]:443"], "2001:db8::7"),
    ("10.0.0.2", ["2001:db8::7"], "2001:db8::7"),
    ("10.0.0.2", ["::ffff:198.51.100.1"], "198.51.100.1"),
    ("2001:db8:ffff::1", ["198.51.100.1, 2001:db8:ffff::2"], "198.51.100.1"),
    ("::ffff:10.0.0.2", ["198.51.100.1"], "198.51.100.1"),  # mapped peer is the IPv4 proxy
    # trusted peer, nothing believable: None (refused wherever a list exists)
    ("10.0.0.2", [], None),
    ("10.0.0.2", ["10.0.0.3"], None),
    ("10.0.0.2", ["198.51.100.1, garbage"], None),
    ("10.0.0.2", ["198.51.100.1,"], None),
    ("10.0.0.2", [""], None),
    ("10.0.0.2", ["198.51.100.1:http"], None),
    ("10.0.0.2", ["198.51.100.1:70000"], None),
    ("10.0.0.2", ["[2001:db8::7"], None),
    ("10.0.0.2", ["[2001:db8::7]x"], None),
    ("10.0.0.2", ["unknown"], None),
    # peers
    ("::ffff:203.0.113.5", [], "203.0.113.5"),
    ("fe80::1%eth0", [], "fe80::1"),
    ("not-an-address", [], None),
    (None, ["198.51.100.1"], None),
])
def test_client_ip(peer: str | None, xff: list[str], expected: str | None) -> None:
    got = client_ip(peer, xff, PROXIES)
    assert (str(got) if got is not None else None) == expected


def test_no_trusted_proxies_means_the_peer() -> None:
    assert str(client_ip("10.0.0.2", ["198.51.100.1"], [])) == "10.0.0.2"


def test_mapped_trusted_proxy_networks_work() -> None:
    mapped = parse_networks("::ffff:10.0.0.0/104")
    assert str(client_ip("10.0.0.2", ["198.51.100.1"], mapped)) == "198.51.100.1"


def test_parse_ip_and_normalize() -> None:
    assert parse_ip(" 192.0.2.1 ") == ipaddress.IPv4Address("192.0.2.1")
    assert parse_ip("010.1.1.1") is None
    assert normalize(ipaddress.IPv6Address("::ffff:1.2.3.4")) == ipaddress.IPv4Address("1.2.3.4")


def test_parse_cidr() -> None:
    assert str(parse_cidr("10.0.0.1")) == "10.0.0.1/32"
    assert str(parse_cidr("2001:db8::1")) == "2001:db8::1/128"
    assert str(parse_cidr("::ffff:10.0.0.0/104")) == "10.0.0.0/8"
    assert str(parse_cidr("::ffff:0:0/96")) == "0.0.0.0/0"  # all of IPv4, mapped
    assert str(parse_cidr("::/80")) == "::/80"  # wider than the mapped range: stays IPv6
    with pytest.raises(BadRequest) as exc:
        parse_cidr("10.0.0.1/8")
    assert exc.value.code == "cidr_host_bits_set" and exc.value.extra["suggestion"] == "10.0.0.0/8"
    with pytest.raises(BadRequest) as exc:
        parse_cidr("::ffff:10.0.0.1/104")
    assert exc.value.extra["suggestion"] == "10.0.0.0/8"


def test_decide() -> None:
    lst = CompiledList([Entry(None, ipaddress.ip_network("10.0.0.0/8")),
                        Entry(None, ipaddress.ip_network("10.1.0.0/16"),
                              NOW - timedelta(seconds=1)),
                        Entry(None, ipaddress.ip_network("2001:db8::/32"),
                              NOW + timedelta(seconds=1))])
    ip = ipaddress.ip_address
    assert decide(CompiledList([]), None, NOW).allowed  # empty is open, even for unknown
    assert decide(lst, ip("10.1.2.3"), NOW).entry == lst.entries[0]  # expired /16 skipped
    assert decide(lst, ip("2001:db8::5"), NOW).reason == "entry"
    assert decide(lst, ip("2001:db8::5"), NOW + timedelta(seconds=1)).reason == "not_listed"
    assert decide(lst, None, NOW).reason == "unknown_address"
    bypass = bypass_list(parse_networks("192.0.2.0/24"))
    assert decide(lst, ip("192.0.2.9"), NOW, bypass).reason == "bypass"
    assert not decide(lst, ip("192.0.3.9"), NOW, bypass).allowed


def _random_network(rng: random.Random) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if rng.random() < 0.7:
        plen = rng.choice([8, 12, 16, 20, 24, 28, 30, 32])
        addr = ipaddress.IPv4Address(rng.getrandbits(32) & 0xC0A8FFFF | 0x0A000000)
        return ipaddress.ip_network(f"{addr}/{plen}", strict=False)
    plen = rng.choice([32, 48, 56, 64, 128])
    addr = ipaddress.IPv6Address((0x20010DB8 << 96) | rng.getrandbits(64) << 32)
    return ipaddress.ip_network(f"{addr}/{plen}", strict=False)


async def test_in_memory_matching_agrees_with_sql(tenant: Tenant) -> None:
    """The cache matches in memory, /check and lock-out protection in SQL (`cidr >>= ip`):
    the same rows must give the same answer for every address."""
    rng = random.Random(7)
    nets = {_random_network(rng) for _ in range(60)}
    now = datetime.now(UTC)
    entries = []
    for i, net in enumerate(sorted(nets, key=str)):
        expires = now - timedelta(hours=1) if i % 7 == 0 else None
        entry_id = await add_entry(tenant, str(net), expires_at=expires)
        entries.append(Entry(entry_id, net, expires))
    compiled = CompiledList(entries)
    probes = [ipaddress.ip_address(rng.choice([str(n.network_address), str(n[-1])]))
              for n in nets]
    probes += [ipaddress.IPv4Address(rng.getrandbits(32) & 0x0AFFFFFF | 0x0A000000)
               for _ in range(100)]
    probes += [ipaddress.IPv6Address((0x20010DB8 << 96) | rng.getrandbits(96))
               for _ in range(50)]
    for ip in probes:
        row = await tenant.sql(
            "SELECT id FROM ip_allowlist WHERE cidr >>= $1::inet"
            " AND (expires_at IS NULL OR expires_at > $2) ORDER BY masklen(cidr) DESC LIMIT 1",
            ip, now)
        hit = compiled.match(ip, now)
        assert (row[0]["id"] if row else None) == (hit.id if hit else None), ip


async def test_the_gist_index_serves_containment(test_db: DbInfo, tenant: Tenant) -> None:
    """`cidr >>= ip` (the same as `ip <<= cidr`) can be answered by the GiST inet_ops index.
    (Under RLS with a few entries per tenant the planner prefers the tenant's btree range,
    which is cheaper; the plan is checked here without RLS, as a superuser.)"""
    await add_entry(tenant, "10.0.0.0/8")
    conn = await connect(test_db.superuser_url)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL enable_seqscan = off")
            for sql in ("EXPLAIN SELECT id FROM ip_allowlist WHERE cidr >>= '10.1.2.3'::inet",
                        "EXPLAIN SELECT id FROM ip_allowlist WHERE '10.1.2.3'::inet <<= cidr"):
                plan = "\n".join(r[0] for r in await conn.fetch(sql))
                assert "ip_allowlist_cidr_gist" in plan, plan
    finally:
        await conn.close()
