"""OpenID Connect relying party (authlib + joserfc): discovery, the authorization request
(code flow, PKCE S256, state, nonce), the code exchange and id_token validation.

Pure protocol: no database. app.sso.service decides what a validated identity may do.

id_token rules (docs/sso.md, "OIDC"):
- the header's `alg` must be in the connection's allow-list (asymmetric algorithms only:
  `none` and HS* are never accepted, so a token signed with the client secret, or not at all,
  is refused before any key is looked at), and the signature must verify against the IdP's
  JWKS (fetched from the discovered `jwks_uri`, cached, refetched once for an unknown key);
- `iss` equals the configured issuer (which discovery must also name), `aud` contains our
  client id (and `azp` is ours when there are several audiences), `exp` is in the future and
  `iat` is not, against app.core.clock with 60 s leeway, and `nonce` equals the one we sent.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.integrations.httpx_client import OAuthError as AuthlibOAuthError
from authlib.oidc.core import CodeIDToken
from joserfc import jws, jwt
from joserfc.errors import (
    ExpiredTokenError,
    InvalidClaimError,
    InvalidTokenError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

from app.config import Network
from app.core import clock
from app.sso import http

ALLOWED_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
                "ES512", "EdDSA")
DEFAULT_ALGS = ("RS256",)
LEEWAY = 60
CACHE_TTL = 300.0


class OidcError(Exception):
    """A login step failed. `reason` is the stable code audited as sso.login_failed."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


_discovery: dict[str, tuple[float, Provider]] = {}
_jwks: dict[str, tuple[float, dict[str, Any]]] = {}


def check_issuer_url(issuer: str) -> str:
    """The issuer without a trailing slash, or ValueError (the reason)."""
    parts = urlsplit(issuer)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("The issuer must be an https URL, e.g. https://example.okta.com.")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("The issuer URL must not have a query, fragment or user info.")
    return issuer.rstrip("/")


async def discover(issuer: str, allowed: Sequence[Network], *, fresh: bool = False
                   ) -> Provider:
    """The provider's endpoints from its discovery document (cached CACHE_TTL seconds)."""
    hit = _discovery.get(issuer)
    if hit is not None and not fresh and hit[0] > time.monotonic():
        return hit[1]
    url = issuer + "/.well-known/openid-configuration"
    async with http.client(allowed) as c:
        try:
            doc = await http.get_json(c, url)
        except http.IdpUnreachable as exc:
            raise OidcError("discovery_failed", f"OIDC discovery failed: {exc}.") from None
    if doc.get("issuer") != issuer:
        raise OidcError("discovery_failed",
                        f"The discovery document at {url} names the issuer "
                        f"{str(doc.get('issuer'))[:200]!r}, not {issuer!r}; use the exact "
                        "issuer the identity provider shows.")
    endpoints = {}
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = doc.get(key)
        if not isinstance(value, str) or urlsplit(value).scheme not in ("https", "http"):
            raise OidcError("discovery_failed",
                            f"The discovery document at {url} has no usable {key}.")
        endpoints[key] = value
    provider = Provider(issuer=issuer, **endpoints)
    _discovery[issuer] = (time.monotonic() + CACHE_TTL, provider)
    return provider


async def _key_set(uri: str, allowed: Sequence[Network], *, fresh: bool) -> KeySet:
    hit = _jwks.get(uri)
    if hit is None or fresh or hit[0] <= time.monotonic():
        async with http.client(allowed) as c:
            try:
                doc = await http.get_json(c, uri)
            except http.IdpUnreachable as exc:
                raise OidcError("jwks_failed", f"The IdP's keys could not be read: {exc}."
                                ) from None
        hit = (time.monotonic() + CACHE_TTL, doc)
        _jwks[uri] = hit
    try:
        return KeySet.import_key_set(hit[1])  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError):
        raise OidcError("jwks_failed", "The IdP's key set (jwks_uri) is not valid.") from None


def oauth_client(allowed: Sequence[Network], *, client_id: str, client_secret: str | None,
                 scopes: Sequence[str], redirect_uri: str) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(client_id=client_id, client_secret=client_secret,
                             scope=" ".join(scopes), redirect_uri=redirect_uri,
                             code_challenge_method="S256",
                             token_endpoint_auth_method="client_secret_basic",  # noqa: S106
                             transport=http.GuardedTransport(allowed), timeout=http.TIMEOUT,
                             trust_env=False, follow_redirects=False)


async def authorization_url(provider: Provider, allowed: Sequence[Network], *, client_id: str,
                            scopes: Sequence[str], redirect_uri: str, state: str, nonce: str,
                            code_verifier: str) -> str:
    async with oauth_client(allowed, client_id=client_id, client_secret=None, scopes=scopes,
                            redirect_uri=redirect_uri) as c:
        url, _ = c.create_authorization_url(provider.authorization_endpoint, state=state,
                                            code_verifier=code_verifier, nonce=nonce)
    return str(url)


async def exchange_code(provider: Provider, allowed: Sequence[Network], *, client_id: str,
                        client_secret: str, redirect_uri: str, code: str, code_verifier: str
                        ) -> str:
    """The id_token from the token endpoint (authorization_code grant, PKCE verifier)."""
    async with oauth_client(allowed, client_id=client_id, client_secret=client_secret,
                            scopes=(), redirect_uri=redirect_uri) as c:
        try:
            token = await c.fetch_token(provider.token_endpoint, code=code,
                                        code_verifier=code_verifier,
                                        grant_type="authorization_code")
        except AuthlibOAuthError as exc:
            raise OidcError("token_exchange_failed",
                            f"The identity provider refused the code: {exc.error}.") from None
        except http.GUARD_ERRORS as exc:
            raise OidcError("token_exchange_failed",
                            f"The token endpoint failed: {http.reason(exc)}.") from None
        except ValueError:
            raise OidcError("token_exchange_failed",
                            "The token endpoint did not answer a token response.") from None
    id_token = token.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise OidcError("token_exchange_failed",
                        "The token response has no id_token (is the `openid` scope granted?).")
    return id_token


def _header_alg(id_token: str) -> str:
    try:
        obj = jws.extract_compact(id_token.encode())
    except (JoseError, ValueError, TypeError):
        raise OidcError("invalid_id_token", "The id_token is not a compact JWS.") from None
    alg = obj.protected.get("alg")
    return alg if isinstance(alg, str) else ""


async def validate_id_token(id_token: str, *, provider: Provider, allowed: Sequence[Network],
                            client_id: str, nonce: str, algorithms: Sequence[str]
                            ) -> dict[str, Any]:
    """The id_token's claims, if every rule in the module docstring holds; else OidcError."""
    algs = [a for a in algorithms if a in ALLOWED_ALGS]
    alg = _header_alg(id_token)
    if alg not in algs:
        raise OidcError("alg_not_allowed",
                        f"The id_token is signed with {alg[:20]!r}; this connection accepts "
                        f"{', '.join(algs)} only.")
    token = None
    for fresh in (False, True):  # an unknown key: the IdP may have rotated; read once more
        keys = await _key_set(provider.jwks_uri, allowed, fresh=fresh)
        try:
            token = jwt.decode(id_token, keys, algorithms=algs)
            break
        except (JoseError, ValueError) as exc:
            if fresh or "key" not in type(exc).__name__.lower() + str(exc).lower():
                raise OidcError("invalid_signature",
                                "The id_token's signature does not verify against the "
                                "identity provider's keys.") from None
    if token is None:
        raise RuntimeError("expected token is not None")
    claims = CodeIDToken(dict(token.claims), dict(token.header), options={
        "iss": {"essential": True, "value": provider.issuer},
        "aud": {"essential": True, "value": client_id},
        "sub": {"essential": True},
        "nonce": {"essential": True},
    }, params={"nonce": nonce, "client_id": client_id})
    try:
        claims.validate(now=int(clock.now().timestamp()), leeway=LEEWAY)
    except ExpiredTokenError:
        raise OidcError("id_token_expired", "The id_token has expired.") from None
    except (InvalidClaimError, MissingClaimError) as exc:
        claim = getattr(exc, "claim", None) or str(exc)
        reason = {"iss": "issuer_mismatch", "aud": "audience_mismatch",
                  "nonce": "nonce_mismatch", "azp": "audience_mismatch"}.get(str(claim),
                                                                              "invalid_id_token")
        raise OidcError(reason, f"The id_token's {claim} claim is missing or wrong.") from None
    except (InvalidTokenError, JoseError) as exc:
        raise OidcError("invalid_id_token", f"The id_token is not valid: {exc}.") from None
    return dict(claims)


def clear_caches() -> None:
    """Forget cached discovery documents and key sets (connection changed)."""
    _discovery.clear()
    _jwks.clear()
