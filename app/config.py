"""All runtime configuration: one pydantic-settings class, environment prefix DRIFT_."""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def list_items(value: object, what: str) -> list[str]:
    """The items of a setting given as one comma/space separated string or as a list (JSON,
    or in code); None or "" is none. `what` names the items in the error."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    raise ValueError(f"expected a comma-separated list of {what}")


def parse_networks(value: object) -> list[Network]:
    """Parse a comma/space separated list of CIDRs (or bare addresses) into networks."""
    nets: list[Network] = []
    for item in list_items(value, "CIDRs"):
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"{item!r} is not an IP address or CIDR network") from exc
    return nets


def parse_nameserver(value: str) -> tuple[str, int]:
    """`192.0.2.1`, `192.0.2.1:5353`, `2001:db8::1` or `[2001:db8::1]:5353` -> (address, port)."""
    text = value.strip()
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ValueError(f"{value!r} is not address[:port]")
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        if not port_text.isdigit():
            raise ValueError(f"{value!r} is not address[:port]")
        port = int(port_text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{value!r}: a DNS server is an IP address (with an optional port)"
                         ) from None
    if not 0 < port < 65536:
        raise ValueError(f"{value!r}: port out of range")
    return host, port
def parse_origins(value: object) -> list[str]:
    """Comma/space separated exact browser origins, each `scheme://host[:port]` (lower-cased,
    default port dropped, as browsers send them). No wildcard: the API answers bearer
    credentials, so only named origins may read its responses."""
    origins: list[str] = []
    for item in list_items(value, "origins"):
        if "*" in item:
            raise ValueError(f"{item!r}: wildcards are not allowed; list each origin exactly "
                             "(e.g. https://app.example.com)")
        parts = urlsplit(item)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in ("http", "https") or not parts.hostname or port == -1 \
                or parts.path not in ("", "/") or parts.query or parts.fragment \
                or parts.username or parts.password:
            raise ValueError(f"{item!r} is not an origin; write scheme://host[:port] with no "
                             "path, e.g. https://app.example.com")
        host = parts.hostname.lower()
        if ":" in host:
            host = f"[{host}]"
        default = {"http": 80, "https": 443}[parts.scheme]
        origin = f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")
        if origin not in origins:
            origins.append(origin)
    return origins


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DRIFT_", extra="ignore")

    # Database. Both unset: an embedded PostgreSQL is started under data_dir.
    database_url: str | None = None
    migration_database_url: str | None = None
    data_dir: Path = Path(".drift-data")
    db_pool_min: int = 2
    db_pool_max: int = 10
    db_connect_timeout: float = 5.0
    # Scale-out (docs/scaling.md): `pgbouncer` when DRIFT_DATABASE_URL points at a pgbouncer in
    # transaction pooling mode (asyncpg's statement cache off), and the direct (unpooled) URL
    # for what needs a session: LISTEN/NOTIFY (IP allowlist cache, audit live stream, worker
    # wakeups). Unset with a pooler: those features degrade and say so at start and in /readyz.
    database_pooler: Literal["none", "pgbouncer"] = "none"
    direct_database_url: str | None = None
    # A streaming replica (runtime role, read-only) for the heavy read-only paths: audit query,
    # export, verification (docs/scaling.md, "Read replicas"). Unset: everything reads the
    # primary. A replica lagging more than DRIFT_READ_MAX_LAG_SECONDS is not used.
    read_database_url: str | None = None
    read_max_lag_seconds: float = Field(default=30.0, ge=0)

    # Secrets: generated once and kept in data_dir when unset.
    jwt_secret: SecretStr | None = None
    secret_key: SecretStr | None = None

    # Base of absolute URLs (SCIM Location/meta.location, links in emails). Unset: derived from
    # host and port (see _derive_public_url), and per request from X-Forwarded-Proto/-Host
    # sent by a trusted proxy (app.core.urls).
    public_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8000

    trusted_proxies: Annotated[list[Network], NoDecode] = Field(default_factory=list)
    webhook_allowed_cidrs: Annotated[list[Network], NoDecode] = Field(default_factory=list)
    ip_allowlist_bypass_cidrs: Annotated[list[Network], NoDecode] = Field(default_factory=list)
    # Identity providers (OIDC discovery, JWKS, token endpoint) on these networks may be
    # reached although they are not public, also over plain http (docs/sso.md, "Outbound
    # HTTP"): an on-premises IdP. Separate from the webhook list on purpose.
    sso_allowed_cidrs: Annotated[list[Network], NoDecode] = Field(default_factory=list)

    smtp_url: str | None = None
    smtp_from: str = "Drift Cloud <no-reply@drift.localhost>"
    smtp_timeout: float = 10.0
    email_retry_schedule: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [5.0, 30.0, 120.0, 600.0, 1800.0]
    )

    # Webhook deliveries (docs/webhooks.md): seconds before each retry, per-attempt time limit,
    # in-flight deliveries per worker process (in total and to one endpoint), and how many
    # consecutive failed deliveries disable an endpoint.
    webhook_retry_schedule: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [1.0, 2.0, 4.0, 8.0, 16.0]
    )
    # Endpoints with retry_policy `extended` (the default) go on with these after the fast
    # schedule (5 min, 30 min, 2 h, 5 h, 10 h, 10 h: about a day), then dead-letter.
    webhook_extended_retry_schedule: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
    )
    # A Retry-After on 429/503 is honoured up to this many seconds (never below the step).
    webhook_retry_after_max: float = Field(3600.0, ge=0)
    webhook_timeout: float = 10.0
    # A claimed delivery is leased for max(this, 6 x webhook_timeout): a worker killed mid-send
    # holds its claims that long before another worker sends them again (docs/webhooks.md).
    webhook_lease_min_seconds: float = Field(60.0, ge=5)
    webhook_concurrency: int = Field(256, ge=1)
    webhook_endpoint_concurrency: int = Field(32, ge=1)
    webhook_disable_after_failures: int = Field(50, ge=1)

    # Request body limits (docs/ARCHITECTURE.md, "Security"): a larger body is refused with
    # 413 before it is read. The sync upload (10,000 violations with the code snippets clients
    # send and the service drops) gets its own, larger limit; SCIM uses its advertised
    # maxPayloadSize (app.scim.constants.MAX_PAYLOAD_SIZE).
    max_body_bytes: int = Field(1_048_576, ge=1024)
    max_sync_body_bytes: int = Field(16 * 1_048_576, ge=1024)

    access_token_ttl_seconds: int = 900
    session_ttl_seconds: int = 30 * 24 * 3600

    run_worker: bool = True
    # The cyclic garbage collector (app.core.heap, docs/operations.md "Garbage collection"):
    # once started, a serving process freezes what it loaded, so a full collection no longer
    # walks the whole import-time heap (a 100-200 ms pause each time, every second or two
    # under load), and starts a young collection only after gc_threshold net new objects
    # (Python's default is 700). 0 leaves the interpreter's settings alone.
    gc_threshold: int = Field(10_000, ge=0)

    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # Verified domains (docs/sso.md): the DNS servers asked for `_drift-challenge` TXT records,
    # "address" or "address:port" ([v6]:port), comma separated; empty: the system resolver.
    dns_nameservers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    dns_timeout: float = Field(5.0, gt=0, le=30)

    @field_validator("dns_nameservers", mode="before")
    @classmethod
    def _nameservers(cls, value: object) -> list[str]:
        items = list_items(value, "address[:port]")
        for item in items:
            parse_nameserver(item)
        return items
    # Browser origins (scheme://host[:port], exact) allowed to call the API cross-origin
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> list[str]:
        return parse_origins(value)
    # Observability (docs/operations.md). Logs: `text` (default) or one JSON object a line;
    # an access line per request unless access_log is off. Metrics: GET /metrics needs
    # `Authorization: Bearer <metrics_token>`; without a token it answers 404 and only the
    # worker's dedicated listener (metrics_port, on metrics_host) serves them.
    log_format: Literal["text", "json"] = "text"
    access_log: bool = True
    metrics_token: SecretStr | None = None
    metrics_port: int | None = Field(None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    # Rate limits (docs/operations.md, "Rate limits"). Login: failures per account (tenant
    # slug + email) and per client address within the window lock further attempts out for
    # lockout_seconds, doubling with each lockout up to lockout_max_seconds. Token endpoints
    # (refresh, invitation accept, emergency reset) count invalid tokens per client address.
    login_max_failures: int = Field(10, ge=1)
    login_ip_max_failures: int = Field(50, ge=1)
    token_ip_max_failures: int = Field(30, ge=1)
    login_failure_window_seconds: int = Field(900, ge=1)
    login_lockout_seconds: int = Field(60, ge=1)
    login_lockout_max_seconds: int = Field(3600, ge=1)
    # Per-tenant request budgets per plan, requests per window (0: unlimited), shared by all
    # API processes: each leases `rate_limit_lease_fraction` of the budget at a time.
    api_rate_limits: Annotated[dict[str, int], NoDecode] = Field(default_factory=lambda: {
        "free": 300, "pro": 1200, "team": 3000, "enterprise": 6000})
    scim_rate_limits: Annotated[dict[str, int], NoDecode] = Field(default_factory=lambda: {
        "free": 60, "pro": 300, "team": 600, "enterprise": 1200})
    rate_limit_window_seconds: int = Field(60, ge=1)
    rate_limit_lease_fraction: float = Field(0.1, gt=0, le=1)

    # Lifecycle: seconds `serve` waits for in-flight requests after SIGTERM/SIGINT.
    shutdown_grace: float = Field(20.0, ge=0)

    @field_validator("api_rate_limits", "scim_rate_limits", mode="before")
    @classmethod
    def _plan_limits(cls, value: object) -> dict[str, int]:
        """`free=300,pro=1200,...` (or a JSON object); plans not named are unlimited."""
        if isinstance(value, dict):
            items = list(value.items())
        elif isinstance(value, str):
            text = value.strip()
            if text.startswith("{"):
                items = list(json.loads(text).items())
            else:
                items = []
                for part in text.replace(",", " ").split():
                    plan, sep, number = part.partition("=")
                    if not sep:
                        raise ValueError(f"{part!r}: expected plan=requests")
                    items.append((plan, number))
        else:
            raise ValueError("expected plan=requests pairs, e.g. free=300,pro=1200")
        out: dict[str, int] = {}
        for plan, number in items:
            n = int(number)
            if n < 0:
                raise ValueError(f"{plan}: a budget cannot be negative")
            out[str(plan).strip()] = n
        return out

    @field_validator("trusted_proxies", "webhook_allowed_cidrs", "ip_allowlist_bypass_cidrs",
                     "sso_allowed_cidrs", mode="before")
    @classmethod
    def _networks(cls, value: object) -> list[Network]:
        return parse_networks(value)

    @field_validator("email_retry_schedule", "webhook_retry_schedule",
                     "webhook_extended_retry_schedule", mode="before")
    @classmethod
    def _schedule(cls, value: object) -> list[float]:
        if isinstance(value, str):
            return [float(v) for v in value.replace(",", " ").split()]
        if isinstance(value, list | tuple):
            return [float(v) for v in value]
        raise ValueError("expected a comma-separated list of seconds")

    @field_validator("database_url", "migration_database_url", "direct_database_url",
                     "read_database_url")
    @classmethod
    def _plain_postgres_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        scheme = urlsplit(value).scheme
        if scheme not in ("postgresql", "postgres"):
            raise ValueError("must be a plain postgresql://user:password@host:port/db URL")
        return value

    _public_url_derived: bool = PrivateAttr(False)

    @model_validator(mode="after")
    def _derive_public_url(self) -> Settings:
        """DRIFT_PUBLIC_URL unset: the address the server binds (DRIFT_HOST, DRIFT_PORT); a
        wildcard bind (0.0.0.0, ::) is reached on loopback."""
        if self.public_url.strip():
            self.public_url = self.public_url.strip().rstrip("/")
            return self
        host = self.host.strip() or "127.0.0.1"
        if host in ("0.0.0.0", "::", "[::]"):  # noqa: S104 - reading a bind address
            host = "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        self.public_url = f"http://{host}:{self.port}"
        self._public_url_derived = True
        return self

    @property
    def public_url_derived(self) -> bool:
        """True when DRIFT_PUBLIC_URL was not set (a trusted proxy's X-Forwarded-Proto/-Host
        may then name the public address per request)."""
        return self._public_url_derived

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @property
    def app_role(self) -> str:
        """The runtime role that migrations grant privileges to."""
        if self.database_url is None:
            return "drift_app"
        user = urlsplit(self.database_url).username
        if not user:
            raise ValueError("DRIFT_DATABASE_URL must name its user (the runtime role)")
        return unquote(user)

    def resolved_secret(self, name: Literal["jwt_secret", "secret_key"]) -> str:
        """The configured secret, or one generated once and kept in data_dir/secrets.json."""
        configured: SecretStr | None = getattr(self, name)
        if configured is not None and configured.get_secret_value():
            return configured.get_secret_value()
        return _data_dir_secret(self.data_dir, name)


def _data_dir_secret(data_dir: Path, name: str) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "secrets.json"
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text())
    if name not in stored:
        stored[name] = secrets.token_urlsafe(48)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(stored, fh)
        os.replace(tmp, path)
    return stored[name]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
