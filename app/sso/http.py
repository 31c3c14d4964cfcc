"""Outbound HTTP to identity providers, under the same SSRF rules as webhooks.

An issuer URL is customer input, so every request to it (discovery, JWKS, token endpoint) goes
through `GuardedTransport`: httpx over an httpcore pool whose network backend resolves the host,
refuses the connection if ANY address is not public (app.webhooks.ssrf.check_addresses) unless
it is in DRIFT_SSO_ALLOWED_CIDRS, and then connects to the vetted address itself; TLS SNI and
certificate verification still use the host name (httpcore passes the origin's host to
start_tls). There is no second DNS lookup, so no rebinding window. Plain http is allowed only
to hosts whose every address is in DRIFT_SSO_ALLOWED_CIDRS. Redirects are never followed.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Sequence

import httpcore
import httpx

from app.config import Network
from app.webhooks import ssrf

TIMEOUT = httpx.Timeout(10.0)
MAX_BODY = 1_048_576  # a discovery document or key set is a few KB


class IdpUnreachable(Exception):
    """The IdP could not be reached or answered something unusable; str() says why."""


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, allowed: Sequence[Network]) -> None:
        self.allowed = list(allowed)
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int,
                          timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
                          local_address: str | None = None,
                          socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        ips = await ssrf.addresses(host, port)
        ssrf.check_addresses(host, ips, self.allowed, plain_http=False)
        last: Exception | None = None
        for ip in ips:  # the vetted addresses, in resolver order
            try:
                return await self.inner.connect_tcp(str(ip), port, timeout=timeout,
                                                    local_address=local_address,
                                                    socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        if last is None:
            raise RuntimeError("expected last is not None")
        raise last

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, allowed: Sequence[Network]) -> None:
        super().__init__(trust_env=False)
        self.allowed = list(allowed)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(), max_connections=32,
            network_backend=_GuardedBackend(allowed))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "http":
            host = request.url.host
            ips = await ssrf.addresses(host, request.url.port or 80)
            ssrf.check_addresses(host, ips, self.allowed, plain_http=True)
        return await super().handle_async_request(request)


def client(allowed: Sequence[Network]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=GuardedTransport(allowed), timeout=TIMEOUT,
                             follow_redirects=False, trust_env=False)


def reason(exc: BaseException) -> str:
    """A message for an outbound failure that names no secret."""
    if isinstance(exc, ssrf.UnsafeUrl | ssrf.BlockedAddress):
        return (f"{exc} (identity providers on internal networks must be listed in "
                "DRIFT_SSO_ALLOWED_CIDRS)").replace("webhooks are only delivered",
                                                    "identity providers are only reached")
    if isinstance(exc, ssrf.ResolutionFailed):
        return str(exc)
    if isinstance(exc, httpx.TimeoutException):
        return "the identity provider did not answer in time"
    if isinstance(exc, httpx.HTTPError):
        return f"the identity provider could not be reached ({type(exc).__name__})"
    return str(exc)


GUARD_ERRORS = (ssrf.UnsafeUrl, ssrf.BlockedAddress, ssrf.ResolutionFailed, httpx.HTTPError)


async def get_json(http: httpx.AsyncClient, url: str) -> dict[str, object]:
    """GET a JSON object (at most MAX_BODY bytes, 200 only)."""
    try:
        async with http.stream("GET", url, headers={"Accept": "application/json"}) as resp:
            if resp.status_code != 200:
                raise IdpUnreachable(f"{url} answered HTTP {resp.status_code}")
            body = b""
            async for chunk in resp.aiter_bytes():
                body += chunk
                if len(body) > MAX_BODY:
                    raise IdpUnreachable(f"{url} answered more than {MAX_BODY} bytes")
    except GUARD_ERRORS as exc:
        raise IdpUnreachable(reason(exc)) from None
    try:
        import orjson

        doc = orjson.loads(body)
    except ValueError:
        raise IdpUnreachable(f"{url} did not answer JSON") from None
    if not isinstance(doc, dict):
        raise IdpUnreachable(f"{url} did not answer a JSON object")
    return doc
