"""Keeping webhook deliveries away from internal networks (SSRF).

Two checks, one policy:
- registration (validate_url): https only; the host, literal or resolved, must not be a
  loopback, private, link-local, CGNAT, unique-local, reserved, multicast or IPv4-embedding
  address, and `localhost`/`*.localhost` are loopback by definition (RFC 6761);
- send time (app.webhooks.transport, whenever a connection is opened): the host is resolved
  again, the connection is refused if ANY address is not public, and the socket is opened to
  the vetted address itself, while TLS SNI and certificate verification use the host name.
  DNS rebinding between the check and the connect is impossible: there is no second lookup.

Networks in DRIFT_WEBHOOK_ALLOWED_CIDRS are exempt from the address rules and may also be
reached over plain http (development and tests).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from app.config import Network

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

RESOLVE_TIMEOUT = 5.0

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_RFC1918 = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")
# IPv6 ranges that carry an IPv4 address inside (could smuggle a private one).
_EMBEDS_IPV4 = [ipaddress.ip_network(n) for n in (
    "::/96",            # IPv4-compatible (deprecated)
    "64:ff9b::/96",     # NAT64
    "64:ff9b:1::/48",   # local-use NAT64
    "2002::/16",        # 6to4
    "2001::/32",        # Teredo
)]


class UnsafeUrl(ValueError):
    """The URL may not be used as a webhook endpoint; str() is the reason."""


class BlockedAddress(Exception):
    """At send time the host resolved to an address the policy refuses."""


class ResolutionFailed(Exception):
    """The host name could not be resolved."""


def non_public_reason(ip: IPAddress) -> str | None:
    """Why `ip` is not a public unicast address, or None if it is one."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return "an IPv4-mapped IPv6 address"
        if ip.is_loopback:
            return "a loopback address"
        if ip.is_unspecified:
            return "an unspecified address"
        if any(ip in n for n in _EMBEDS_IPV4):
            return "an IPv6 address that embeds an IPv4 address (NAT64, 6to4, Teredo)"
        if ip in _UNIQUE_LOCAL:
            return "a unique-local address (fc00::/7)"
        if ip in _SITE_LOCAL:
            return "a site-local address (fec0::/10)"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_link_local:
        return "a link-local address (this includes cloud metadata services)"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address):
        if ip in _CGNAT:
            return "a carrier-grade NAT address (100.64.0.0/10)"
        if any(ip in n for n in _RFC1918):
            return "a private address (RFC 1918)"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global or ip.is_private:
        return "a special-purpose (non-public) address"
    return None


def is_allowed(ip: IPAddress, allowed: Sequence[Network]) -> bool:
    return any(ip.version == net.version and ip in net for net in allowed)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_localhost(host: str) -> bool:
    host = host.rstrip(".").lower()
    return host == "localhost" or host.endswith(".localhost")


async def resolve(host: str, port: int) -> list[IPAddress]:
    """All addresses `host` resolves to (for TCP), in resolver order, without duplicates."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                           proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, TimeoutError) as exc:
        raise ResolutionFailed(f"{host} could not be resolved") from exc
    out: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if ip not in out:
            out.append(ip)
    if not out:
        raise ResolutionFailed(f"{host} could not be resolved")
    return out


async def addresses(host: str, port: int) -> list[IPAddress]:
    literal = _literal(host)
    if literal is not None:
        return [literal]
    if _is_localhost(host):
        return [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    return await resolve(host, port)


def check_addresses(host: str, ips: Iterable[IPAddress], allowed: Sequence[Network], *,
                    plain_http: bool) -> None:
    """Raise UnsafeUrl unless every address may be reached (over http: every one is in an
    allowed network)."""
    literal = _literal(host) is not None
    for ip in ips:
        if is_allowed(ip, allowed):
            continue
        if plain_http:
            raise UnsafeUrl("Webhook URLs must use https (plain http is only allowed to "
                            "networks in DRIFT_WEBHOOK_ALLOWED_CIDRS).")
        reason = non_public_reason(ip)
        if reason is None:
            continue
        if literal:
            raise UnsafeUrl(f"{ip} is {reason}; webhooks are only delivered to public "
                            "addresses.")
        if _is_localhost(host):
            raise UnsafeUrl(f"{host} is a loopback name; webhooks are only delivered to "
                            "public addresses.")
        raise UnsafeUrl(f"{host} resolves to {ip}, {reason}; webhooks are only delivered "
                        "to public addresses.")


async def validate_url(url: str, allowed: Sequence[Network]) -> str:
    """The URL if it may be registered as a webhook endpoint, else UnsafeUrl (the reason)."""
    if not url.isascii() or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise UnsafeUrl("The URL must be ASCII without spaces or control characters; "
                        "percent-encode the path and use the punycode (xn--) host name.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"The URL is not valid: {exc}.") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise UnsafeUrl("Webhook URLs must use https.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("Webhook URLs must not contain a user name or password; verify our "
                        "signature instead.")
    host = parts.hostname
    if not host:
        raise UnsafeUrl("The URL has no host.")
    if scheme == "http" and not allowed:
        raise UnsafeUrl("Webhook URLs must use https.")
    try:
        ips = await addresses(host, port or (443 if scheme == "https" else 80))
    except ResolutionFailed as exc:
        raise UnsafeUrl(f"{exc}; register a host name that resolves publicly.") from exc
    check_addresses(host, ips, allowed, plain_http=scheme == "http")
    return url
