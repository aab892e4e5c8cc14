"""Imports inside function bodies, read from the source (no module is imported).

The project's modules import at module level. An import inside a function is the exception and
says why on its own line, ``# lazy: <reason>`` (on the first line of a multi-line
``from x import (...)``): a heavy optional package (ONNX, Optuna, PyAV, tensorboard, ...), an
import that would close a cycle, or, in `nas.commands`, the library a command loads only when it
runs (``# lazy: fast start ...``). The list of them is in docs/extending.md ("Imports inside
functions"); ``python -m tests.nas.test_lazy_imports`` prints it.
"""
from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

from tests.support import ROOT

PACKAGES = ("nas", "supernet", "search_spaces")
MARK = "# lazy: "
DOC = ROOT / "docs" / "extending.md"



def _reasons(source: str) -> dict[int, str]:
    """line -> the text after ``# lazy: `` in that line's comment."""
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT and MARK in tok.string:
            out[tok.start[0]] = tok.string.split(MARK, 1)[1].strip()
    return out


def _module(node: ast.Import | ast.ImportFrom) -> str:
    if isinstance(node, ast.Import):
        return ", ".join(a.name for a in node.names)
    if node.module is None:                                  # from . import x
        return ", ".join("." * node.level + a.name for a in node.names)
    return "." * node.level + node.module


def function_imports(path: Path, root: Path = ROOT) -> list[tuple[str, int, str, str | None]]:
    """(file, line, module, reason) of each import statement inside a function body of `path`
    (nested functions and classes in it included); reason None where the line has no
    ``# lazy: `` comment."""
    source = path.read_text()
    reasons = _reasons(source)
    found: dict[int, ast.Import | ast.ImportFrom] = {}
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for sub in ast.walk(node):
                if isinstance(sub, (ast.Import, ast.ImportFrom)):
                    found[id(sub)] = sub
    name = path.relative_to(root).as_posix()
    return sorted((name, n.lineno, _module(n), reasons.get(n.lineno)) for n in found.values())


def lazy_imports(root: Path = ROOT) -> list[tuple[str, int, str, str | None]]:
    """(file, line, module, reason) of every import inside a function of the project's packages."""
    return [row for pkg in PACKAGES for path in sorted((root / pkg).rglob("*.py"))
            for row in function_imports(path, root)]


def markdown_table(rows) -> str:
    """The docs' table of the commented imports: one row per file, module and reason."""
    seen = dict.fromkeys((f, m, r) for f, _, m, r in rows if r is not None)
    lines = ["| File | Module | Why it is imported inside a function |", "|---|---|---|"]
    lines += [f"| `{f}` | `{m}` | {r} |" for f, m, r in seen]
    return "\n".join(lines)


def test_every_import_inside_a_function_says_why():
    bare = [f"{f}:{line} {m}" for f, line, m, r in lazy_imports() if r is None]
    assert not bare, (f"imports inside functions without a '{MARK}<reason>' comment (move them to the "
                      "module's import block, or say why they cannot be): " + "; ".join(bare))


def test_the_docs_list_the_lazy_imports():
    text = DOC.read_text()
    table = markdown_table(lazy_imports())
    assert table in text, ("docs/extending.md's table of imports inside functions is out of date; "
                           "print it with: python -m tests.nas.test_lazy_imports")


def test_the_check_finds_an_uncommented_import(tmp_path):
    (tmp_path / "nas" / "commands").mkdir(parents=True)
    (tmp_path / "nas" / "a.py").write_text(
        "import os\n\n"
        "def f():\n"
        "    import json\n"
        "    import onnx  # noqa: F401  # lazy: optional dependency\n"
        "    from .b import (x,  # lazy: fast start\n"
        "                    y)\n"
        "    class C:\n"
        "        def g(self):\n"
        "            from . import c\n"
        "    return os, json\n\n"
        "class D:\n"
        "    from math import pi\n")
    (tmp_path / "nas" / "commands" / "run.py").write_text(
        "def main():\n    from nas.train import run  # lazy: fast start: torch only when the command runs\n")
    assert lazy_imports(tmp_path) == [
        ("nas/a.py", 4, "json", None),
        ("nas/a.py", 5, "onnx", "optional dependency"),
        ("nas/a.py", 6, ".b", "fast start"),
        ("nas/a.py", 10, ".c", None),
        ("nas/commands/run.py", 2, "nas.train", "fast start: torch only when the command runs"),
    ]
    assert markdown_table(lazy_imports(tmp_path)).splitlines()[2:] == [
        "| `nas/a.py` | `onnx` | optional dependency |", "| `nas/a.py` | `.b` | fast start |",
        "| `nas/commands/run.py` | `nas.train` | fast start: torch only when the command runs |"]


if __name__ == "__main__":
    print(markdown_table(lazy_imports()))
