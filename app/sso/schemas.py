from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from app.core.errors import NON_BLANK_PATTERN
from app.core.inputs import RequestModel

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                        pattern=NON_BLANK_PATTERN,
                                        max_length=100)]
Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=8,
                                       max_length=2048)]
ClaimName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             pattern=NON_BLANK_PATTERN,
                                             max_length=200)]
Scope = Annotated[str, StringConstraints(pattern=r"^[\x21\x23-\x5B\x5D-\x7E]{1,100}$")]
Alg = Literal["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
              "EdDSA"]
DefaultRole = Literal["admin", "member", "viewer"]
Pem = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                       pattern=NON_BLANK_PATTERN,
                                       max_length=20_000)]
# OIDC and SAML fields of a connection (the same in a create and a patch)
ClientId = Annotated[str, StringConstraints(min_length=1, max_length=500)]
ClientSecret = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
Scopes = Annotated[list[Scope], Field(min_length=1, max_length=20)]
Algs = Annotated[list[Alg], Field(min_length=1, max_length=10)]
MetadataXml = Annotated[str, StringConstraints(min_length=1, max_length=200_000)]
EntityId = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class ClaimMapping(RequestModel):
    """Which id_token claim (OIDC) or assertion attribute (SAML) carries each value."""
    model_config = ConfigDict(extra="forbid")
    email: ClaimName = "email"
    external_id: ClaimName = Field("sub", description="Matched against SCIM externalId first")
    user_name: ClaimName = Field("preferred_username",
                                 description="Matched against SCIM userName second")
    name: ClaimName = "name"
    groups: ClaimName = Field("groups", description="Group names, for the SCIM group-to-role "
                                                    "mappings at just-in-time provisioning")


class ConnectionIn(RequestModel):
    """A new connection. OIDC needs issuer, client_id and client_secret; SAML needs
    idp_metadata_xml, or idp_entity_id + idp_sso_url + idp_certificate."""
    model_config = ConfigDict(extra="forbid")
    protocol: Literal["oidc", "saml"]
    name: Name
    enabled: StrictBool = True
    jit_provisioning: StrictBool = Field(False, description="Create unknown users at their first "
                                                      "login (seat limit applies)")
    default_role: DefaultRole = "member"
    claim_mapping: ClaimMapping | None = None
    # OIDC
    issuer: Url | None = Field(None, description="OIDC: the issuer; its "
                                                 "/.well-known/openid-configuration is read")
    client_id: ClientId | None = None
    client_secret: ClientSecret | None = \
        Field(None, description="OIDC: stored encrypted, never returned")
    scopes: Scopes | None = None
    id_token_signing_algs: Algs | None = None
    # SAML
    idp_metadata_xml: MetadataXml | None = None
    idp_entity_id: EntityId | None = None
    idp_sso_url: Url | None = None
    idp_certificate: Pem | None = Field(None, description="SAML: the IdP's signing "
                                                          "certificate, PEM")


class ConnectionPatch(RequestModel):
    """Change a connection; the protocol cannot change. A new client_secret replaces the
    stored one."""
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    enabled: StrictBool | None = None
    jit_provisioning: StrictBool | None = None
    default_role: DefaultRole | None = None
    claim_mapping: ClaimMapping | None = None
    issuer: Url | None = None
    client_id: ClientId | None = None
    client_secret: ClientSecret | None = None
    scopes: Scopes | None = None
    id_token_signing_algs: Algs | None = None
    idp_metadata_xml: MetadataXml | None = None
    idp_entity_id: EntityId | None = None
    idp_sso_url: Url | None = None
    idp_certificate: Pem | None = None


class ConnectionOut(BaseModel):
    id: UUID
    protocol: Literal["oidc", "saml"]
    name: str
    enabled: bool
    jit_provisioning: bool
    default_role: str
    claim_mapping: ClaimMapping
    created_at: datetime
    updated_at: datetime
    issuer: str | None = None
    client_id: str | None = None
    client_secret_set: bool = Field(False, description="OIDC: a secret is stored (it is never "
                                                       "returned)")
    scopes: list[str] | None = None
    id_token_signing_algs: list[str] | None = None
    redirect_uri: str | None = Field(None, description="OIDC: register this at the IdP")
    idp_entity_id: str | None = None
    idp_sso_url: str | None = None
    idp_certificate_sha256: str | None = None
    idp_metadata_xml_set: bool = False
    sp_entity_id: str | None = Field(None, description="SAML: our entity id, for the IdP")
    acs_url: str | None = Field(None, description="SAML: our Assertion Consumer Service URL")
    sp_metadata_url: str | None = Field(None, description="SAML: our metadata, for the IdP")
    login_url: str = Field(description="Where a user starts signing in with this connection")


class ConnectionList(BaseModel):
    data: list[ConnectionOut]


class SsoSettingsIn(RequestModel):
    model_config = ConfigDict(extra="forbid")
    enforced: StrictBool = Field(description="Refuse password login and refresh of password "
                                       "sessions for everyone but a break-glass owner")
    owner_break_glass: StrictBool = Field(True, description="The owner may still use a password "
                                                      "(audited on every use as "
                                                      "sso.break_glass)")


class SsoSettingsOut(BaseModel):
    enforced: bool
    owner_break_glass: bool
    updated_at: datetime | None


class ExchangeIn(RequestModel):
    model_config = ConfigDict(extra="forbid")
    code: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="The sso_code the login redirect delivered")
