"""The public base URL of a request: what absolute URLs (SCIM `Location`, `meta.location`,
discovery `$ref`s) start with.

1. DRIFT_PUBLIC_URL, when set, always: the operator said where the service is reachable.
2. Otherwise, a request whose socket peer is a trusted proxy (DRIFT_TRUSTED_PROXIES, the same
   rule as app.core.net.client_ip) may name it with `X-Forwarded-Proto` and `X-Forwarded-Host`
   (the first, i.e. the client-facing, value of each; both checked: `http`/`https`, and a
   host[:port] of DNS or IP characters). With X-Forwarded-Proto alone, the proxy's `Host`
   header names the host (nginx's `proxy_set_header Host $host`). A header from any other
   peer is ignored.
3. Otherwise the address the server binds (DRIFT_HOST, DRIFT_PORT; app.config.Settings).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from starlette.types import Scope

from app.config import Settings
from app.core.net import in_networks, normalize_network, parse_ip

_HOST = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)"
                   r"(?::[0-9]{1,5})?$")


_FORWARDED = (b"x-forwarded-host", b"x-forwarded-proto")


def _first(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        return None
    return value.split(",", 1)[0].strip() or None


def forwarded_base(peer: str | None, headers: Mapping[str, str],
                   settings: Settings) -> str | None:
    """`proto://host` from a trusted proxy's X-Forwarded-Proto/-Host; None otherwise."""
    if peer is None or not settings.trusted_proxies:
        return None
    ip = parse_ip(peer)
    if ip is None or not in_networks(ip, [normalize_network(n)
                                          for n in settings.trusted_proxies]):
        return None
    host = _first(headers, "x-forwarded-host") or _first(headers, "host")
    proto = (_first(headers, "x-forwarded-proto") or "").lower()
    if host is None or not _HOST.match(host):
        return None
    if proto not in ("http", "https"):
        proto = "https" if settings.public_url.startswith("https:") else "http"
    return f"{proto}://{host.lower()}"


def public_url(settings: Settings, scope: Scope) -> str:
    """The base URL (no trailing slash) absolute URLs in this request's response use."""
    if not settings.public_url_derived:
        return settings.public_url
    raw = scope.get("headers") or ()
    if not any(k.lower() in _FORWARDED for k, _ in raw):  # the usual case: no proxy said
        return settings.public_url
    client = scope.get("client")
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw
               if k.lower() in (*_FORWARDED, b"host")}
    return forwarded_base(client[0] if client else None, headers, settings) \
        or settings.public_url
