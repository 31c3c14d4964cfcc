"""SQL for a tenant's custom User attributes: their declaration (scim_custom_attributes) and
the filter index of their values (scim_custom_values; the values themselves are in
users.scim_resource under URN_CUSTOM)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from app.core.tx import Tx
from app.scim.constants import URN_CUSTOM
from app.scim.custom import CustomAttr

_COLUMNS = "name, type, required, case_exact, description, created_at"


async def list_attributes(tx: Tx) -> list[asyncpg.Record]:
    return await tx.fetch(f"SELECT {_COLUMNS} FROM scim_custom_attributes ORDER BY position")


async def replace_attributes(tx: Tx, attrs: list[CustomAttr], now: datetime) -> None:
    """The declaration becomes `attrs`: attributes left out are deleted (and with them, by
    ON DELETE CASCADE, their index rows), the others inserted or updated in place."""
    keys = [a.name.lower() for a in attrs]
    await tx.execute("DELETE FROM scim_custom_attributes WHERE name_key <> ALL($1::text[])",
                     keys)
    if not attrs:
        return
    await tx.execute(
        "INSERT INTO scim_custom_attributes AS a (tenant_id, name, type, required, case_exact,"
        " description, position, created_at)"
        " SELECT $1, n, t, r, c, d, p, $7 FROM unnest($2::text[], $3::text[], $4::bool[],"
        " $5::bool[], $6::text[]) WITH ORDINALITY AS x(n, t, r, c, d, p)"
        " ON CONFLICT (tenant_id, name_key) DO UPDATE SET name = excluded.name,"
        " type = excluded.type, required = excluded.required,"
        " case_exact = excluded.case_exact, description = excluded.description,"
        " position = excluded.position",
        tx.tenant_id, [a.name for a in attrs], [a.type for a in attrs],
        [a.required for a in attrs], [a.case_exact for a in attrs],
        [a.description for a in attrs], now)


async def delete_values(tx: Tx, name_keys: list[str], now: datetime) -> int:
    """Remove the values of these (lower-cased) attribute names from every user's document
    (the extension object goes when it is left empty); returns how many users changed."""
    return int(await tx.fetchval(
        "WITH s AS (SELECT u.id, coalesce((SELECT jsonb_object_agg(e.key, e.value)"
        "   FROM jsonb_each(u.scim_resource -> $1) e WHERE lower(e.key) <> ALL($2::text[])),"
        "   '{}'::jsonb) AS rest"
        "  FROM users u WHERE jsonb_typeof(u.scim_resource -> $1) = 'object'"
        "   AND EXISTS (SELECT 1 FROM jsonb_object_keys(u.scim_resource -> $1) k"
        "               WHERE lower(k) = ANY($2::text[]))),"
        " changed AS (UPDATE users u SET updated_at = $3, scim_resource = CASE"
        "   WHEN s.rest = '{}'::jsonb THEN u.scim_resource - $1"
        "   ELSE jsonb_set(u.scim_resource, ARRAY[$1], s.rest) END"
        "  FROM s WHERE u.id = s.id RETURNING 1)"
        " SELECT count(*) FROM changed", URN_CUSTOM, name_keys, now))


# The index rows of the users' custom values: value_key is the value as text (true/false,
# digits, the stored UTC dateTime), lower-cased for strings that are not caseExact; filters
# compare against the same form (app.scim.custom.filter_value).
_REINDEX = """
INSERT INTO scim_custom_values (tenant_id, user_id, name_key, value_key)
SELECT u.tenant_id, u.id, a.name_key,
       CASE WHEN a.type = 'string' AND NOT a.case_exact THEN lower(e.value #>> '{{}}')
            ELSE e.value #>> '{{}}' END
  FROM users u
 CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(u.scim_resource -> $1) = 'object'
                                    THEN u.scim_resource -> $1 ELSE '{{}}'::jsonb END)
       AS e(key, value)
  JOIN scim_custom_attributes a ON a.tenant_id = u.tenant_id AND a.name_key = lower(e.key)
 WHERE jsonb_typeof(e.value) IN ('string', 'number', 'boolean'){scope}
ON CONFLICT DO NOTHING
"""


async def reindex(tx: Tx, user_id: UUID | None) -> None:
    """Rebuild the index rows of one user (after a write) or of every user (after the
    declaration changed how values compare)."""
    if user_id is None:
        await tx.execute("DELETE FROM scim_custom_values")
        await tx.execute(_REINDEX.format(scope=""), URN_CUSTOM)
        return
    await tx.execute("DELETE FROM scim_custom_values WHERE user_id = $1", user_id)
    await tx.execute(_REINDEX.format(scope=" AND u.id = $2"), URN_CUSTOM, user_id)
