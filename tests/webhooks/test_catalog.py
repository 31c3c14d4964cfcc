"""The event catalog is complete: every event type the code emits can be subscribed to, and
every catalogued type has a JSON Schema and an example that validates against it.

Emit call sites are found statically (an AST walk of app/), so a new `emit(tx, "x.y", ...)`
whose type is not catalogued fails here before it ships dead outbox rows."""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import jsonschema_rs
import pytest

from app.core.events import EVENT_TYPES, SubmittableType, build_data, data_schema
from app.core.outbox import emit, emit_many
from app.core.tx import own_tx
from tests.conftest import Tenant

APP = Path(__file__).resolve().parents[2] / "app"
EMITTERS = {"emit", "emit_many"}

# Call sites whose type is not a literal or a module constant, with what bounds it. A new
# dynamic call site fails the test until someone checks it and adds it here.
DYNAMIC: dict[tuple[str, str], set[str]] = {
    # emit() is emit_many() of one: the type is its caller's
    ("core/outbox.py", "emit"): set(),
    # POST /api/v1/events: body.type is validated against SubmittableType
    ("sync/service.py", "submit_event"): set(get_args(SubmittableType)),
}


@dataclass(frozen=True)
class Site:
    file: str
    function: str
    line: int
    type_: str | None  # None: not a constant


def _module(path: Path) -> str:
    return ".".join(path.relative_to(APP.parent).with_suffix("").parts)


def _constant(path: Path, node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name | ast.Attribute):  # a constant: ask the module itself
        value: object = importlib.import_module(_module(path))
        for part in ast.unparse(node).split("."):
            value = getattr(value, part, None)
        if isinstance(value, str):
            return value
    return None


def emit_sites() -> list[Site]:
    sites: list[Site] = []
    for path in sorted(APP.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for call in ast.walk(fn):
                if not isinstance(call, ast.Call):
                    continue
                name = (call.func.id if isinstance(call.func, ast.Name) else
                        call.func.attr if isinstance(call.func, ast.Attribute) else None)
                if name not in EMITTERS:
                    continue
                arg = (call.args[1] if len(call.args) > 1 else
                       next((k.value for k in call.keywords if k.arg == "type_"), None))
                assert arg is not None, f"{path}:{call.lineno}: emit call without a type"
                sites.append(Site(str(path.relative_to(APP)), fn.name, call.lineno,
                                  _constant(path, arg)))
    return sites


def test_every_emitted_event_type_is_in_the_catalog() -> None:
    sites = emit_sites()
    literal = {s.type_ for s in sites if s.type_ is not None}
    # the walk sees the emitters we know of (so an empty walk cannot pass)
    assert {"scan.completed", "project.created", "user.deprovisioned", "apikey.expiring",
            "user.provisioned", "user.reactivated"} <= literal
    missing = {f"{s.file}:{s.line} emits {s.type_!r}" for s in sites
               if s.type_ is not None and s.type_ not in EVENT_TYPES}
    assert not missing, f"emitted but not in app/core/events.py: {sorted(missing)}"
    dynamic = {(s.file, s.function) for s in sites if s.type_ is None}
    unknown = dynamic - set(DYNAMIC)
    assert not unknown, f"emit calls with a computed type; bound them and list in DYNAMIC: " \
                        f"{sorted(unknown)}"
    for bound in DYNAMIC.values():
        assert bound <= set(EVENT_TYPES)


@pytest.mark.parametrize("type_", list(EVENT_TYPES))
def test_every_catalog_type_has_a_schema_and_a_valid_example(type_: str) -> None:
    event = EVENT_TYPES[type_]
    schema = data_schema(type_)
    jsonschema_rs.meta.validate(schema)
    assert schema["type"] == "object" and schema["properties"]
    validator = jsonschema_rs.validator_for(schema, validate_formats=True)
    validator.validate(event.example)
    # the payload the code builds from the example is the example (nothing dropped or added)
    assert build_data(type_, **event.example) == {
        **{k: None for k in schema["properties"] if k not in event.example}, **event.example}
    assert not validator.is_valid({**event.example, "unexpected": 1})


async def test_emitting_an_uncatalogued_type_is_refused(tenant: Tenant) -> None:
    async with own_tx(tenant.rt.db, tenant.id) as tx:
        with pytest.raises(ValueError, match=r"not in app/core/events\.py"):
            await emit(tx, "user.teleported", {"user_id": "x"})
        with pytest.raises(ValueError, match=r"not in app/core/events\.py"):
            await emit_many(tx, "user.teleported", [])
    assert await tenant.sql("SELECT 1 FROM outbox_events") == []
