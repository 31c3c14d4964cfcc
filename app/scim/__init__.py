"""SCIM 2.0 (RFC 7643/7644) at /scim/v2: discovery, Users, Groups, filters translated to SQL,
the PATCH engine, Bulk; and the admin REST API for SCIM tokens and group-to-role mappings.
See docs/scim.md."""
