"""Walk the OpenAPI document and send every input the kind of value a database refuses:

- every `format: date-time` field in a request body or query parameter gets a time without a
  zone: 422 naming the field, never a 500 (naive and zoned times cannot be compared);
- every text field in a request body, and every text query parameter, gets a NUL character:
  refused naming the field (PostgreSQL text cannot hold one), never the driver's text;
- every REST integer query parameter has bounds in the document, and out-of-range or garbage
  values are refused; every `cursor` parameter refuses forged cursors with a 4xx.

Bodies are the smallest the schema allows around the field under test (required properties
only); the refusal must name the field under test, whatever else the body lacks."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from app.config import Settings
from app.main import create_app
from tests.conftest import Tenant, assert_problem, bearer
from tests.scim.conftest import create_token

SCHEMA = create_app(Settings(run_worker=False)).openapi()
COMPONENTS = SCHEMA["components"]["schemas"]
METHODS = {"get", "post", "put", "patch", "delete"}
# What the database driver says; none of it may reach a client.
DRIVER_TEXT = ("query argument", "0x00", "int64", "int32", "asyncpg", "encoding",
               "invalid input", "out of range for type")


def deref(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = COMPONENTS[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    s = deref(schema)
    out = [deref(b) for key in ("anyOf", "oneOf", "allOf") for b in s.get(key, [])]
    return out or [s]


def is_text(schema: dict[str, Any]) -> bool:
    s = deref(schema)
    return (s.get("type") == "string" and "enum" not in s and "const" not in s
            and s.get("format") not in ("date-time", "uuid", "binary"))


Path = tuple[str, ...]  # property names, "[]" for an array item, "*" for a map value


def leaves(schema: dict[str, Any], path: Path = ()) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every scalar schema inside `schema`, with its path."""
    s = deref(schema)
    subs = [deref(b) for key in ("anyOf", "oneOf", "allOf") for b in s.get(key, [])]
    for b in subs:
        yield from leaves(b, path)
    if not subs:
        yield path, s
    for name, prop in (s.get("properties") or {}).items():
        yield from leaves(prop, (*path, name))
    if isinstance(s.get("items"), dict):
        yield from leaves(s["items"], (*path, "[]"))
    if isinstance(s.get("additionalProperties"), dict):
        yield from leaves(s["additionalProperties"], (*path, "*"))


def minimal(schema: dict[str, Any]) -> Any:
    s = deref(schema)
    if "const" in s:
        return s["const"]
    if "enum" in s:
        return s["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in s:
            options = [b for b in s[key] if deref(b).get("type") != "null"]
            return minimal(options[0])
    t, fmt = s.get("type"), s.get("format")
    if t == "string":
        return {"email": "walk@example.com", "uuid": str(uuid.uuid4()),
                "date-time": "2030-01-01T00:00:00Z"}.get(fmt or "", "x" * max(1, s.get(
                    "minLength", 1)))
    if t in ("integer", "number"):
        return s.get("minimum", 0)
    if t == "boolean":
        return False
    if t == "array":
        return []
    if t == "object" or "properties" in s:
        props = s.get("properties") or {}
        return {name: minimal(props[name]) for name in s.get("required", [])}
    return None


def build(schema: dict[str, Any], path: Path, value: Any) -> Any:
    """The smallest value of `schema` that carries `value` at `path`."""
    if not path:
        return value
    for s in branches(schema):
        head, rest = path[0], path[1:]
        if head == "[]" and isinstance(s.get("items"), dict):
            return [build(s["items"], rest, value)]
        if head == "*" and isinstance(s.get("additionalProperties"), dict):
            return {"k": build(s["additionalProperties"], rest, value)}
        props = s.get("properties") or {}
        if head in props:
            obj = minimal(s)
            obj[head] = build(props[head], rest, value)
            return obj
    raise AssertionError(f"no branch of the schema holds {path}")


def field_name(path: Path) -> str:
    """How the problem's `errors[].field` names `path` (list index 0, map key k)."""
    return ".".join({"[]": "0", "*": "k"}.get(p, p) for p in path)


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for url, ops in SCHEMA["paths"].items():
        for method, op in ops.items():
            if method in METHODS:
                yield method.upper(), url, op


def body_roots(op: dict[str, Any]) -> list[dict[str, Any]]:
    """The body's schema; a discriminated union is one root per variant."""
    content = (op.get("requestBody") or {}).get("content", {}).get("application/json")
    if not content:
        return []
    schema = deref(content["schema"])
    if "oneOf" in schema:
        return [deref(b) for b in schema["oneOf"]]
    return [schema]


Case = tuple[str, str, int, Path]  # method, url, body root index, path


def body_cases(kind: str) -> list[Case]:
    out: list[Case] = []
    for method, url, op in operations():
        if url.startswith("/scim/"):
            # SCIM bodies are read by the SCIM parser (400 with a scimType; `meta` is
            # read-only and ignored): tests/e2e/test_scim_malformed.py sends them NUL and junk
            continue
        for i, root in enumerate(body_roots(op)):
            seen: set[Path] = set()
            for path, leaf in leaves(root):
                wanted = (leaf.get("format") == "date-time" if kind == "date-time"
                          else is_text(leaf))
                if wanted and path and path not in seen:
                    seen.add(path)
                    out.append((method, url, i, path))
    return out


def query_params(pred: Any) -> list[tuple[str, str, str]]:
    out = []
    for method, url, op in operations():
        for p in op.get("parameters", []):
            if p["in"] == "query" and any(pred(b) for b in branches(p.get("schema", {}))):
                out.append((method, url, p["name"]))
    return out


DATE_TIME_BODY = body_cases("date-time")
DATE_TIME_QUERY = query_params(lambda s: s.get("format") == "date-time")
TEXT_BODY = body_cases("text")
TEXT_QUERY = query_params(is_text)
INT_QUERY = [c for c in query_params(lambda s: s.get("type") == "integer")
             if not c[1].startswith("/scim/")]  # SCIM paging follows RFC 7644 (clamps)
CURSOR_QUERY = [c for c in query_params(is_text) if c[2] == "cursor"]


def case_id(case: tuple[Any, ...]) -> str:
    method, url, *rest = case
    tail = field_name(rest[-1]) if isinstance(rest[-1], tuple) else rest[-1]
    variant = f"[{rest[0]}]" if len(rest) == 2 and rest[0] else ""
    return f"{method} {url}{variant} {tail}"


def test_the_walk_finds_what_it_tests() -> None:
    """The walk really reaches the fields (a walker that finds nothing passes everything)."""
    found = sorted({case_id(c) for c in DATE_TIME_BODY} | {case_id(c) for c in DATE_TIME_QUERY})
    print("date-time inputs:", *found, sep="\n  ")
    assert found, "no date-time field found in the OpenAPI document"
    assert "POST /api/v1/api-keys expires_at" in found
    assert "POST /api/v1/sync scan.started_at" in found
    assert any(c[1] == "/api/v1/events" and c[3] == ("data", "occurred_at")
               for c in DATE_TIME_BODY)
    assert len(TEXT_BODY) > 30 and TEXT_QUERY and INT_QUERY and CURSOR_QUERY
    assert ("POST", "/api/v1/teams", 0, ("name",)) in TEXT_BODY


@pytest.fixture
async def creds(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, dict[str, str]]:
    token = await create_token(client, tenant)
    return {"bearer": tenant.headers, "scim": bearer(token["token"])}


def _url(url: str) -> str:
    """Path parameters: a random UUID (a body or query error is reported before any lookup)."""
    parts = url.split("/")
    return "/".join(str(uuid.uuid4()) if p.startswith("{") else p for p in parts)


def _headers(op: dict[str, Any], creds: dict[str, dict[str, str]]) -> dict[str, str]:
    for requirement in op.get("security", []):
        for scheme in requirement:
            return creds[scheme]
    return {}


def _no_driver_text(r: httpx.Response) -> None:
    assert r.status_code < 500, f"{r.status_code}: {r.text}"
    for text in DRIVER_TEXT:
        assert text not in r.text.lower(), f"driver text {text!r} in the response: {r.text}"


def _errors(r: httpx.Response) -> list[str]:
    body = r.json()
    return [e["field"] for e in body.get("errors", [])] if isinstance(body, dict) else []


async def _send_body(client: httpx.AsyncClient, creds: dict[str, dict[str, str]], case: Case,
                     value: Any) -> httpx.Response:
    method, url, root_index, path = case
    op = SCHEMA["paths"][url][method.lower()]
    body = build(body_roots(op)[root_index], path, value)
    headers = {**_headers(op, creds), "Content-Type": "application/json"}
    return await client.request(method, _url(url), headers=headers, content=orjson.dumps(body))


async def _send_query(client: httpx.AsyncClient, creds: dict[str, dict[str, str]],
                      case: tuple[str, str, str], value: str) -> httpx.Response:
    """The case's operation with its query parameter `value`."""
    method, url, name = case
    op = SCHEMA["paths"][url][method.lower()]
    return await client.request(method, _url(url), headers=_headers(op, creds),
                                params={name: value})


@pytest.mark.parametrize("case", DATE_TIME_BODY, ids=case_id)
async def test_a_date_time_without_a_zone_is_a_422_naming_the_field(
        client: httpx.AsyncClient, creds: dict[str, dict[str, str]], case: Case) -> None:
    for value in ("2030-01-01T00:00:00", "9999-12-31T23:59:59-14:00",
                  "0001-01-01T00:00:00+14:00"):
        r = await _send_body(client, creds, case, value)
        _no_driver_text(r)
        assert r.status_code == 422, f"{value}: {r.status_code} {r.text}"
        assert r.json()["code"] == "validation_error"
        assert field_name(case[3]) in _errors(r), f"{value}: {r.text}"


async def test_a_date_time_query_parameter_without_a_zone_is_refused(
        client: httpx.AsyncClient, creds: dict[str, dict[str, str]]) -> None:
    """None today (the audit `after`/`before` are documented strings: a date, or a time where
    no zone means UTC); a `format: date-time` query parameter added later is covered here."""
    for case in DATE_TIME_QUERY:
        r = await _send_query(client, creds, case, "2030-01-01T00:00:00")
        _no_driver_text(r)
        assert 400 <= r.status_code < 500, f"{case}: {r.text}"


@pytest.mark.parametrize("case", TEXT_BODY, ids=case_id)
async def test_a_nul_character_in_body_text_is_a_422_naming_the_field(
        client: httpx.AsyncClient, creds: dict[str, dict[str, str]], case: Case) -> None:
    r = await _send_body(client, creds, case, "a\x00b")
    _no_driver_text(r)
    assert_problem(r, 422, "validation_error")
    assert field_name(case[3]) in _errors(r), r.text


@pytest.mark.parametrize("case", TEXT_QUERY, ids=case_id)
async def test_a_nul_character_in_a_query_parameter_is_refused_naming_it(
        client: httpx.AsyncClient, creds: dict[str, dict[str, str]],
        case: tuple[str, str, str]) -> None:
    _, url, name = case
    r = await _send_query(client, creds, case, "a\x00b")
    _no_driver_text(r)
    if url.startswith("/scim/"):
        scim_type = "invalidFilter" if name == "filter" else "invalidValue"
        assert r.status_code == 400 and r.json()["scimType"] == scim_type, r.text
        assert f"query.{name}" in r.json()["detail"]
    else:
        assert_problem(r, 422, "validation_error")
        assert f"query.{name}" in _errors(r)


@pytest.mark.parametrize("case", INT_QUERY, ids=case_id)
async def test_integer_query_parameters_are_bounded(
        client: httpx.AsyncClient, creds: dict[str, dict[str, str]],
        case: tuple[str, str, str]) -> None:
    method, url, name = case
    op = SCHEMA["paths"][url][method.lower()]
    param = next(p for p in op["parameters"] if p["name"] == name)
    schema = deref(param["schema"])
    assert "minimum" in schema and "maximum" in schema, f"{name} has no bounds: {schema}"
    for value in ("99999999999999999999", str(schema["maximum"] + 1), str(schema["minimum"] - 1),
                  "-99999999999999999999", "1e3", "x"):
        r = await _send_query(client, creds, case, value)
        _no_driver_text(r)
        # the audit log checks its own limit's range (400); everything else is the schema's (422)
        refusal = (r.status_code, r.json().get("code"))
        assert refusal in {(400, "limit_out_of_range"), (422, "validation_error")}, (
            f"{name}={value}: {r.status_code} {r.text}")
        assert r.headers["content-type"].startswith("application/problem+json")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


FORGED_CURSORS = [
    "garbage!!", "x" * 512, _b64(b"not json"), _b64(b"[1]"), _b64(b"{}"),
    _b64(orjson.dumps({"t": "2030-01-01T00:00:00", "i": str(uuid.uuid4())})),  # no zone
    _b64(orjson.dumps({"t": "0001-01-01T00:00:00+14:00", "i": str(uuid.uuid4())})),
    _b64(orjson.dumps({"t": "9999-12-31T23:59:59-14:00", "i": str(uuid.uuid4())})),
    _b64(orjson.dumps({"t": "2030-01-01T00:00:00Z", "i": "a\x00b"})),
    _b64(b'{"t": 1000000000000000000000000000000, "i": 1e400}'),
    _b64(b'{"v": 1, "p": 99999999999999999999999, "d": "a"}'),
    _b64(orjson.dumps({"v": 1, "p": -1, "d": "d"})),
]


@pytest.mark.parametrize("case", CURSOR_QUERY, ids=case_id)
async def test_forged_cursors_are_refused(client: httpx.AsyncClient,
                                          creds: dict[str, dict[str, str]],
                                          case: tuple[str, str, str]) -> None:
    _, url, _ = case
    for cursor in FORGED_CURSORS:
        r = await _send_query(client, creds, case, cursor)
        _no_driver_text(r)
        if "{" in url and r.status_code == 404:  # the parent is a random id: as right as 400
            assert r.json()["code"].endswith("not_found"), r.text
        else:
            assert_problem(r, 400, "invalid_cursor", context=cursor)
