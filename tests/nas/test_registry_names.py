"""`nas/` names no search space, model family, strategy or proxy: extension points are registries.

Generic code may mention a registered name in docstrings, help text and log messages, but
never branch on one: no ``x == "<name>"`` / ``x in ("<name>", ...)`` comparisons and no dict
literals keyed by registered names (a hand-kept table a new space would have to edit).
"""
from __future__ import annotations

import ast

import pytest

from tests.support import ROOT

NAS = ROOT / "nas"


def registered_names() -> set[str]:
    from nas.proxies import PROXIES
    from nas.search.strategies import STRATEGIES
    from search_spaces import known_spaces
    from supernet.registry import list_families

    proxies = set(PROXIES) - {"params", "flops"}      # also the cost table's own words (--cost flops)
    return set(known_spaces()) | set(list_families()) | set(STRATEGIES) | proxies


def branches_on_names(source: str, names: set[str]) -> list[tuple[int, str]]:
    """(line, what) for each comparison with, or dict literal keyed by, a name in `names`."""
    found = []

    def strings(node) -> list[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return [s for e in node.elts for s in strings(e)]
        return []

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            for operand in [node.left, *node.comparators]:
                hit = [s for s in strings(operand) if s in names]
                if hit:
                    found.append((node.lineno, f"comparison with {hit[0]!r}"))
        elif isinstance(node, ast.Dict):
            hit = [k.value for k in node.keys if isinstance(k, ast.Constant) and k.value in names]
            if hit:
                found.append((node.lineno, f"dict keyed by {hit[0]!r}"))
    return sorted(found)


def test_the_checker_finds_branches():
    names = {"mlp3d", "greedy"}
    src = ('x = 4 if space == "mlp3d" else 0\nif s in ("greedy", "r"): pass\n'
           'T = {"mlp3d": 1}\n"""mlp3d in a docstring"""\nprint("greedy search")\n')
    assert [w for _, w in branches_on_names(src, names)] == [
        "comparison with 'mlp3d'", "comparison with 'greedy'", "dict keyed by 'mlp3d'"]


@pytest.mark.parametrize("path", sorted(NAS.rglob("*.py")), ids=lambda p: str(p.relative_to(NAS)))
def test_nas_names_no_space_family_strategy_or_proxy(path):
    found = branches_on_names(path.read_text(), registered_names())
    assert not found, f"{path}: " + "; ".join(f"line {n}: {w}" for n, w in found)
