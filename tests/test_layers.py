"""The layers hold: the platform (app/core, app/config) imports no domain package, and no two
domain packages import each other, directly or round a longer loop (docs/ARCHITECTURE.md,
"Layers"). Read from the source with `ast`, so a new import that breaks the rule fails here."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"
PLATFORM = {"core", "config"}
# Entry points wire everything together; nothing imports them.
ENTRY = {"main", "cli", "worker", "models"}


def _package(module: str) -> str:
    """`app.scim.service.users` -> `scim`; `app.config` -> `config`."""
    return module.split(".")[1]


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in APP.rglob("*.py"):
        here = _package(".".join(path.relative_to(APP.parent).with_suffix("").parts))
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name.startswith("app.") and _package(name) != here:
                    graph.setdefault(here, set()).add(_package(name))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def test_no_package_cycles() -> None:
    assert cycles(import_graph()) == []


def test_the_platform_imports_no_domain() -> None:
    graph = import_graph()
    for package in PLATFORM:
        assert graph.get(package, set()) <= PLATFORM, (package, graph.get(package))


def test_no_package_imports_an_entry_point() -> None:
    graph = import_graph()
    for package, targets in graph.items():
        assert not (targets & ENTRY - {package}) or package in ENTRY, (package, targets)


def test_the_check_sees_a_cycle() -> None:
    """The detector itself: a two-package loop and a three-package loop are found."""
    assert cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def repository_imports(path: Path) -> list[str]:
    """The repository modules (`app.<domain>.repository`, any depth) a module imports."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("app."):
            modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        else:
            continue
        found += [m for m in modules if m.startswith("app.") and
                  m.split(".")[-1] == "repository"]
    return found


def test_routers_never_call_repositories(tmp_path: Path) -> None:
    """A router calls its domain's service (or another domain's service), never a repository:
    SQL stays behind the service that owns the rule (docs/ARCHITECTURE.md, "Layout")."""
    routers = [p for p in APP.rglob("*.py") if p.stem == "router" or p.stem.endswith("_router")]
    assert len(routers) > 10
    offending = {str(p.relative_to(APP)): repository_imports(p) for p in routers}
    assert {k: v for k, v in offending.items() if v} == {}
    # the check itself sees each spelling of such an import
    probe = tmp_path / "router.py"
    probe.write_text("from app.auth import repository as users\nimport app.sso.repository\n"
                     "from app.audit.repository import last_seq\nfrom app.core import tx\n")
    assert repository_imports(probe) == ["app.auth.repository", "app.sso.repository",
                                         "app.audit.repository"]
