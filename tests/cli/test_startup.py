"""Issue 23, "fast start": `nas --help` and `nas COMMAND --help` without torch.

Each case runs in a fresh interpreter (what a user's shell does), with the project on the
path, and reports the heavy packages the help imported. The commands whose choices come from
a registry that torch-defined modules fill (predictor kinds, proxies, model families) still
load it for their help; they are listed here, so that the list can only shrink. (`search`
left it: its strategy registry and `nas.search` load their torch parts on first use.)"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from nas.commands import command_modules
from tests.support import ROOT

HEAVY = ("torch", "scipy", "pandas", "ray", "optuna")
REGISTRY_HELP = {"predictor", "proxies", "models", "demo"}   # choices from a torch-side registry
PROBE = ("import sys, io, contextlib\n"
         "from nas.commands.main import main\n"
         "try:\n"
         "    with contextlib.redirect_stdout(io.StringIO()) as out:\n"
         "        main(sys.argv[1:] + ['--help'])\n"
         "except SystemExit as e:\n"
         "    assert e.code == 0, e.code\n"
         "assert 'usage: nas' in out.getvalue()\n"
         f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n")


def heavy_imports(argv: list[str]) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", PROBE, *argv], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return set(filter(None, out.stdout.strip().split(",")))


def test_nas_help_imports_no_torch():
    assert heavy_imports([]) == set()


@pytest.mark.parametrize("name", [m.NAME for m in command_modules() if m.NAME not in REGISTRY_HELP])
def test_command_help_imports_no_torch(name):
    assert heavy_imports([name]) == set()


def test_the_registry_commands_are_still_complete():
    """Their help shows the registry's names: loading it is what costs the import."""
    from nas.commands.main import build_parser

    helps = {name: p.format_help() for name, p in build_parser().children.items()}
    assert "greedy" in helps["search"] and "synflow" in helps["proxies"].replace("\n", " ")
    assert REGISTRY_HELP <= set(helps)
