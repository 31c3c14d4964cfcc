"""Malformed SCIM requests: truncated JSON, wrong types, huge values, deep nesting, unknown
PATCH operations, bad filters, bad paths and bad bulk requests. Each one is a SCIM Error with
`status: "400"` (a string), never a 500, and nothing is written: the tenant's users, groups,
memberships, audit log and outbox are exactly as before.

A table of hand-written cases, then hypothesis generating junk of the same kinds (bounded,
deterministic)."""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from tests.conftest import Tenant
from tests.scim.conftest import (
    ENTERPRISE_URN,
    ERROR_URN,
    GROUP_URN,
    PATCH_URN,
    SCIM_JSON,
    USER_URN,
    Scim,
)

BULK_URN = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
SEARCH_URN = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


def nested(depth: int, leaf: Any = "x") -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def deep_json(depth: int) -> bytes:
    return b"[" * depth + b'"x"' + b"]" * depth


def user(**attrs: Any) -> dict[str, Any]:
    return {"schemas": [USER_URN], "userName": "malformed@example.com", **attrs}


def ops(*operations: Any) -> dict[str, Any]:
    return {"schemas": [PATCH_URN], "Operations": list(operations)}


def bulk(*operations: Any, **extra: Any) -> dict[str, Any]:
    return {"schemas": [BULK_URN], "Operations": list(operations), **extra}


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str  # {user} and {group} are an existing user's and group's ids
    body: Any = None  # bytes are sent as they are; anything else as JSON
    params: dict[str, str] | None = None
    scim_type: str | None = None


CASES = [
    # ---- bodies that are not JSON, or not a JSON object ----
    Case("truncated", "POST", "/Users",
         b'{"schemas": ["' + USER_URN.encode() + b'"], "userName": "trunc', None, "invalidSyntax"),
    Case("truncated-patch", "PATCH", "/Users/{user}", b'{"Operations": [{"op": "replace", "pa',
         None, "invalidSyntax"),
    Case("trailing-garbage", "POST", "/Groups", b'{"displayName": "g"} xyz', None,
         "invalidSyntax"),
    Case("not-json", "PUT", "/Users/{user}", b"userName=x", None, "invalidSyntax"),
    Case("empty", "POST", "/Users", b"", None, "invalidSyntax"),
    Case("lone-surrogate", "POST", "/Users", b'{"userName": "\\ud800"}'),
    Case("invalid-utf8", "POST", "/Users", b'{"userName": "\xff\xfe"}', None, "invalidSyntax"),
    Case("array", "POST", "/Users", []),
    Case("string", "POST", "/Groups", "displayName"),
    Case("null", "PATCH", "/Users/{user}", b"null"),
    Case("number", "POST", "/Bulk", 42),
    Case("deep-body", "POST", "/Users", deep_json(100_000), None, "invalidSyntax"),
    # ---- wrong types ----
    # (a number for a string attribute is a documented leniency: employeeNumber 1234)
    Case("userName-boolean", "POST", "/Users", user(userName=True)),
    Case("userName-object", "POST", "/Users", user(userName={"value": "a@example.com"})),
    Case("userName-null", "POST", "/Users", user(userName=None)),
    Case("userName-list", "POST", "/Users", user(userName=["a@example.com"])),
    Case("userName-missing", "POST", "/Users", {"schemas": [USER_URN], "displayName": "x"}),
    Case("userName-empty", "POST", "/Users", user(userName="")),
    Case("active-word", "POST", "/Users", user(active="maybe")),
    Case("active-number", "PUT", "/Users/{user}", user(active=3)),
    Case("emails-string", "POST", "/Users", user(emails="a@example.com")),
    Case("emails-numbers", "POST", "/Users", user(emails=[1, 2])),
    Case("email-value-object", "POST", "/Users", user(emails=[{"value": {"a": 1}}])),
    Case("name-string", "POST", "/Users", user(name="Alice Smith")),
    Case("name-part-list", "PUT", "/Users/{user}", user(name={"givenName": ["Alice"]})),
    Case("schemas-string", "POST", "/Users", user(schemas=USER_URN)),
    Case("enterprise-number", "POST", "/Users", user(**{ENTERPRISE_URN: 5})),
    Case("manager-list", "POST", "/Users", user(**{ENTERPRISE_URN: {"manager": [1, 2]}})),
    Case("manager-boolean", "POST", "/Users", user(**{ENTERPRISE_URN: {"manager": True}})),
    Case("displayName-object", "POST", "/Groups", {"schemas": [GROUP_URN],
                                                   "displayName": {"x": 1}}),
    Case("group-name-missing", "POST", "/Groups", {"schemas": [GROUP_URN]}),
    Case("members-string", "POST", "/Groups", {"schemas": [GROUP_URN], "displayName": "g2",
                                               "members": "everyone"}),
    Case("member-not-an-id", "POST", "/Groups", {"schemas": [GROUP_URN], "displayName": "g3",
                                                 "members": [{"value": "nobody"}]}),
    Case("member-value-list", "PUT", "/Groups/{group}", {"schemas": [GROUP_URN],
                                                         "displayName": "g4",
                                                         "members": [{"value": [1]}]}),
    # ---- huge values ----
    Case("huge-userName", "POST", "/Users", user(userName="u" * 100_000 + "@example.com")),
    Case("huge-displayName", "POST", "/Users", user(displayName="d" * 900_000)),
    Case("huge-number", "POST", "/Users", user(active=10 ** 400)),
    Case("huge-float", "POST", "/Users", b'{"userName": "f@example.com", "active": 1e999}'),
    Case("nul-in-userName", "POST", "/Users", user(userName="a\x00b@example.com")),
    # ---- deep nesting inside values ----
    Case("deep-name", "POST", "/Users", user(name={"givenName": nested(500)})),
    Case("deep-patch-value", "PATCH", "/Users/{user}",
         ops({"op": "replace", "path": "displayName", "value": nested(500)})),
    Case("deep-members", "PATCH", "/Groups/{group}",
         ops({"op": "add", "path": "members", "value": nested(500, {"value": "x"})})),
    # ---- PATCH operations ----
    Case("patch-no-operations", "PATCH", "/Users/{user}", {"schemas": [PATCH_URN]}),
    Case("patch-operations-object", "PATCH", "/Users/{user}",
         {"schemas": [PATCH_URN], "Operations": {"op": "replace"}}),
    Case("patch-operations-empty", "PATCH", "/Users/{user}", ops()),
    Case("patch-op-not-object", "PATCH", "/Users/{user}", ops("replace")),
    Case("patch-unknown-op", "PATCH", "/Users/{user}",
         ops({"op": "frobnicate", "path": "displayName", "value": "x"})),
    Case("patch-op-missing", "PATCH", "/Users/{user}", ops({"path": "displayName",
                                                           "value": "x"})),
    Case("patch-op-number", "PATCH", "/Groups/{group}", ops({"op": 1, "path": "displayName",
                                                            "value": "x"})),
    Case("patch-move", "PATCH", "/Users/{user}", ops({"op": "move", "from": "title",
                                                     "path": "displayName"})),
    Case("patch-replace-no-value", "PATCH", "/Users/{user}", ops({"op": "replace",
                                                                 "path": "title"})),
    Case("patch-add-no-value", "PATCH", "/Groups/{group}", ops({"op": "add",
                                                               "path": "members"})),
    Case("patch-remove-no-path", "PATCH", "/Users/{user}", ops({"op": "remove"}), None,
         "noTarget"),
    Case("patch-active-word", "PATCH", "/Users/{user}",
         ops({"op": "replace", "path": "active", "value": "perhaps"})),
    Case("patch-userName-list", "PATCH", "/Users/{user}",
         ops({"op": "replace", "path": "userName", "value": ["a", "b"]})),
    Case("patch-userName-null", "PATCH", "/Users/{user}",
         ops({"op": "replace", "path": "userName", "value": None})),
    Case("patch-readonly-id", "PATCH", "/Users/{user}",
         ops({"op": "replace", "path": "id", "value": "00000000-0000-0000-0000-000000000000"})),
    Case("patch-valid-then-invalid", "PATCH", "/Users/{user}",
         ops({"op": "replace", "path": "title", "value": "changed"},
             {"op": "frobnicate", "path": "title", "value": "x"})),
    Case("patch-member-not-an-id", "PATCH", "/Groups/{group}",
         ops({"op": "add", "path": "members", "value": [{"value": "nobody"}]})),
    # ---- PATCH paths ----
    *[Case(f"path-{name}", "PATCH", "/Users/{user}",
           ops({"op": "replace", "path": path, "value": "x"})) for name, path in [
        ("number", 5), ("empty", ""), ("unterminated-filter", 'emails[type eq "work"'),
        ("empty-filter", "emails[]"), ("bad-filter", 'emails[type zz "work"].value'),
        ("double-dot", "name..givenName"), ("bracket", "["), ("sub-of-simple", "userName.first"),
        ("bad-urn", "urn:nope:nope:attr"), ("nul", "display\x00Name"),
    ]],
    # ---- filters ----
    *[Case(f"filter-{i}", "GET", "/Users", None, {"filter": f}, "invalidFilter") for i, f in
      enumerate([
          "userName eq", 'userName zz "x"', 'userName eq "unterminated', '(userName eq "a"',
          'userName eq "a")', 'emails[type eq "work"', 'emails[type eq "work"]]', "and",
          "not", 'userName eq "a" and', '"userName" eq "x"', "userName eq x", "userName pr pr",
          'userName eq "a" or or userName eq "b"', "(" * 2000 + 'userName pr' + ")" * 2000,
          'userName eq "' + "a" * 5000 + '"', 'userName eq "\x00"', "userName eq \"\\ud800\"",
          'emails[value eq "a"]]', "emails[type eq \"work\"].value.deeper eq \"x\"",
          "meta.created gt \"not-a-date\"", "active eq \"yes\"", 'name.familyName.x eq "a"',
          "userName sw", "not (", "[userName pr]", 'userName eq "a" userName eq "b"',
          "userName eq 1e999", "userName eq @", " ",
      ])],
    Case("filter-groups", "GET", "/Groups", None, {"filter": 'displayName eq "a'},
         "invalidFilter"),
    Case("search-bad-filter", "POST", "/Users/.search",
         {"schemas": [SEARCH_URN], "filter": 'userName eq "a'}, None, "invalidFilter"),
    Case("search-root-bad-filter", "POST", "/.search",
         {"schemas": [SEARCH_URN], "filter": "((("}, None, "invalidFilter"),
    Case("search-filter-number", "POST", "/Users/.search", {"schemas": [SEARCH_URN],
                                                            "filter": 5}),
    Case("search-count-word", "POST", "/Groups/.search", {"schemas": [SEARCH_URN],
                                                          "count": "many"}),
    Case("search-not-object", "POST", "/.search", [1, 2, 3]),
    Case("param-startIndex", "GET", "/Users", None, {"startIndex": "first"}, "invalidValue"),
    Case("param-count", "GET", "/Groups", None, {"count": "1.5"}, "invalidValue"),
    Case("param-sortOrder", "GET", "/Users", None, {"sortOrder": "sideways"}, "invalidValue"),
    # ---- bulk requests ----
    Case("bulk-no-operations", "POST", "/Bulk", {"schemas": [BULK_URN]}),
    Case("bulk-operations-object", "POST", "/Bulk", {"schemas": [BULK_URN],
                                                     "Operations": {"method": "POST"}}),
    Case("bulk-op-not-object", "POST", "/Bulk", bulk("POST /Users")),
    Case("bulk-failOnErrors-word", "POST", "/Bulk",
         bulk({"method": "POST", "path": "/Users", "bulkId": "a", "data": user()},
              failOnErrors="never")),
    Case("bulk-truncated", "POST", "/Bulk", b'{"schemas": ["' + BULK_URN.encode()
         + b'"], "Operations": [{"method": "POST", "path": "/Us', None, "invalidSyntax"),
    Case("bulk-deep", "POST", "/Bulk", bulk({"method": "POST", "path": "/Users",
                                             "bulkId": "d", "data": nested(600)}), None,
         "invalidSyntax"),
    Case("deep-unknown-attribute", "POST", "/Users", user(extra=nested(900)), None,
         "invalidSyntax"),
]

# Bulk operations that are individually malformed. Either the whole request is refused before
# anything runs (a SCIM 400), or it is answered 200 with a BulkResponse in which that
# operation's own status is "400" with a SCIM Error; either way nothing is written.
BULK_OPERATIONS = {
    "method-missing": {"path": "/Users", "bulkId": "a", "data": user()},
    "method-unknown": {"method": "TRACE", "path": "/Users", "bulkId": "a", "data": user()},
    "method-number": {"method": 7, "path": "/Users", "bulkId": "a", "data": user()},
    "path-missing": {"method": "POST", "bulkId": "a", "data": user()},
    "path-unknown": {"method": "POST", "path": "/Robots", "bulkId": "a", "data": user()},
    "path-number": {"method": "PATCH", "path": 5, "data": ops()},
    "bulkId-missing": {"method": "POST", "path": "/Users", "data": user()},
    "data-missing": {"method": "POST", "path": "/Users", "bulkId": "a"},
    "data-string": {"method": "POST", "path": "/Users", "bulkId": "a", "data": "x"},
    "data-wrong-types": {"method": "POST", "path": "/Users", "bulkId": "a",
                         "data": user(userName=False)},
    "unknown-bulkId-ref": {"method": "POST", "path": "/Groups", "bulkId": "g",
                           "data": {"schemas": [GROUP_URN], "displayName": "refs",
                                    "members": [{"value": "bulkId:nowhere"}]}},
    "patch-unknown-op": {"method": "PATCH", "path": "/Users/{user}",
                         "data": ops({"op": "frobnicate", "path": "title", "value": "x"})},
}


async def snapshot(t: Tenant) -> dict[str, Any]:
    """Everything a SCIM request could write, in a comparable form."""
    rows = await t.sql(
        "SELECT (SELECT md5(coalesce(string_agg(u::text, ',' ORDER BY id), '')) FROM users u)"
        "       AS users,"
        " (SELECT md5(coalesce(string_agg(g::text, ',' ORDER BY id), '')) FROM teams g)"
        "       AS teams,"
        " (SELECT md5(coalesce(string_agg(m::text, ',' ORDER BY team_id, user_id), ''))"
        "    FROM team_memberships m) AS memberships,"
        " (SELECT count(*) FROM audit_events) AS audit,"
        " (SELECT count(*) FROM outbox_events) AS outbox")
    return dict(rows[0])


@dataclass
class World:
    scim: Scim
    user_id: str
    group_id: str
    before: dict[str, Any]

    def path(self, template: str) -> str:
        return template.format(user=self.user_id, group=self.group_id)

    async def send(self, method: str, path: str, body: Any = None,
                   params: dict[str, str] | None = None) -> httpx.Response:
        headers = dict(self.scim.headers)
        content: bytes | None = None
        if body is not None:
            headers["Content-Type"] = SCIM_JSON
            content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await self.scim.client.request(method, "/scim/v2" + self.path(path),
                                              content=content, headers=headers, params=params)

    async def unchanged(self) -> None:
        assert await snapshot(self.scim.tenant) == self.before, "something was written"


@pytest.fixture
async def world(scim: Scim) -> World:
    u = await scim.create_user("existing@example.com", displayName="Existing", title="t0",
                               emails=[{"value": "existing@example.com", "type": "work"}])
    g = await scim.create_group("Existing group", members=[u["id"]])
    return World(scim, u["id"], g["id"], await snapshot(scim.tenant))


def assert_scim_400(r: httpx.Response, scim_type: str | None = None) -> dict[str, Any]:
    assert r.status_code == 400, (r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith(SCIM_JSON)
    body: dict[str, Any] = r.json()
    assert body["schemas"] == [ERROR_URN] and body["status"] == "400", body
    assert isinstance(body["detail"], str) and body["detail"], body
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
    return body


def _json_size(body: Any) -> int:
    return len(body) if isinstance(body, bytes) else len(json.dumps(body))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_malformed_request_is_a_scim_400_and_writes_nothing(world: World,
                                                                  case: Case) -> None:
    assert case.body is None or _json_size(case.body) < 1_048_576  # under maxPayloadSize
    r = await world.send(case.method, case.path, case.body, case.params)
    assert_scim_400(r, case.scim_type)
    await world.unchanged()
    # the resources the requests aimed at are as they were
    got = (await world.send("GET", "/Users/{user}")).json()
    assert (got["userName"], got["displayName"], got["title"]) == (
        "existing@example.com", "Existing", "t0")


@pytest.mark.parametrize("name", list(BULK_OPERATIONS))
async def test_a_malformed_bulk_operation_is_a_400_in_its_response(world: World,
                                                                   name: str) -> None:
    operation = orjson.loads(orjson.dumps(BULK_OPERATIONS[name]).decode().replace(
        "{user}", world.user_id))
    r = await world.send("POST", "/Bulk", bulk(operation, failOnErrors=1))
    if r.status_code == 200:
        (result,) = r.json()["Operations"]
        assert result["status"] == "400", result
        assert result["response"]["schemas"] == [ERROR_URN]
        assert result["response"]["status"] == "400" and result["response"]["detail"]
    else:
        assert_scim_400(r)
    await world.unchanged()


# ---- generated junk ----

JSON_LEAVES = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
               | st.text(max_size=20))
JSON = st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20)
# not a string, nor a number (numbers are accepted for string attributes, as IdPs send them)
NOT_A_STRING = JSON.filter(lambda v: isinstance(v, bool) or not isinstance(v, str | int | float))
ATTRIBUTES = st.sampled_from(["displayName", "title", "active", "emails", "name", "userName",
                              "phoneNumbers", "externalId", "members", "nickName", "locale"])
FILTER_CHARS = st.sampled_from([*'()[]". \\', "eq", "ne", "co", "sw", "pr", "gt", "and", "or",
                                "not", "userName", "emails", "type", "value", "\x00",
                                "\\ud800", "é"])


@st.composite
def junk_requests(draw: st.DrawFn) -> tuple[str, str, Any]:
    """A request that is malformed by construction."""
    kind = draw(st.sampled_from(["truncated", "not-object", "bad-userName", "bad-op",
                                 "bad-operations", "bad-bulk", "random-bytes"]))
    if kind == "truncated":  # a valid body cut short is never valid JSON
        full = orjson.dumps(user(displayName=draw(st.text(max_size=30)),
                                 title=draw(st.text(max_size=30))))
        return "POST", "/Users", full[:draw(st.integers(1, len(full) - 1))]
    if kind == "not-object":
        body = draw(JSON.filter(lambda v: not isinstance(v, dict)))
        method, path = draw(st.sampled_from([("POST", "/Users"), ("POST", "/Groups"),
                                             ("PATCH", "/Users/{user}"), ("POST", "/Bulk"),
                                             ("PUT", "/Groups/{group}")]))
        return method, path, body
    if kind == "bad-userName":
        extra = draw(st.dictionaries(st.text(alphabet=string.ascii_letters, max_size=8), JSON,
                                     max_size=3))
        return "POST", "/Users", {**extra, "schemas": [USER_URN],
                                  "userName": draw(NOT_A_STRING)}
    if kind == "bad-op":
        op = draw(st.text(max_size=12).filter(
            lambda s: s.strip().lower() not in ("add", "remove", "replace")) | NOT_A_STRING)
        operation = {"op": op, "path": draw(ATTRIBUTES), "value": draw(JSON)}
        return "PATCH", draw(st.sampled_from(["/Users/{user}", "/Groups/{group}"])), ops(
            operation)
    if kind == "bad-operations":
        value = draw(JSON.filter(lambda v: not isinstance(v, list) or v == []))
        return "PATCH", "/Users/{user}", {"schemas": [PATCH_URN], "Operations": value}
    if kind == "bad-bulk":
        value = draw(JSON.filter(lambda v: not isinstance(v, list)))
        return "POST", "/Bulk", {"schemas": [BULK_URN], "Operations": value}
    raw = draw(st.binary(min_size=1, max_size=64))
    try:
        if isinstance(orjson.loads(raw), dict):
            raw = b"{" + raw  # an object would not be junk
    except orjson.JSONDecodeError:
        pass
    return "POST", draw(st.sampled_from(["/Users", "/Groups", "/Bulk"])), raw


@hyp_settings(max_examples=150, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
@given(request=junk_requests())
async def test_generated_junk_bodies_are_scim_400s(world: World,
                                                   request: tuple[str, str, Any]) -> None:
    method, path, body = request
    r = await world.send(method, path, body)
    assert_scim_400(r)
    await world.unchanged()


@hyp_settings(max_examples=150, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
@given(parts=st.lists(FILTER_CHARS, min_size=1, max_size=12), where=st.sampled_from(
    ["/Users", "/Groups"]))
async def test_generated_filters_are_answered_or_refused_as_invalidFilter(
        world: World, parts: list[str], where: str) -> None:
    """Random token soup: some of it is a valid filter (200), the rest must be a 400
    invalidFilter; never anything else, and a search never writes."""
    r = await world.send("GET", where, params={"filter": " ".join(parts)})
    if r.status_code != 200:
        assert_scim_400(r, "invalidFilter")
    else:
        assert r.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
    await world.unchanged()
