"""URNs, media type and the limits /ServiceProviderConfig announces."""

from __future__ import annotations

PREFIX = "/scim/v2"
MEDIA_TYPE = "application/scim+json"

URN_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
URN_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
URN_ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
# The one extension schema holding a tenant's own User attributes (docs/scim.md, "Custom
# attributes"); advertised only to a tenant that declared some.
URN_CUSTOM = "urn:drift:params:scim:schemas:extension:custom:2.0:User"
URN_SPC = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
URN_RESOURCE_TYPE = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
URN_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
URN_LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
URN_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
URN_PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
URN_SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
URN_BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
URN_BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"

# A page never holds more than this many resources (filter.maxResults).
MAX_RESULTS = 1000
# startIndex above this is read as this: past any tenant's last resource, so an empty page,
# and an offset every layer (PostgreSQL bigint, JSON numbers) can represent.
MAX_START_INDEX = 2**31 - 1
# Page size when the client sends no `count`.
DEFAULT_COUNT = 100
# Bulk limits (bulk.maxOperations, bulk.maxPayloadSize); the payload limit applies to every
# SCIM request body.
BULK_MAX_OPERATIONS = 1000
MAX_PAYLOAD_SIZE = 1_048_576
# Filters longer than this are refused before parsing.
MAX_FILTER_LENGTH = 4096
# Request bodies nested deeper than this are refused before anything walks them (the deepest
# real request, a Bulk PATCH of group members, is 9 levels).
MAX_JSON_DEPTH = 32
