"""The house rules: data flows one way (no import cycles between canrank's modules), and the
command line starts without importing any heavy library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "canrank"

#: Libraries that take seconds to import or compile; none may load at CLI start-up.
HEAVY = (
    "geopandas",
    "shapely",
    "pandas",
    "scipy",
    "numba",
    "highspy",
    "matplotlib",
    "folium",
    "mapclassify",
    "dask",
    "pyogrio",
    "openpyxl",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _top_level_imports(path: Path, modules: set[str]) -> set[str]:
    """canrank modules imported when ``path`` is imported (not inside functions or
    ``if TYPE_CHECKING:``)."""
    tree = ast.parse(path.read_text("utf-8"))
    found: set[str] = set()
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path.parent)

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node):
                continue
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("canrank"))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                    base = f"{base}.{node.module}" if node.module else base
                if base.startswith("canrank"):
                    found.add(base)
                    found.update(f"{base}.{a.name}" for a in node.names)
            elif isinstance(node, ast.If | ast.Try):
                visit(node.body)
                visit(node.orelse)
    visit(tree.body)
    return {m for m in found if m in modules}


def test_no_import_cycles() -> None:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(files)
    graph = {m: _top_level_imports(p, modules) - {m} for m, p in files.items()}
    # importing a submodule imports its parent packages first: that is not a cycle
    for m in graph:
        graph[m] = {d for d in graph[m] if not m.startswith(d + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def dfs(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                dfs(dep)
        stack.pop()
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            dfs(m)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("module", ["canrank", "canrank.cli"])
def test_start_up_imports_nothing_heavy(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "", f"{module} imports {done.stdout.strip()} at start-up"


def test_maps_know_nothing_of_builds() -> None:
    """Maps take plain tables and one map specification, not a build or a pipeline."""
    for path in (PACKAGE / "maps").rglob("*.py"):
        text = path.read_text("utf-8")
        for banned in ("canrank.pipeline", "canrank.builds", "BuildResult"):
            assert banned not in text, f"{path.name} mentions {banned}"
