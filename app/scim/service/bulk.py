"""POST /Bulk (RFC 7644 §3.7): many operations in one request, each in its own savepoint, so
one failing operation is rolled back alone and the others stand (the request commits with
status 200). `bulkId:<id>` references (in paths and anywhere in data) are replaced by the id
the POST that declared the bulkId created; an operation whose referenced POST comes later runs
that POST first, and a cycle fails with 409. `failOnErrors` stops after that many errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.core.errors import ProblemError
from app.core.tx import Tx
from app.scim.constants import BULK_MAX_OPERATIONS, URN_BULK_REQUEST, URN_BULK_RESPONSE
from app.scim.errors import ScimError, error_body, invalid_syntax, invalid_value
from app.scim.service import groups, users
from app.scim.service.common import parse_id

_PREFIX = "bulkId:"


@dataclass
class _Op:
    index: int
    method: str
    path: str
    bulk_id: str | None
    version: str | None
    data: Any
    done: bool = False
    result: dict[str, Any] | None = None
    created: str | None = None
    refs: set[str] = field(default_factory=set)


def _refs(value: Any, out: set[str]) -> None:
    if isinstance(value, str):
        if value.startswith(_PREFIX):
            out.add(value[len(_PREFIX):])
    elif isinstance(value, list):
        for v in value:
            _refs(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            _refs(v, out)


def _substitute(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str) and value.startswith(_PREFIX):
        return ids.get(value[len(_PREFIX):], value)
    if isinstance(value, list):
        return [_substitute(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, ids) for k, v in value.items()}
    return value


def parse(body: Any) -> tuple[list[_Op], int | None]:
    if not isinstance(body, dict):
        raise invalid_syntax("The bulk request must be a JSON object.")
    lowered = {k.lower(): v for k, v in body.items() if isinstance(k, str)}
    schemas = lowered.get("schemas")
    if schemas is not None and (not isinstance(schemas, list) or URN_BULK_REQUEST.lower() not in
                                (str(s).lower() for s in schemas)):
        raise invalid_syntax(f'schemas must be ["{URN_BULK_REQUEST}"].')
    raw_ops = lowered.get("operations")
    if not isinstance(raw_ops, list) or not raw_ops:
        raise invalid_syntax("Operations must be a non-empty list.")
    if len(raw_ops) > BULK_MAX_OPERATIONS:
        raise ScimError(413, f"A bulk request may hold at most {BULK_MAX_OPERATIONS} "
                        f"operations; this one has {len(raw_ops)}.")
    fail_on = lowered.get("failonerrors")
    if fail_on is not None and (isinstance(fail_on, bool) or not isinstance(fail_on, int)
                                or fail_on < 1):
        raise invalid_value("failOnErrors must be a positive integer.")
    ops: list[_Op] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_ops):
        if not isinstance(raw, dict):
            raise invalid_syntax(f"Operation {i + 1} must be an object.")
        f = {k.lower(): v for k, v in raw.items() if isinstance(k, str)}
        method = f.get("method")
        path = f.get("path")
        bulk_id = f.get("bulkid")
        version = f.get("version")
        if not isinstance(method, str) or method.upper() not in ("POST", "PUT", "PATCH",
                                                                  "DELETE"):
            raise invalid_syntax(f"Operation {i + 1}: method must be POST, PUT, PATCH or "
                                 "DELETE.")
        if not isinstance(path, str) or not path.startswith("/"):
            raise invalid_syntax(f"Operation {i + 1}: path must be like /Users or "
                                 "/Users/{id}.")
        if bulk_id is not None and (not isinstance(bulk_id, str) or not bulk_id):
            raise invalid_syntax(f"Operation {i + 1}: bulkId must be a non-empty string.")
        if method.upper() == "POST" and bulk_id is None:
            raise invalid_syntax(f"Operation {i + 1}: a POST needs a bulkId.")
        if bulk_id is not None:
            if bulk_id in seen:
                raise invalid_syntax(f"bulkId {bulk_id!r} is used twice.")
            seen.add(bulk_id)
        if version is not None and not isinstance(version, str):
            raise invalid_syntax(f"Operation {i + 1}: version must be a string.")
        op = _Op(i, method.upper(), path, bulk_id, version, f.get("data"))
        _refs(op.data, op.refs)
        _refs(path.split("?", 1)[0].split("/"), op.refs)
        ops.append(op)
    return ops, fail_on


class _Runner:
    def __init__(self, tx: Tx, base: str, ops: list[_Op], fail_on: int | None,
                 secret_key: str) -> None:
        self.tx, self.base, self.ops, self.fail_on = tx, base, ops, fail_on
        self.secret_key = secret_key
        self.by_bulk_id = {op.bulk_id: op for op in ops if op.bulk_id and op.method == "POST"}
        self.ids: dict[str, str] = {}
        self.errors = 0
        self.order: list[_Op] = []

    async def run(self) -> dict[str, Any]:
        for op in self.ops:
            if self.fail_on is not None and self.errors >= self.fail_on:
                break
            await self.execute(op, frozenset())
        return {"schemas": [URN_BULK_RESPONSE],
                "Operations": [op.result for op in self.order if op.result is not None]}

    async def execute(self, op: _Op, visiting: frozenset[int]) -> None:
        if op.done:
            return
        problem = await self.dependencies(op, visiting | {op.index})
        if problem is not None:
            self.fail(op, problem)
            return
        await self.savepointed(op)

    async def dependencies(self, op: _Op, visiting: frozenset[int]) -> ScimError | None:
        """Run the POSTs this operation refers to first; the reason it cannot run, if any."""
        for ref in sorted(op.refs):
            if ref in self.ids:
                continue
            target = self.by_bulk_id.get(ref)
            if target is None:
                return invalid_value(f"bulkId:{ref} is not declared by any POST in this "
                                     "request.")
            if target.index in visiting:
                return ScimError(409, f"bulkId references form a cycle (operation "
                                 f"{op.index + 1} and bulkId:{ref}); split the request.")
            if not target.done:
                await self.execute(target, visiting)
            if ref not in self.ids:
                return invalid_value(f"bulkId:{ref} could not be created, so operation "
                                     f"{op.index + 1} cannot refer to it.")
        return None

    def fail(self, op: _Op, exc: ProblemError) -> None:
        op.done = True
        self.errors += 1
        out: dict[str, Any] = {"method": op.method, "status": str(exc.status),
                               "response": error_body(exc.status, exc.detail,
                                                      getattr(exc, "scim_type", None))}
        if op.bulk_id:
            out["bulkId"] = op.bulk_id
        op.result = out
        self.order.append(op)

    async def savepointed(self, op: _Op) -> None:
        await self.tx.execute("SAVEPOINT scim_bulk_op")
        try:
            status, resource = await self.dispatch(op)
        except ProblemError as exc:
            await self.tx.execute("ROLLBACK TO SAVEPOINT scim_bulk_op")
            self.fail(op, exc)
            return
        except BaseException:
            await self.tx.execute("ROLLBACK TO SAVEPOINT scim_bulk_op")
            raise
        await self.tx.execute("RELEASE SAVEPOINT scim_bulk_op")
        op.done = True
        out: dict[str, Any] = {"method": op.method, "status": str(status)}
        if op.bulk_id:
            out["bulkId"] = op.bulk_id
        if resource is not None:
            out["location"] = resource["meta"]["location"]
            out["version"] = resource["meta"]["version"]
            if op.method == "POST" and op.bulk_id:
                self.ids[op.bulk_id] = resource["id"]
        op.result = out
        self.order.append(op)

    async def dispatch(self, op: _Op) -> tuple[int, dict[str, Any] | None]:
        path = "/".join(_substitute(op.path.split("?", 1)[0].split("/"), self.ids))
        data = _substitute(op.data, self.ids)
        parts = [p for p in path.split("?", 1)[0].split("/") if p]
        if not parts or parts[0] not in ("Users", "Groups") or len(parts) > 2:
            raise invalid_value(f"Unsupported path {op.path!r}: use /Users, /Groups, "
                                "/Users/{id} or /Groups/{id}.")
        kind = parts[0]
        tx, base = self.tx, self.base
        if op.method == "POST":
            if len(parts) != 1:
                raise invalid_value("POST goes to /Users or /Groups.")
            if kind == "Users":
                return 201, await users.create(tx, data, base)
            return 201, await groups.create(tx, data, base)
        if len(parts) != 2:
            raise invalid_value(f"{op.method} needs a resource path such as /{kind}/{{id}}.")
        if kind == "Users":
            row = await users.get(tx, parse_id(parts[1], "user"), for_update=True)
            current = users.resource(row, base)
        else:
            row = await groups.get(tx, parse_id(parts[1], "group"), for_update=True,
                                   with_members=False)  # the version leaves them out
            current = groups.resource(row, base)
        if op.version is not None and op.version.removeprefix("W/") != \
                current["meta"]["version"].removeprefix("W/"):
            raise ScimError(412, f"The resource has changed: its version is now "
                            f"{current['meta']['version']}.")
        if op.method == "DELETE":
            await (users.delete(tx, row, base, secret_key=self.secret_key) if kind == "Users"
                   else groups.delete(tx, row))
            return 204, None
        if op.method == "PUT":
            if kind == "Users":
                return 200, await users.replace(tx, row, data, base,
                                                secret_key=self.secret_key)
            return 200, await groups.replace(tx, row, data, base)
        if kind == "Users":
            return 200, await users.patch(tx, row, data, base, secret_key=self.secret_key)
        await groups.patch(tx, row, data, base)
        return 200, groups.resource(await groups.get(tx, row["id"], with_members=False), base)


async def run(tx: Tx, body: Any, base: str, *, secret_key: str) -> dict[str, Any]:
    ops, fail_on = parse(body)
    return await _Runner(tx, base, ops, fail_on, secret_key).run()
