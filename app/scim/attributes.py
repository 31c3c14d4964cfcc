"""The attribute definitions every SCIM rule works from: what /Schemas publishes, how input is
normalised, how PATCH paths and filters resolve, how projections and sorting apply.

Names are matched case-insensitively (RFC 7643 §2.1); each definition keeps its canonical
spelling, which is what we store and return.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Literal

from app.scim.constants import URN_ENTERPRISE, URN_GROUP, URN_USER

AttrType = Literal["string", "boolean", "decimal", "integer", "dateTime", "reference", "binary",
                   "complex"]
Mutability = Literal["readOnly", "readWrite", "immutable", "writeOnly"]
Returned = Literal["always", "never", "default", "request"]


@dataclass(frozen=True, eq=False)
class Attr:
    name: str
    type: AttrType = "string"
    multi: bool = False
    required: bool = False
    case_exact: bool = False
    mutability: Mutability = "readWrite"
    returned: Returned = "default"
    uniqueness: Literal["none", "server", "global"] = "none"
    description: str = ""
    canonical: tuple[str, ...] = ()
    reference_types: tuple[str, ...] = ()
    sub: tuple[Attr, ...] = ()
    _by_key: dict[str, Attr] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for s in self.sub:
            self._by_key[s.name.lower()] = s

    def child(self, name: str) -> Attr | None:
        return self._by_key.get(name.lower())

    @property
    def read_only(self) -> bool:
        return self.mutability == "readOnly"


@dataclass(frozen=True, eq=False)
class SchemaDef:
    id: str
    name: str
    description: str
    attrs: tuple[Attr, ...]
    _by_key: dict[str, Attr] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for a in self.attrs:
            self._by_key[a.name.lower()] = a

    def attr(self, name: str) -> Attr | None:
        return self._by_key.get(name.lower())


@dataclass(frozen=True, eq=False)
class ResourceDef:
    name: str  # "User" / "Group"
    endpoint: str  # "/Users"
    description: str
    core: SchemaDef
    extensions: tuple[SchemaDef, ...] = ()
    common: tuple[Attr, ...] = ()  # id, externalId, meta (RFC 7643 §3.1)

    def schema_for_urn(self, urn: str) -> SchemaDef | None:
        low = urn.lower()
        for s in (self.core, *self.extensions):
            if s.id.lower() == low:
                return s
        return None

    def common_attr(self, name: str) -> Attr | None:
        low = name.lower()
        for a in self.common:
            if a.name.lower() == low:
                return a
        return None

    @property
    def schemas(self) -> tuple[SchemaDef, ...]:
        return (self.core, *self.extensions)


def _s(name: str, desc: str = "", **kw: object) -> Attr:
    return Attr(name, description=desc, **kw)  # type: ignore[arg-type]


def _multi(name: str, desc: str, value_type: AttrType = "string",
           types: tuple[str, ...] = (), ref_types: tuple[str, ...] = ()) -> Attr:
    """The common shape of a multi-valued attribute (value, display, type, primary)."""
    return Attr(name, "complex", multi=True, description=desc, sub=(
        Attr("value", value_type, description=f"The value of {name}.",
             case_exact=value_type in ("reference", "binary"), reference_types=ref_types),
        Attr("display", description="A human-readable name, primarily used for display."),
        Attr("type", description="A label indicating the attribute's function.",
             canonical=types),
        Attr("primary", "boolean",
             description="Whether this is the primary or preferred value."),
    ))


def _meta() -> Attr:
    ro: Mutability = "readOnly"
    return Attr("meta", "complex", mutability=ro, description="Resource metadata.", sub=(
        Attr("resourceType", mutability=ro, case_exact=True),
        Attr("created", "dateTime", mutability=ro),
        Attr("lastModified", "dateTime", mutability=ro),
        Attr("location", "reference", mutability=ro, case_exact=True, reference_types=("uri",)),
        Attr("version", mutability=ro, case_exact=True),
    ))


COMMON = (
    Attr("id", mutability="readOnly", returned="always", case_exact=True, uniqueness="server",
         description="A unique identifier for the resource, assigned by Drift."),
    Attr("externalId", case_exact=True,
         description="An identifier for the resource as defined by the provisioning client."),
    _meta(),
)

USER_SCHEMA = SchemaDef(URN_USER, "User", "User Account", (
    _s("userName", "Unique identifier for the User, used to sign in. Unique per tenant, "
       "compared case-insensitively.", required=True, uniqueness="server"),
    Attr("name", "complex", description="The components of the user's real name.", sub=(
        _s("formatted", "The full name, formatted for display."),
        _s("familyName", "The family name of the User."),
        _s("givenName", "The given name of the User."),
        _s("middleName", "The middle name(s) of the User."),
        _s("honorificPrefix", "The honorific prefix(es) of the User."),
        _s("honorificSuffix", "The honorific suffix(es) of the User."),
    )),
    _s("displayName", "The name of the User, suitable for display to end-users."),
    _s("nickName", "The casual way to address the user."),
    Attr("profileUrl", "reference", case_exact=True, reference_types=("external",),
         description="A URI that is a uniform resource locator pointing to the User's profile."),
    _s("title", "The user's title, such as 'Vice President'."),
    _s("userType", "The relationship between the organization and the user."),
    _s("preferredLanguage", "The User's preferred written or spoken language."),
    _s("locale", "The User's default location for localizing content."),
    _s("timezone", "The User's time zone in the 'Olson' time zone database format."),
    Attr("active", "boolean", description="Whether the user may use Drift. false deactivates "
         "the user and revokes every API key and session."),
    Attr("password", mutability="writeOnly", returned="never",
         description="Accepted and discarded: Drift never stores or returns it."),
    _multi("emails", "Email addresses for the user. The primary (else the first work, else the "
           "first) one is the user's Drift email.", types=("work", "home", "other")),
    _multi("phoneNumbers", "Phone numbers for the User.",
           types=("work", "home", "mobile", "fax", "pager", "other")),
    _multi("ims", "Instant messaging addresses for the User.",
           types=("aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo")),
    _multi("photos", "URLs of photos of the User.", value_type="reference",
           types=("photo", "thumbnail"), ref_types=("external",)),
    Attr("addresses", "complex", multi=True, description="A physical mailing address.", sub=(
        _s("formatted", "The full mailing address."),
        _s("streetAddress", "The full street address component."),
        _s("locality", "The city or locality component."),
        _s("region", "The state or region component."),
        _s("postalCode", "The zip code or postal code component."),
        _s("country", "The country name component."),
        Attr("type", canonical=("work", "home", "other"),
             description="A label indicating the attribute's function."),
        Attr("primary", "boolean", description="Whether this is the primary address."),
    )),
    Attr("groups", "complex", multi=True, mutability="readOnly",
         description="The SCIM groups (Drift teams) the user belongs to. Read-only: change "
         "membership through /Groups.", sub=(
             Attr("value", mutability="readOnly", case_exact=True,
                  description="The id of the Group."),
             Attr("$ref", "reference", mutability="readOnly", case_exact=True,
                  reference_types=("Group",), description="The URI of the Group."),
             Attr("display", mutability="readOnly", description="The Group's displayName."),
             Attr("type", mutability="readOnly", canonical=("direct",),
                  description="How the membership came about: always 'direct'."),
         )),
    _multi("entitlements", "A list of entitlements for the User (stored, not interpreted)."),
    _multi("roles", "A list of roles for the User (stored, not interpreted: Drift roles come "
           "from group mappings)."),
    _multi("x509Certificates", "A list of certificates issued to the User.",
           value_type="binary"),
))

ENTERPRISE_SCHEMA = SchemaDef(URN_ENTERPRISE, "EnterpriseUser", "Enterprise User", (
    _s("employeeNumber", "Numeric or alphanumeric identifier assigned to a person."),
    _s("costCenter", "Identifies the name of a cost center."),
    _s("organization", "Identifies the name of an organization."),
    _s("division", "Identifies the name of a division."),
    _s("department", "Identifies the name of a department."),
    Attr("manager", "complex", description="The User's manager.", sub=(
        Attr("value", description="The id of the SCIM resource representing the manager."),
        Attr("$ref", "reference", case_exact=True, reference_types=("User",),
             description="The URI of the SCIM resource representing the manager."),
        Attr("displayName", mutability="readOnly",
             description="The displayName of the manager (not provided by Drift)."),
    )),
))

GROUP_SCHEMA = SchemaDef(URN_GROUP, "Group", "Group (a Drift team)", (
    _s("displayName", "A human-readable name for the Group; unique per tenant, compared "
       "case-insensitively. Role mappings match it.", required=True, uniqueness="server"),
    Attr("members", "complex", multi=True, description="The users in the group (Drift team "
         "members). Nested groups are not supported.", sub=(
             Attr("value", case_exact=True, mutability="immutable",
                  description="The id of the member User."),
             Attr("$ref", "reference", case_exact=True, mutability="immutable",
                  reference_types=("User",), description="The URI of the member User."),
             Attr("type", canonical=("User",), mutability="immutable",
                  description="Always 'User'."),
         )),
))

USER = ResourceDef("User", "/Users", "User Account", USER_SCHEMA, (ENTERPRISE_SCHEMA,), COMMON)
GROUP = ResourceDef("Group", "/Groups", "Group", GROUP_SCHEMA, (), COMMON)
RESOURCES = (USER, GROUP)


@dataclass(frozen=True)
class AttrRef:
    """An attribute path resolved against a resource definition.

    `schema` is None for common attributes (id, externalId, meta). `attr` is None when the
    path names a whole extension schema."""

    schema: SchemaDef | None
    attr: Attr | None
    sub: Attr | None = None

    @property
    def extension(self) -> str | None:
        """The extension URN the attribute is stored under, or None for the core schema."""
        if self.schema is None or self.schema.id in (URN_USER, URN_GROUP):
            return None
        return self.schema.id

    @property
    def leaf(self) -> Attr | None:
        return self.sub or self.attr

    def dotted(self) -> str:
        parts = []
        if self.extension:
            parts.append(self.extension + (":" if self.attr else ""))
        if self.attr:
            parts.append(self.attr.name + (f".{self.sub.name}" if self.sub else ""))
        return "".join(parts)


@functools.lru_cache(maxsize=4096)
def resolve(rdef: ResourceDef, path: str) -> AttrRef | None:
    """`userName`, `name.givenName`, `urn:...:User:userName`, `urn:...:enterprise:2.0:User`,
    `urn:...:enterprise:2.0:User:manager.value` -> AttrRef; None if unknown. Cached: a pure
    function of the definition (compared by identity) and the text, called for every key of
    every body and filter (a SCIM create resolved each of its keys two or three times)."""
    text = path.strip()
    low = text.lower()
    schema: SchemaDef | None = None
    rest = text
    for s in sorted(rdef.schemas, key=lambda s: -len(s.id)):
        sid = s.id.lower()
        if low == sid:
            return AttrRef(s, None) if s is not rdef.core else None
        if low.startswith(sid + ":"):
            schema, rest = s, text[len(sid) + 1:]
            break
    else:
        if low.startswith("urn:"):
            return None
    name, _, sub_name = rest.partition(".")
    if not name:
        return None
    attr: Attr | None = None
    if schema is None or schema is rdef.core:
        common = rdef.common_attr(name)
        if common is not None:
            attr, schema = common, None
        else:
            attr = rdef.core.attr(name)
            schema = rdef.core
            if attr is None and schema is rdef.core and rest == text:
                # lenient: an unqualified extension attribute (`department`)
                for ext in rdef.extensions:
                    found = ext.attr(name)
                    if found is not None:
                        attr, schema = found, ext
                        break
    else:
        attr = schema.attr(name)
    if attr is None:
        return None
    if sub_name:
        sub = attr.child(sub_name)
        if sub is None or "." in sub_name:
            return None
        return AttrRef(schema, attr, sub)
    return AttrRef(schema, attr)
