"""Pydantic shapes of the audit API (documentation and input validation).

Event JSON is produced by PostgreSQL (repository.EVENT_JSON) so the query, the NDJSON export
and the live stream emit byte-for-byte the same object; AuditEventOut documents it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from app.core.inputs import RequestModel, Timestamp
from app.core.pagination import Page


class ActorOut(BaseModel):
    type: Literal["user", "api_key", "scim", "system"]
    id: UUID | None = Field(None, description="User id (user and API key actors), SCIM token "
                                              "id (scim), null for the system")
    email: str | None = Field(None, description="The actor's email when the event happened")


class ResourceOut(BaseModel):
    type: str
    id: str | None


class AuditEventOut(BaseModel):
    id: UUID
    created_at: datetime = Field(description="When the event was recorded (UTC, microseconds)")
    actor: ActorOut
    action: str = Field(description="`resource.verb`, e.g. `project.delete`")
    resource: ResourceOut
    outcome: Literal["success", "failure", "denied"]
    ip: str | None
    user_agent: str | None
    request_id: str | None
    metadata: dict[str, object]
    seq: int = Field(description="Position in the tenant's log: 1, 2, 3, ... in commit order")
    hash: str = Field(description="Hex SHA-256 chain hash: sha256(previous hash || canonical "
                                  "event); see GET /api/v1/audit/verify")


class AuditPagination(BaseModel):
    cursor: str | None = Field(description="Pass as `cursor` for the next page. With "
                                           "`order=asc` it is always set, so you can poll.")
    has_more: bool
    total: int = Field(description="Events matching the filters (exact up to 1,000; see "
                                   "`total_capped`)")
    total_capped: bool = Field(False, description="True when there are more than `total`")


class AuditPage(BaseModel):
    data: list[AuditEventOut]
    pagination: AuditPagination


class ChainBreak(BaseModel):
    seq: int | None
    id: UUID | None
    created_at: datetime | None
    reason: Literal["hash_mismatch", "chain_broken", "missing_events", "head_mismatch"]
    detail: str
    expected: str | None = None
    actual: str | None = None


class ChainPoint(BaseModel):
    seq: int
    hash: str


class VerifyOut(BaseModel):
    valid: bool
    checked: int = Field(description="Events whose hash was recomputed")
    first_break: ChainBreak | None
    from_seq: int | None
    to_seq: int | None
    head: ChainPoint | None = Field(description="The newest event of the log")
    boundary: ChainPoint | None = Field(description="The newest event removed by retention; "
                                                    "the oldest kept event links to its hash")


class RetentionPolicyOut(BaseModel):
    plan: Literal["free", "pro", "team", "enterprise"]
    days: int = Field(description="Events older than this many days are deleted daily")
    default_days: int = Field(description="The plan's default")
    custom_days: int | None = Field(description="Enterprise only: the tenant's own setting")
    configurable: bool = Field(description="Whether the owner can change it (enterprise)")
    min_days: int
    max_days: int
    oldest_event_at: datetime | None
    retained_through_seq: int = Field(description="Events up to this position were removed "
                                                  "by retention (0: none yet)")
    last_purge_at: datetime | None


class RetentionUpdate(RequestModel):
    model_config = ConfigDict(extra="forbid")
    days: StrictInt | None = Field(
        description="365..3650, or null for the plan default (730)")


class StreamTicketOut(BaseModel):
    ticket: str = Field(description="Pass as `?ticket=` to GET /api/v1/audit/stream; shown once")
    expires_at: datetime = Field(description="The ticket works once, until this time")


# ---- streams to SIEMs (POST/GET/PATCH/DELETE /api/v1/audit/streams) ----

StreamType = Literal["splunk_hec", "datadog", "https_ndjson"]
StreamStatus = Literal["active", "paused"]
# Not blank (what strip_whitespace then min_length=1 require, stated in the schema too) and,
# as every request text, no NUL character (app.core.inputs)
_NOT_BLANK = r"^[^\x00]*[^\s\x00][^\x00]*$"
_Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100,
                                         pattern=_NOT_BLANK)]
_Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048,
                                        pattern=_NOT_BLANK)]
_Token = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=512,
                                          pattern=_NOT_BLANK)]
_Opt = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200,
                                        pattern=r"^[A-Za-z0-9_.:,/=\- ]+$")]


class StreamFilters(RequestModel):
    """Which events the stream carries (the query API's filters; all of them when empty)."""

    model_config = ConfigDict(extra="forbid")
    actor: Annotated[str, StringConstraints(max_length=320)] | None = None
    action: Annotated[str, StringConstraints(max_length=100)] | None = None
    resource_type: Annotated[str, StringConstraints(max_length=200)] | None = None
    resource_id: Annotated[str, StringConstraints(max_length=200)] | None = None
    outcome: Literal["success", "failure", "denied"] | None = None


class StreamOptions(RequestModel):
    """Destination options. splunk_hec: sourcetype (default drift:audit), index, source.
    datadog: service (default drift-cloud), source (ddsource, default drift), tags
    (ddtags, e.g. env:prod,team:sec). Every type: format (drift, the default, or ocsf)."""

    model_config = ConfigDict(extra="forbid")
    format: Literal["drift", "ocsf"] | None = Field(None, description=(
        "drift (default): the API's event JSON; ocsf: OCSF 1.1 records (API Activity 6003, "
        "Account Change 3001; docs/audit.md, \"OCSF\")"))
    sourcetype: _Opt | None = None
    index: _Opt | None = None
    source: _Opt | None = None
    service: _Opt | None = None
    tags: _Opt | None = None


class _StartFrom(RequestModel):
    from_seq: Annotated[int, Field(ge=1, le=10**15)] | None = Field(None, description=(
        "Backfill: push every event from this position on (within retention). Without "
        "from_seq/from_time a new stream starts after the newest event"))
    from_time: Timestamp | None = Field(None, description=(
        "Backfill: push every event recorded at or after this time"))


class StreamCreate(_StartFrom):
    model_config = ConfigDict(extra="forbid")
    name: _Name
    type: StreamType
    url: _Url = Field(description="splunk_hec: the HEC event endpoint (https://host:8088/"
                                  "services/collector/event); datadog: the logs intake "
                                  "(https://http-intake.logs.datadoghq.com/api/v2/logs); "
                                  "https_ndjson: your receiver")
    token: _Token | None = Field(None, description=(
        "splunk_hec: the HEC token; datadog: the API key. Stored encrypted, never shown. "
        "Not accepted for https_ndjson (requests are signed with a secret we generate)"))
    filters: StreamFilters = Field(default_factory=StreamFilters)
    options: StreamOptions = Field(default_factory=StreamOptions)
    status: StreamStatus = "active"


class StreamUpdate(_StartFrom):
    model_config = ConfigDict(extra="forbid")
    name: _Name | None = None
    url: _Url | None = None
    token: _Token | None = Field(None, description="Replace the HEC token / Datadog API key")
    filters: StreamFilters | None = None
    options: StreamOptions | None = None
    status: StreamStatus | None = Field(None, description="paused stops pushing (the cursor "
                                        "stays); active resumes from the cursor")


class StreamOut(BaseModel):
    id: UUID
    name: str
    type: StreamType
    url: str
    filters: dict[str, str]
    options: dict[str, str]
    status: StreamStatus
    delivered_through_seq: int = Field(description="Every matching event up to this position "
                                                   "was accepted (2xx) by the destination")
    head_seq: int = Field(description="The newest position of the tenant's log")
    lag: int = Field(description="head_seq - delivered_through_seq (an upper bound for a "
                                 "filtered stream)")
    delivered_events: int
    consecutive_failures: int
    next_attempt_at: datetime
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    created_at: datetime
    updated_at: datetime


class StreamCreated(StreamOut):
    signing_secret: str | None = Field(None, description="https_ndjson only, shown only here: "
                                       "the whsec_ secret requests are signed with "
                                       "(Standard Webhooks headers)")


class StreamList(Page[StreamOut]):
    pass


def stream_out(row: Any) -> dict[str, Any]:
    out = {k: row[k] for k in (
        "id", "name", "type", "url", "filters", "options", "status", "delivered_through_seq",
        "head_seq", "delivered_events", "consecutive_failures", "next_attempt_at",
        "last_success_at", "last_error", "last_error_at", "created_at", "updated_at")}
    out["lag"] = max(0, int(row["head_seq"]) - int(row["delivered_through_seq"]))
    return out
