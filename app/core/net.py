"""Client address resolution and CIDR helpers.

The client is the socket peer unless the peer is a trusted proxy; then it is the rightmost
X-Forwarded-For address that is not itself a trusted proxy. A malformed header yields no
address at all (None), which the IP allowlist treats as "not allowed".
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from app.config import Network

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def normalize(ip: IPAddress) -> IPAddress:
    """IPv4-mapped IPv6 (::ffff:10.1.2.3) is the IPv4 address it carries."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def parse_ip(value: str) -> IPAddress | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1 and "." in value:  # v4:port
        value = value.split(":", 1)[0]
    try:
        return normalize(ipaddress.ip_address(value))
    except ValueError:
        return None


def in_networks(ip: IPAddress, networks: Iterable[Network]) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


def client_ip(peer: str | None, forwarded_for: Sequence[str],
              trusted_proxies: Sequence[Network]) -> IPAddress | None:
    """Resolve the client address of a request (see module docstring)."""
    if peer is None:
        return None
    peer_ip = parse_ip(peer)
    if peer_ip is None:
        return None
    if not trusted_proxies or not in_networks(peer_ip, trusted_proxies):
        return peer_ip
    hops: list[str] = []
    for header in forwarded_for:
        hops.extend(h for h in (p.strip() for p in header.split(",")))
    if not hops:
        return peer_ip
    for hop in reversed(hops):
        ip = parse_ip(hop)
        if ip is None:
            return None  # malformed chain: refuse to guess
        if not in_networks(ip, trusted_proxies):
            return ip
    # every hop is a trusted proxy: the leftmost is the closest we have to a client
    return parse_ip(hops[0])
