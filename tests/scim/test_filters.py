"""Filters: the RFC grammar, translated to parameterised SQL (never evaluated in Python)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.datastructures import QueryParams

from app.core.context import RequestContext
from app.core.db import connect
from app.core.runtime import Runtime
from app.core.tx import own_tx
from app.scim.filter_syntax import And, Compare, Not, Or, Present, ValuePath, parse_filter
from app.scim.repository import search
from app.scim.repository.filters import Params, where_sql
from app.scim.repository.search import user_target
from app.scim.service import query
from tests.conftest import DbInfo, Tenant
from tests.scim.conftest import ENTERPRISE_URN, Scim, assert_scim_error


async def _names(scim: Scim, flt: str, resource: str = "Users") -> list[str]:
    r = await scim.get(f"/{resource}", params={"filter": flt, "count": "1000"})
    assert r.status_code == 200, f"{flt}: {r.text}"
    key = "userName" if resource == "Users" else "displayName"
    return sorted(u[key] for u in r.json()["Resources"])


@pytest.fixture
async def five(scim: Scim) -> dict[str, dict[str, Any]]:
    people = {
        "ada": dict(name={"givenName": "Ada", "familyName": "Lovelace"}, title="Countess",
                    externalId="EXT-ada", emails=[{"value": "ada@math.example", "type": "work",
                                                   "primary": True},
                                                  {"value": "ada@home.example", "type": "home"}],
                    **{ENTERPRISE_URN: {"department": "Engines", "employeeNumber": "1815",
                                        "manager": {"value": "babbage"}}}),
        "alan": dict(name={"givenName": "Alan", "familyName": "Turing"}, title="Fellow",
                     externalId="ext-alan", emails=[{"value": "alan@bletchley.example",
                                                     "type": "work"}],
                     **{ENTERPRISE_URN: {"department": "Codebreaking"}}),
        "grace": dict(name={"givenName": "Grace", "familyName": "Hopper"}, title="Admiral",
                      emails=[{"value": "grace@navy.example", "type": "work"}],
                      nickName="Amazing Grace"),
        "edsger": dict(name={"givenName": "Edsger", "familyName": "Dijkstra"},
                       emails=[{"value": "ewd@utexas.example", "type": "other"}],
                       active=False),
        "barbara": dict(name={"givenName": "Barbara", "familyName": "Liskov"},
                        title="Professor", userType="Employee",
                        phoneNumbers=[{"value": "+1-555-0100", "type": "work"}]),
    }
    out = {}
    for user_name, attrs in people.items():
        out[user_name] = await scim.create_user(user_name, **attrs)
    return out


async def test_a_filter_returns_exactly_the_one_of_five(scim: Scim, five: Any) -> None:
    r = await scim.get("/Users", params={"filter": 'userName eq "grace"'})
    body = r.json()
    assert body["totalResults"] == 1 and body["itemsPerPage"] == 1
    assert [u["id"] for u in body["Resources"]] == [five["grace"]["id"]]


@pytest.mark.parametrize(("flt", "expected"), [
    ('userName eq "GRACE"', ["grace"]),  # caseExact false
    ('USERNAME EQ "grace"', ["grace"]),  # names and operators in any case
    ('userName ne "grace"', ["ada", "alan", "barbara", "edsger"]),
    ('userName co "A"', ["ada", "alan", "barbara", "grace"]),
    ('userName sw "a"', ["ada", "alan"]),
    ('userName ew "A"', ["ada", "barbara"]),
    ('userName gt "barbara"', ["edsger", "grace"]),
    ('userName ge "barbara"', ["barbara", "edsger", "grace"]),
    ('userName lt "alan"', ["ada"]),
    ('userName le "alan"', ["ada", "alan"]),
    ("title pr", ["ada", "alan", "barbara", "grace"]),
    ("nickName pr", ["grace"]),
    ('externalId eq "ext-ada"', []),  # caseExact true
    ('externalId eq "EXT-ada"', ["ada"]),
    ("active eq false", ["edsger"]),
    ('name.familyName eq "hopper"', ["grace"]),
    ('name.givenName sw "a" and not (title eq "fellow")', ["ada"]),
    ('title eq "Admiral" or title eq "Countess"', ["ada", "grace"]),
    ('(title eq "Admiral" or title eq "Countess") and emails.type eq "home"', ["ada"]),
    ('emails.value ew "@navy.example"', ["grace"]),
    ('emails eq "ewd@utexas.example"', ["edsger"]),
    ('emails[type eq "work" and value co "bletchley"]', ["alan"]),
    ('emails[type eq "home"]', ["ada"]),
    ('emails[type eq "work"].value eq "ada@math.example"', ["ada"]),  # Entra's form
    ('emails[not (type eq "work")]', ["ada", "edsger"]),
    ("phoneNumbers pr", ["barbara"]),
    (f'{ENTERPRISE_URN}:department eq "engines"', ["ada"]),
    (f'{ENTERPRISE_URN.upper()}:DEPARTMENT pr', ["ada", "alan"]),
    (f'{ENTERPRISE_URN}:manager.value eq "babbage"', ["ada"]),
    (f'{ENTERPRISE_URN}:employeeNumber eq "1815"', ["ada"]),
    ("urn:ietf:params:scim:schemas:core:2.0:User:userName eq \"alan\"", ["alan"]),
    (f"{ENTERPRISE_URN} pr", ["ada", "alan"]),
    ('not (userName eq "ada") and not (userName eq "alan") and title pr', ["barbara", "grace"]),
    ("not (title pr)", ["edsger"]),
    ('title eq null', ["edsger"]),
    ('userType ne "Employee"', ["ada", "alan", "edsger", "grace"]),
    ('meta.resourceType eq "User"', ["ada", "alan", "barbara", "edsger", "grace"]),
    ('userName eq "x\\" or \\"1\\"=\\"1"', []),  # values are bound, never spliced
])
async def test_filter_operators(scim: Scim, five: Any, flt: str, expected: list[str]) -> None:
    names = [n for n in await _names(scim, flt) if not n.startswith("owner@")]
    assert names == sorted(expected), flt


async def test_filters_on_dates_ids_and_groups(scim: Scim, five: Any) -> None:
    ada = five["ada"]
    assert await _names(scim, f'id eq "{ada["id"]}"') == ["ada"]
    assert await _names(scim, 'id eq "not-a-uuid"') == []
    created = ada["meta"]["created"]
    later = [n for n in await _names(scim, f'meta.created gt "{created}"')]
    assert later == ["alan", "barbara", "edsger", "grace"]
    assert "ada" in await _names(scim, f'meta.lastModified le "{created}"')
    g = await scim.create_group("Pioneers", [ada["id"], five["grace"]["id"]])
    assert await _names(scim, f'groups.value eq "{g["id"]}"') == ["ada", "grace"]
    assert await _names(scim, 'groups[display eq "pioneers"]') == ["ada", "grace"]
    assert await _names(scim, f'members.value eq "{ada["id"]}"', "Groups") == ["Pioneers"]
    assert await _names(scim, 'displayName eq "PIONEERS"', "Groups") == ["Pioneers"]
    assert await _names(scim, "members pr", "Groups") == ["Pioneers"]


@pytest.mark.parametrize("flt", [
    'userName eq', 'userName "x"', 'userName eq "x" and', '(userName eq "x"',
    'userName xx "x"', 'nosuchattribute eq "x"', 'emails[type eq "work"', 'name eq "x"',
    'active gt true', 'active eq "yes"', 'userName eq 5', 'meta.created gt "yesterday"',
    'emails[type[x eq 1]]', 'password eq "x"', 'userName eq "unterminated', 'x.y.z eq 1',
    'title co null', 'emails[type eq "x"]]', '',
])
async def test_a_bad_filter_is_400_invalid_filter(scim: Scim, flt: str) -> None:
    r = await scim.get("/Users", params={"filter": flt})
    if flt == "":
        assert r.status_code == 200  # an empty filter parameter means no filter
        return
    assert_scim_error(r, 400, "invalidFilter")


async def test_filter_translation_is_an_indexed_parameterised_query(
        runtime: Runtime, tenant: Tenant, test_db: DbInfo) -> None:
    await tenant.sql("INSERT INTO users (tenant_id, user_name) SELECT $1, 'bulk-' || n"
                     " FROM generate_series(1, 2000) n", tenant.id)
    owner = await connect(test_db.owner_url)
    try:
        await owner.execute("ANALYZE users")
    finally:
        await owner.close()
    params = Params([tenant.id])
    sql = where_sql(parse_filter('userName eq "o\'brien; DROP TABLE users"'), user_target(),
                    params)
    assert "brien" not in sql and "DROP" not in sql
    assert params.values[1:] == ["o'brien; DROP TABLE users"]
    async with own_tx(runtime.db, tenant.id, RequestContext()) as tx:
        plan = "\n".join(r[0] for r in await tx.fetch(
            f"EXPLAIN SELECT u.id FROM users u WHERE u.tenant_id = $1"
            f" AND u.scim_deleted_at IS NULL AND {sql}", *params.values))
    assert "users_scim_user_name_key" in plan, plan


def test_parser_builds_the_rfc_tree() -> None:
    assert parse_filter('userName Eq "a"') == Compare("userName", "eq", "a")
    assert parse_filter('a pr or b pr and not(c pr)') == Or(
        Present("a"), And(Present("b"), Not(Present("c"))))
    assert parse_filter('emails[type eq "work"].value co "@x"') == ValuePath(
        "emails", And(Compare("type", "eq", "work"), Compare("value", "co", "@x")))
    assert parse_filter("x eq 1.5e3 and y eq -2 and z eq TRUE and w eq null") == And(
        And(And(Compare("x", "eq", 1500.0), Compare("y", "eq", -2)), Compare("z", "eq", True)),
        Compare("w", "eq", None))
    assert parse_filter('title eq "a \\"quoted\\" \\u00e9"') == Compare(
        "title", "eq", 'a "quoted" é')


async def test_hostile_filters_are_refused_cleanly(scim: Scim) -> None:
    for flt in ["(" * 200 + "title pr" + ")" * 200, 'title eq "\\u0000"', 'title eq "\\ud800"',
                "title pr " + "or title pr " * 2000]:
        assert_scim_error(await scim.get("/Users", params={"filter": flt}), 400,
                          "invalidFilter")
    nul = await scim.post("/Users", {"userName": "nul\u0000byte"})
    assert_scim_error(nul, 400, "invalidValue")


async def test_an_eq_filter_on_a_unique_attribute_pages_like_any_other(scim: Scim) -> None:
    """`userName eq`, `id eq` and a group's `displayName eq` match at most one resource, so
    they are read without a count or a sort (app.scim.repository.search._one_row); paging,
    totals and the user's groups must come out exactly as for any other filter."""
    ada = await scim.create_user("Ada@Example.com")
    await scim.create_user("alan@example.com")
    group = await scim.create_group("Engines", members=[ada["id"]])

    async def listed(resource: str, flt: str, **params: str) -> dict[str, Any]:
        r = await scim.get(f"/{resource}", params={"filter": flt, **params})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    found = await listed("Users", 'userName eq "ada@EXAMPLE.com"')
    assert (found["totalResults"], found["itemsPerPage"], found["startIndex"]) == (1, 1, 1)
    assert found["Resources"][0]["id"] == ada["id"]
    assert [g["value"] for g in found["Resources"][0]["groups"]] == [group["id"]]
    by_id = await listed("Users", f'id eq "{ada["id"]}"', attributes="userName")
    assert [u["userName"] for u in by_id["Resources"]] == ["Ada@Example.com"]
    # past the one result, and a count of 0: the total, no resources
    for params in ({"startIndex": "2"}, {"count": "0"}):
        page = await listed("Users", 'userName eq "ada@example.com"', **params)
        assert (page["totalResults"], page["Resources"]) == (1, [])
    assert (await listed("Users", 'userName eq "nobody@example.com"'))["totalResults"] == 0
    groups = await listed("Groups", 'displayName eq "ENGINES"')
    assert [g["id"] for g in groups["Resources"]] == [group["id"]]
    assert [m["value"] for m in groups["Resources"][0]["members"]] == [ada["id"]]


async def test_equal_filters_of_other_value_types_are_translated_apart(scim: Scim) -> None:
    """The statement of a page is cached per query (app.scim.repository.search._plan); `eq 1`
    and `eq true` are equal as values, and must still be told apart."""
    await scim.create_user("typed@example.com")
    first = await scim.get("/Users", params={"filter": "active eq true"})
    assert first.status_code == 200 and first.json()["totalResults"] >= 1, first.text
    for flt in ("active eq 1", "active eq 1.0"):
        after_true = await scim.get("/Users", params={"filter": flt})
        search._cached_plan.cache_clear()
        uncached = await scim.get("/Users", params={"filter": flt})
        assert (after_true.status_code, after_true.json()) == (uncached.status_code,
                                                              uncached.json())
        assert_scim_error(after_true, 400, "invalidFilter")


@pytest.mark.parametrize("qs", [
    b"filter=userName+eq+%22a%40b.example%22&count=5",
    b"count=5&count=7&startIndex=",  # the last of a repeated name; a blank value
    b"FILTER=userName%20eq%20%22x%22&SortOrder=descending",  # names in any case
    b"attributes=userName,emails&excludedAttributes=",
    b"filter=displayName+eq+%22%E9%22",  # a non-UTF-8 byte reads as latin-1, as Starlette's
    b"",
])
def test_the_query_string_reads_as_the_request_query_params(qs: bytes) -> None:
    assert query.from_query_string(qs) == query.from_params(QueryParams(qs))
