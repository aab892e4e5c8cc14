"""The import structure of the project, read from the source (no module is imported):

* no import cycle among the project's modules, counting imports inside functions too (an
  import moved into a function body hides a cycle from Python, not from the design);
* the layering ``nas → supernet → search_spaces``: never an import the other way.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import ROOT
PACKAGES = ("nas", "supernet", "search_spaces")          # lowest layer last
LAYER = {name: i for i, name in enumerate(reversed(PACKAGES))}   # search_spaces 0, supernet 1, nas 2


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((root / pkg).rglob("*.py"))}


def imported_modules(node: ast.Import | ast.ImportFrom, current: str, is_package: bool,
                     modules: dict[str, Path]) -> list[str]:
    """The project modules an import statement loads (the deepest module each name reaches)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:                                       # relative: from the current package
            package = current.split(".") if is_package else current.split(".")[:-1]
            package = package[:len(package) - node.level + 1]
            base = ".".join(package + ([base] if base else []))
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
    out = []
    for name in names:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        if name:
            out.append(name)
            # importing a.b.c runs the packages a.b and a first (their __init__), except the
            # ones the importing module already sits in
            package = name.rpartition(".")[0]
            while package and not (current == package or current.startswith(package + ".")):
                out.append(package)
                package = package.rpartition(".")[0]
    return out


def import_graph(modules: dict[str, Path]) -> dict[str, dict[str, int]]:
    """module -> {imported project module: line of the first such import}, at any depth of the
    module's code (module level, functions, classes)."""
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        edges: dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in imported_modules(node, name, path.name == "__init__.py", modules):
                    if target != name:
                        edges.setdefault(target, node.lineno)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(graph[w])))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))
    return out


def describe(component: list[str], graph: dict[str, dict[str, int]], modules: dict[str, Path]) -> str:
    members = set(component)
    return "; ".join(f"{modules[a].relative_to(ROOT)}:{line} -> {b}"
                     for a in component for b, line in sorted(graph[a].items()) if b in members)


def test_the_walker_finds_a_cycle_hidden_inside_a_function(tmp_path):
    pkg = tmp_path / "nas"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import g\n\ndef f():\n    return g()\n")
    (pkg / "b.py").write_text("def g():\n    from .a import f\n    return f\n")
    (pkg / "c.py").write_text("from nas import a\n")
    (pkg / "sub").mkdir()                      # a module of a package whose __init__ imports back
    (pkg / "sub" / "__init__.py").write_text("from .d import x\nfrom ..e import y\n")
    (pkg / "sub" / "d.py").write_text("x = 1\n")
    (pkg / "e.py").write_text("from .sub.d import x\ny = x\n")
    modules = {module_name(p, tmp_path): p for p in sorted(pkg.rglob("*.py"))}
    graph = import_graph(modules)
    assert graph["nas.c"] == {"nas.a": 1} and graph["nas.b"] == {"nas.a": 2}
    assert graph["nas.e"] == {"nas.sub.d": 1, "nas.sub": 1} and graph["nas.sub"] == {"nas.sub.d": 1, "nas.e": 2}
    assert cycles(graph) == [["nas.a", "nas.b"], ["nas.e", "nas.sub"]]


@pytest.fixture(scope="module")
def graph():
    modules = project_modules()
    return modules, import_graph(modules)


def test_no_import_cycle_among_the_project_modules(graph):
    modules, g = graph
    found = cycles(g)
    assert not found, "import cycles: " + " | ".join(describe(c, g, modules) for c in found)


def test_imports_flow_from_nas_to_supernet_to_search_spaces_never_back(graph):
    modules, g = graph
    back = [f"{modules[a].relative_to(ROOT)}:{line} imports {b}" for a, edges in g.items()
            for b, line in edges.items() if LAYER[b.split(".")[0]] > LAYER[a.split(".")[0]]]
    assert not back, "; ".join(back)
