"""MkDocs hook: the command-line reference page, written at build time from `nas`'s parser.

The parser is the one `nas` itself parses with (`nas.commands.main.build_parser`), so the page lists every
sub-command, and every option with its help, as `nas COMMAND --help` prints them. Plug-ins
(`VIDNAS_PLUGINS`, entry points) are not loaded: the page documents vidnas's own commands and
choices. Building the parser imports vidnas (and torch).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mkdocs.structure.files import File

PAGE = "cli.md"


def _subcommands(parser) -> list[tuple[str, object]]:
    """(name, parser) of the direct sub-commands of `parser`, in the order they were added."""
    return list(parser.children.items())


def _section(parser: argparse.ArgumentParser, depth: int) -> list[str]:
    return [f"{'#' * depth} `{parser.prog}`", "", "```text", parser.format_help().rstrip(), "```", ""]


def _walk(parser: argparse.ArgumentParser, depth: int) -> list[str]:
    """A parser's section, then its sub-commands' one level deeper."""
    lines = _section(parser, depth)
    for _, child in _subcommands(parser):
        lines += _walk(child, min(depth + 1, 6))
    return lines


def cli_markdown() -> str:
    """The page: `nas --help`, then every sub-command's help, nested sub-commands under theirs."""
    root = str(Path(__file__).resolve().parents[2])
    if root not in sys.path:
        sys.path.insert(0, root)
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"                    # argparse wraps help to the terminal's width
    try:
        from nas.commands.main import build_parser

        parser = build_parser()
        lines = ["# Command-line reference", "",
                 "Generated when the site is built from the parser of `nas` (`nas.commands.main.build_parser`): "
                 "each section is what `nas COMMAND --help` prints. Plug-ins can add choices "
                 "(strategies, proxies) and models that are not listed here.", ""]
        lines += _section(parser, 2)                  # `nas`, then each command at the same level
        for _, child in _subcommands(parser):
            lines += _walk(child, 2)
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old
    return "\n".join(lines) + "\n"


def on_files(files, config):
    files.append(File.generated(config, PAGE, content=cli_markdown()))
    return files
