"""The domain library never imports web, map or scheduler code (checked in a fresh interpreter); the
packages import one way (api -> maps -> seeds -> coverage) and no module imports itself back through
others, lazy imports inside functions included (read from the source); no module imports another's
private names; one module defines and creates every table; every module is under 700 lines; the
sub-packages of coverage/ import one way (model, store, ingest, audit, runs, reports, planning)."""

from __future__ import annotations

import ast
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import coverage

FORBIDDEN = (
    "fastapi", "starlette", "folium", "branca", "apscheduler", "uvicorn", "typer", "rich", "api", "maps",
)


def test_coverage_imports_no_outer_layer() -> None:
    modules = [m.name for m in pkgutil.walk_packages(coverage.__path__, "coverage.")]
    assert "coverage.ingest.readers" in modules, "the sub-packages were not walked"
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        + "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "", f"coverage/ pulled in {out.stdout.strip()}"


def test_coverage_is_our_package_not_coverage_py() -> None:
    assert Path(coverage.__file__).resolve().parent == Path(__file__).resolve().parents[1] / "coverage"


ROOT = Path(__file__).resolve().parents[1]
#: The layers, lowest first: a module imports only from its own layer or lower ones.
LAYERS = ("coverage", "seeds", "maps", "api")


def _modules() -> dict[str, Path]:
    found = {}
    for package in LAYERS:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its source (``from a import b`` counts as
    ``a.b`` when ``b`` is a module, else as ``a``; the parent packages a dotted import runs are not
    counted)."""
    modules = _modules()

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, *([base] if base else [])])
                subs = [f"{base}.{a.name}" for a in node.names]
                names = [n for n in subs if n in modules]
                if len(names) < len(subs):
                    names.append(base)
            else:
                continue
            for name in names:
                target = known(name) if name.split(".")[0] in LAYERS else None
                if target is not None and target != module:
                    graph[module].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_hand_made_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    graph = import_graph()
    assert "coverage.runs.analysis" in graph and graph["api.cli.root"], "the import graph was not read"
    assert cycles(graph) == []


def test_no_upward_imports() -> None:
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = sorted(f"{m} -> {t}" for m, targets in import_graph().items() for t in targets
                    if rank[t.split(".")[0]] > rank[m.split(".")[0]])
    assert upward == []


def test_routers_reach_the_database_through_domain_functions() -> None:
    routers = sorted((ROOT / "api" / "routers").glob("*.py"))
    assert routers, "no routers found"
    assert [p.name for p in routers if ".engine" in p.read_text(encoding="utf-8")] == []


def _imports_a_test_module(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests.test_"):
            return True
        if isinstance(node, ast.Import) and any(a.name.startswith("tests.test_") for a in node.names):
            return True
    return False


def test_no_test_module_imports_another_and_helpers_are_not_named_as_tests() -> None:
    tests = ROOT / "tests"
    assert [p.name for p in sorted(tests.glob("test_*.py")) if _imports_a_test_module(p)] == []
    helpers = [p for folder in ("utils", "worlds") for p in (tests / folder).rglob("*.py")]
    assert helpers and [p.name for p in helpers if p.name.startswith("test_")] == []


def test_no_module_imports_the_private_names_of_another() -> None:
    found = set()
    for module, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in LAYERS
                    and any(a.name.startswith("_") and not a.name.startswith("__") for a in node.names)):
                found.add((module, node.module))
    assert found == set()


def test_every_table_is_defined_and_created_in_one_module() -> None:
    """One schema: every SQLAlchemy table is defined in coverage/store/tables.py, and only its
    create_schema() creates tables (no create_all in constructors, no table made on first use)."""
    defined, creating = set(), set()
    for module, path in _modules().items():
        source = path.read_text(encoding="utf-8")
        if re.search(r"\bTable\(\s*\"", source):
            defined.add(module)
        if re.search(r"\.create_all\(|\.create\(\w*engine|checkfirst=True", source):
            creating.add(module)
    assert defined == {"coverage.store.tables"}
    assert creating == {"coverage.store.tables"}


#: The most lines a module of the product may have: a longer one holds more than one job.
MAX_MODULE_LINES = 700


def test_every_module_is_under_the_line_limit() -> None:
    lines = {module: len(path.read_text(encoding="utf-8").splitlines()) for module, path in _modules().items()}
    assert len(lines) > 100, "the modules were not found"
    assert sorted(m for m, n in lines.items() if n >= MAX_MODULE_LINES) == []


#: The sub-packages of coverage/, lowest first: one imports only from those before it (and from the
#: modules at the top of coverage/, which every sub-package may use).
COVERAGE_PACKAGES = ("model", "store", "ingest", "audit", "runs", "reports", "planning")


def test_coverage_modules_live_in_sub_packages() -> None:
    """Besides its sub-packages, coverage/ keeps only the modules every sub-package uses."""
    top = sorted(p.stem for p in (ROOT / "coverage").glob("*.py") if p.stem != "__init__")
    assert top == ["crs", "errors", "labels", "limits", "processes", "schema", "summary", "writers"]
    packages = sorted(p.parent.name for p in (ROOT / "coverage").glob("*/__init__.py"))
    assert packages == sorted(COVERAGE_PACKAGES)


def test_coverage_sub_packages_import_one_way() -> None:
    rank = {name: i for i, name in enumerate(COVERAGE_PACKAGES)}

    def package(module: str) -> str | None:
        parts = module.split(".")
        return parts[1] if parts[0] == "coverage" and len(parts) > 1 and parts[1] in rank else None

    upward = sorted(f"{m} -> {t}" for m, targets in import_graph().items() for t in targets
                    if (a := package(m)) is not None and (b := package(t)) is not None and rank[b] > rank[a])
    assert upward == []

