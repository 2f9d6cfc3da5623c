"""Layers point one way (pyproject.toml, [tool.importlinter]) and no app imports itself in a
circle: a wrong import fails here and in `make lint`."""

import shutil
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
# No cycle is left inside an app.
KNOWN_CYCLES: list[set[str]] = []


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_import_contracts_are_kept():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_import_that_goes_up_a_layer_breaks_the_contracts(tmp_path):
    shutil.copytree(
        ROOT / "certadmin", tmp_path / "certadmin", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    # The audit trail reaching up into the device pages.
    (tmp_path / "certadmin" / "audit" / "upward.py").write_text(
        "from certadmin.devices import selectors  # noqa: F401\n"
    )
    result = _lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "certadmin.audit.upward -> certadmin.devices.selectors" in result.stdout


def _cycles(graph, package: str) -> list[set[str]]:
    """The groups of modules inside ``package`` that import each other in a circle (strongly
    connected components of more than one module; Tarjan's algorithm, iteratively)."""
    modules = {m for m in graph.modules if m.startswith(package + ".")}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for start in sorted(modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start) & modules)))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    imported = graph.find_modules_directly_imported_by(child) & modules
                    work.append((child, iter(sorted(imported))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def test_no_app_imports_itself_in_a_circle():
    sys.path.insert(0, str(ROOT))
    try:
        graph = grimp.build_graph("certadmin", cache_dir=None)
    finally:
        sys.path.remove(str(ROOT))
    packages = sorted(m for m in graph.modules if m.count(".") == 1 and graph.find_children(m))
    assert "certadmin.devices" in packages
    cycles = [cycle for package in packages for cycle in _cycles(graph, package)]
    assert [c for c in cycles if c not in KNOWN_CYCLES] == []


def test_the_cycle_finder_finds_a_circle():
    graph = grimp.ImportGraph()
    for module in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(module)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.a")
    graph.add_import(importer="pkg.c", imported="pkg.a")
    assert _cycles(graph, "pkg") == [{"pkg.a", "pkg.b"}]
