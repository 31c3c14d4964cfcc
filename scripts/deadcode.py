"""Dead-code guard, run by `make lint`: vulture over app/ (settings in pyproject.toml,
[tool.vulture]; reviewed exceptions in vulture_whitelist.py). Exit status 1 if anything in app/
is defined and never used.

alembic/ and the whitelist are scanned for their uses only (migrations call app.core.migrate).
tests/ are not scanned at all: code that only tests call is dead.

One rule vulture cannot express: a field declared in a class body in a `schemas.py` or in
app/core/events.py is part of a wire format (a pydantic request, response or event
model): FastAPI and pydantic read it, not our code, so it is never reported. The classes
themselves are still checked, so an unused schema is still found. Settings (app/config.py)
are not exempt: a setting nothing reads is reported."""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

from vulture.config import make_config
from vulture.core import Vulture

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app"
DECLARATIONS = {"schemas.py"}
DECLARATION_FILES = {APP / "core" / "events.py"}


@cache
def class_field_lines(path: Path) -> frozenset[int]:
    lines: set[int] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ClassDef):
            lines.update(s.lineno for s in node.body if isinstance(s, ast.AnnAssign | ast.Assign))
    return frozenset(lines)


def is_wire_field(path: Path, typ: str, line: int) -> bool:
    declarative = path.name in DECLARATIONS or path in DECLARATION_FILES
    return declarative and typ == "variable" and line in class_field_lines(path)


def main() -> int:
    config = make_config(["--config", str(ROOT / "pyproject.toml")])
    vulture = Vulture(ignore_names=config["ignore_names"],
                      ignore_decorators=config["ignore_decorators"])
    vulture.scavenge([ROOT / p for p in config["paths"]], exclude=config["exclude"])
    found = 0
    for item in vulture.get_unused_code(min_confidence=config["min_confidence"]):
        path = Path(item.filename).resolve()
        if not path.is_relative_to(APP) or is_wire_field(path, item.typ, item.first_lineno):
            continue
        print(item.get_report())
        found += 1
    if found:
        print(f"\n{found} unused item(s) in app/: delete them, use them, or (if something "
              "outside Python uses them) add them to vulture_whitelist.py with a reason.",
              file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
