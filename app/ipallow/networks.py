"""CIDR validation and in-memory matching (pure: no I/O).

Matching is the same rule the SQL side uses (`ip <<= cidr`, same address family, entries live
while `expires_at` is NULL or later than now), evaluated from the same rows: an entry list is
compiled into one hash table per prefix length, so a lookup costs one dict probe per distinct
prefix length in the list (at most 33 for IPv4, 129 for IPv6; typically a handful) instead of
one containment test per entry. The most specific live entry wins.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Literal
from uuid import UUID

from app.config import Network
from app.core.errors import BadRequest
from app.core.net import IPAddress, normalize, normalize_network

MAX_ENTRIES = 1000


def parse_cidr(value: str) -> Network:
    """A network from user input: IPv4 or IPv6, a bare address is /32 or /128, IPv4-mapped IPv6
    is its IPv4 network. Host bits set -> 400 naming the network that was probably meant."""
    text = value.strip()
    if not text or any(c.isspace() for c in text) or "%" in text:
        raise BadRequest(f"{value!r} is not an IP address or CIDR network (for example "
                         "203.0.113.0/24 or 2001:db8::/32).", code="invalid_cidr")
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise BadRequest(f"{value!r} is not an IP address or CIDR network (for example "
                             "203.0.113.0/24 or 2001:db8::/32).", code="invalid_cidr") from exc
        meant = normalize_network(loose)
        raise BadRequest(
            f"{text} has host bits set: the network it names is {meant}. Send {meant} "
            f"(or {text.split('/')[0]} alone for that single address).",
            code="cidr_host_bits_set", suggestion=str(meant)) from exc
    return normalize_network(net)


def parse_address(value: str) -> IPAddress:
    """A single address from user input (the /check endpoint)."""
    text = value.strip()
    try:
        if "%" in text:
            raise ValueError(text)
        return normalize(ipaddress.ip_address(text))
    except ValueError as exc:
        raise BadRequest(f"{value!r} is not an IPv4 or IPv6 address.",
                         code="invalid_ip") from exc


Scope = Literal["all", "users", "scim"]  # which credentials an entry applies to
CredentialScope = Literal["users", "scim"]  # which kind of credential a request carries
Mode = Literal["enforce", "report_only"]


@dataclass(frozen=True, slots=True)
class Entry:
    id: UUID | None
    network: Network
    expires_at: datetime | None = None
    scope: Scope = "all"
    mode: Mode = "enforce"


_Table = tuple[int, dict[int, Entry]]  # (mask, network int -> entry)


class CompiledList:
    """A tenant's entries (or the operator's bypass networks), ready for fast lookups."""

    __slots__ = ("_v4", "_v6", "entries")

    def __init__(self, entries: Iterable[Entry]) -> None:
        self.entries: tuple[Entry, ...] = tuple(entries)
        by_len: dict[tuple[int, int], dict[int, Entry]] = {}
        for e in self.entries:
            net = e.network
            by_len.setdefault((net.version, net.prefixlen), {})[int(net.network_address)] = e
        self._v4: list[_Table] = []
        self._v6: list[_Table] = []
        for (version, plen), table in sorted(by_len.items(), key=lambda kv: -kv[0][1]):
            bits = 32 if version == 4 else 128
            mask = ((1 << plen) - 1) << (bits - plen)
            (self._v4 if version == 4 else self._v6).append((mask, table))

    @property
    def empty(self) -> bool:
        return not self.entries

    def match(self, ip: IPAddress, now: datetime | None = None) -> Entry | None:
        """The most specific entry containing `ip` that is live at `now` (None: ignore expiry)."""
        n = int(ip)
        for mask, table in (self._v4 if ip.version == 4 else self._v6):
            e = table.get(n & mask)
            if e is not None and (now is None or e.expires_at is None or e.expires_at > now):
                return e
        return None


EMPTY = CompiledList(())


class TenantLists:
    """A tenant's entries split the way the check needs them: for each kind of credential, the
    enforced list (mode enforce) and the candidate list (mode report_only) that applies to it
    (entries of scope `all` apply to both kinds)."""

    __slots__ = ("candidate", "enforced", "entries")

    def __init__(self, entries: Iterable[Entry]) -> None:
        self.entries: tuple[Entry, ...] = tuple(entries)

        def pick(kind: CredentialScope, mode: Mode) -> CompiledList:
            chosen = [e for e in self.entries if e.mode == mode and e.scope in ("all", kind)]
            return CompiledList(chosen) if chosen else EMPTY

        self.enforced: dict[str, CompiledList] = {k: pick(k, "enforce") for k in ("users", "scim")}
        self.candidate: dict[str, CompiledList] = {k: pick(k, "report_only")
                                                   for k in ("users", "scim")}

    @property
    def empty(self) -> bool:
        return not self.entries



@lru_cache(maxsize=32)
def _compiled_networks(networks: tuple[Network, ...]) -> CompiledList:
    return CompiledList(Entry(None, normalize_network(n)) for n in networks)


def bypass_list(networks: Sequence[Network]) -> CompiledList:
    """DRIFT_IP_ALLOWLIST_BYPASS_CIDRS, compiled once per distinct setting."""
    if not networks:
        return EMPTY
    return _compiled_networks(tuple(networks))


Reason = Literal["no_entries", "entry", "bypass", "not_listed", "unknown_address"]


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: Reason
    entry: Entry | None = None


def decide(entries: CompiledList, ip: IPAddress | None, now: datetime,
           bypass: CompiledList = EMPTY) -> Decision:
    """The allowlist rule. An empty list is open; otherwise the address must be inside a live
    entry or an operator bypass network; an unknown address (None) is refused."""
    if entries.empty:
        return Decision(True, "no_entries")
    if ip is None:
        return Decision(False, "unknown_address")
    entry = entries.match(ip, now)
    if entry is not None:
        return Decision(True, "entry", entry)
    if bypass.match(ip) is not None:
        return Decision(True, "bypass")
    return Decision(False, "not_listed")
