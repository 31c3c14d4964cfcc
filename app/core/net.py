"""Client address resolution and CIDR helpers.

The client is the socket peer unless the peer is a trusted proxy (DRIFT_TRUSTED_PROXIES); then
it is the rightmost X-Forwarded-For address that is not itself a trusted proxy. Hops to the left
of that address were written by the client and are never read, whatever they contain (so a
spoofed leftmost value cannot help). Everything we do read must be a well-formed address:

- a malformed hop where we must read one (not an address, an empty list element, a bad port)
  gives no address at all (None);
- a trusted peer that sent no X-Forwarded-For, or a chain made only of trusted proxies, names no
  client either: None. (A proxy that forwards without appending the header cannot be believed
  about anything; failing closed is the only safe reading.)

None means "unknown", which the IP allowlist refuses whenever a tenant has entries. IPv4-mapped
IPv6 (::ffff:10.1.2.3) is the IPv4 address it carries, and IPv6 zone ids (fe80::1%eth0) are
dropped: they name a local interface, not a client.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence

from app.config import Network

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def normalize(ip: IPAddress) -> IPAddress:
    """IPv4-mapped IPv6 (::ffff:10.1.2.3) is the IPv4 address it carries; no zone ids."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.scope_id is not None:
            return ipaddress.IPv6Address(ip.packed)
    return ip


def normalize_network(net: Network) -> Network:
    """An IPv6 network inside ::ffff:0:0/96 (prefix >= 96) is the IPv4 network it maps."""
    if (isinstance(net, ipaddress.IPv6Network) and net.prefixlen >= 96
            and net.subnet_of(_MAPPED)):
        mapped = net.network_address.ipv4_mapped
        if mapped is None:
            raise RuntimeError("expected mapped is not None")
        return ipaddress.IPv4Network(f"{mapped}/{net.prefixlen - 96}")
    return net


def _port_ok(port: str) -> bool:
    return port.isdigit() and len(port) <= 5 and int(port) <= 65535


@functools.lru_cache(maxsize=4096)
def parse_ip(value: str) -> IPAddress | None:
    """An address as found in a socket peer or an X-Forwarded-For hop (an optional port is
    allowed: `1.2.3.4:80`, `[2001:db8::1]:443`); None if it is not one. Cached: every request
    parses its peer address, and address objects are immutable."""
    value = value.strip()
    if not value:
        return None
    if value.startswith("["):  # [v6] or [v6]:port
        end = value.find("]")
        if end < 0:
            return None
        rest = value[end + 1:]
        if rest and not (rest.startswith(":") and _port_ok(rest[1:])):
            return None
        value = value[1:end]
    elif value.count(":") == 1:  # v4:port (a bare IPv6 address has at least two colons)
        value, _, port = value.partition(":")
        if not _port_ok(port):
            return None
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
    if not trusted_proxies:
        return peer_ip
    trusted = [normalize_network(n) for n in trusted_proxies]
    if not in_networks(peer_ip, trusted):
        return peer_ip
    hops: list[str] = []
    for header in forwarded_for:
        hops.extend(header.split(","))
    for hop in reversed(hops):
        ip = parse_ip(hop)
        if ip is None:
            return None  # malformed where we must read: refuse to guess
        if not in_networks(ip, trusted):
            return ip
    # no header, or every hop is a trusted proxy: no client address we can believe
    return None
