"""vidnas: weight-sharing neural architecture search for video networks (MLP-3D, MorphMLP,
3D-convolution splits). Pretrain a supernet on your videos, search it (greedy, evolution,
Optuna, Ray Tune) by accuracy minus cost, retrain and export the architecture found, and
check how well the shared weights ranked it. One sub-command per step; `nas COMMAND --help`
for each, `nas config show` for every config key."""
from __future__ import annotations

import argparse
import configparser
import errno
import os
import platform
import shlex
import sys
import tempfile
import time
import traceback
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from search_spaces.errors import VidnasInputError
from supernet.training.errors import OutOfMemory
from supernet.utils import io as io_utils        # (looked up at the call: tests replace its writer)
from supernet.utils.io import NoSpaceLeft

from ..plugins import load_plugins
from ..runfolder import KIND_FILE, held_folders, release_locks
from ..validate import forget_reports
from . import command_module, command_modules
from .options import resolve_flag_config


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose refusal of a bad argument is one line, ``nas CMD: error: ...``
    (with a pointer to ``--help``), not the usage block: the rule for every bad input."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def package_version() -> str:
    """The installed vidnas version (setup.cfg's, read from the clone when not installed)."""
    try:
        return version("vidnas")
    except PackageNotFoundError:
        cfg = configparser.ConfigParser()
        cfg.read(Path(__file__).resolve().parents[2] / "setup.cfg")
        return cfg.get("metadata", "version", fallback="unknown")


class CommandParser(OneLineParser):
    """An `ArgumentParser` whose (sub-)commands report an unknown argument themselves, under
    their own usage (``nas pretrain: error: unrecognized arguments: --bogus``), instead of
    handing it up to the top-level parser, which printed it under the usage of ``nas``.
    `add_command` records each sub-command's parser in ``children`` (`leaf_parsers`, the
    docs' CLI reference)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.children: dict[str, CommandParser] = {}
        self._commands = None

    def add_command(self, name: str, **kwargs) -> "CommandParser":
        """A sub-command parser named `name` (``help``, ``description`` as for argparse)."""
        if self._commands is None:
            self._commands = self.add_subparsers(dest="command" if self.prog == "nas" else "action",
                                                 required=True, metavar="COMMAND" if self.prog == "nas" else "ACTION")
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)   # docstrings as written
        child = self._commands.add_parser(name, **kwargs)
        self.children[name] = child
        return child

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras and not self.children:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


def leaf_parsers(parser: CommandParser) -> list[CommandParser]:
    """The parsers of every (sub-)command under `parser`."""
    if not parser.children:
        return [parser]
    return [leaf for child in parser.children.values() for leaf in leaf_parsers(child)]


def build_parser(command: str | None = None) -> CommandParser:
    """The parser of `nas`. With `command` (what `main` runs), only that command gets its
    options (and imports what its choices need); the others keep their name and help, which
    is all ``nas --help`` prints. Without it, every command is complete (docs, tests)."""
    parser = CommandParser(prog="nas", description=__doc__)
    parser.add_argument("--version", action="version", version=f"vidnas {package_version()}",
                        help="print the vidnas version and exit")
    for module in command_modules():
        p = parser.add_command(module.NAME, help=module.HELP, description=getattr(module, "DESCRIPTION", None))
        if command is None or command == module.NAME:
            module.add_arguments(p)
    return parser


def _command_of(argv: list[str]) -> str:
    """The command `argv` names (its first word that is not an option), "" for none."""
    return next((a for a in argv if not a.startswith("-")), "")


def error_line(command: str, error: BaseException, limit: int = 600) -> str:
    """The one line `main` prints for a refused input: ``nas CMD: error: ...``, newlines
    folded and an over-long message cut in the middle (echoed values are already cut by
    `search_spaces.shorten`; this is the last guard)."""
    text = " ".join(str(error).splitlines()) or type(error).__name__
    if len(text) > limit:
        text = f"{text[:limit - 120]} ... {text[-100:]}"
    return f"nas {command}: error: {text}"


def interrupted_line(command: str, argv: list[str], args, error: KeyboardInterrupt) -> str:
    """The one line `main` prints on Ctrl-C: where the run stopped (a training run says its
    step and last checkpoint, `TrainingInterrupted`) and the command that continues it."""
    where = error.where() if hasattr(error, "where") else "stopped"
    again = list(argv)
    if getattr(error, "checkpoint", "") is None:                 # nothing saved: start again
        again = [a for a in again if a != "--resume"]
        how = "start again with"
    elif hasattr(args, "resume"):
        again += [] if args.resume else ["--resume"]
        how = "continue with"
    elif command in ("demo", "correlate"):                       # they resume by themselves
        how = "continue with"
    else:
        return f"nas {command}: interrupted ({where})"
    return f"nas {command}: interrupted: {where}; {how}: nas {shlex.join(again)}"


TRACEBACK_FILE = "traceback.txt"          # in the run folder of a command that has one

# What to lower when a command runs out of memory outside the training loop (whose own
# `OutOfMemory` names its keys already): the keys and flags of each command.
_TRAINING_OOM = "train.batch_size, data.num_frames or data.size (or set train.amp: true)"
OOM_HINTS = {
    "pretrain": _TRAINING_OOM, "train": _TRAINING_OOM,
    "demo": f"{_TRAINING_OOM}, or evaluation.batch_size of the search (--set)",
    "search": "evaluation.batch_size (--batch-size) or search.cost_batch",
    "correlate": "batch_size (--batch-size) of the estimates, or train.batch_size, data.num_frames or "
                 "data.size of the standalone runs (--set)",
    "export": "--batch or --input", "latency-table": "--batch or --input", "proxies": "--batch or --input",
}
DEFAULT_OOM_HINT = ("the batch size (train.batch_size, evaluation.batch_size or --batch) or the clip "
                    "size (data.num_frames, data.size or --input)")


def is_out_of_memory(error: BaseException) -> bool:
    """A CUDA (or host) out-of-memory error: torch's OutOfMemoryError, a RuntimeError saying
    "out of memory", or Python's MemoryError (checked without importing torch)."""
    if isinstance(error, MemoryError) or any(c.__name__ == "OutOfMemoryError" for c in type(error).__mro__):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def _type_name(error: BaseException) -> str:
    kind = type(error)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def write_traceback(error: BaseException, argv: list[str]) -> str | None:
    """Write the traceback of `error` (after the command line and versions) atomically to
    ``traceback.txt`` in the run folder the command holds (`nas.runfolder.held_folders`),
    else to ``vidnas-traceback-<time>-<pid>.txt`` in the system temp folder; its path, or
    None when neither could be written."""
    torch = sys.modules.get("torch")
    text = (f"nas {shlex.join(argv)}\n"
            f"vidnas {package_version()}; Python {platform.python_version()}"
            + (f"; torch {torch.__version__}" if torch is not None else "") + f"; {platform.platform()}\n"
            f"{time.strftime('%Y-%m-%d %H:%M:%S %z')}; process {os.getpid()}\n\n"
            + "".join(traceback.format_exception(type(error), error, error.__traceback__)))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    places = [folder / TRACEBACK_FILE for folder in reversed(held_folders()) if (folder / KIND_FILE).is_file()]
    places.append(Path(tempfile.gettempdir()) / f"vidnas-traceback-{stamp}-{os.getpid()}.txt")
    for path in places:
        try:
            io_utils.atomic_write_text(path, text)
            return str(path)
        except Exception:                     # noqa: BLE001 - a full or read-only disk: the next place
            continue
    return None


def internal_error_line(prog: str, error: BaseException, where: str | None, limit: int = 300) -> str:
    """The one line `main` prints for an exception that is not bad input (`VidnasInputError`):
    ``nas CMD: internal error: TYPE: MESSAGE; the full traceback is in PATH``, then what to
    lower for an out-of-memory error, else a request to report it."""
    text = " ".join(str(error).split()) or "(no message)"
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    line = f"{prog}: internal error: {_type_name(error)}: {text}; "
    line += f"the full traceback is in {where}" if where else "the traceback could not be written (below)"
    if is_out_of_memory(error):
        command = prog.split(" ")[1] if " " in prog else ""
        return f"{line}; out of memory: lower {OOM_HINTS.get(command, DEFAULT_OOM_HINT)}"
    return f"{line} (please report it with that file)" if where else line


def report_internal_error(prog: str, error: BaseException, argv: list[str]) -> int:
    """Print `internal_error_line` (and the traceback itself when no file could hold it); 1."""
    where = write_traceback(error, argv)
    print(internal_error_line(prog, error, where), file=sys.stderr)
    if where is None:
        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    return 1


def main(argv=None) -> int:
    """Run one `nas` command. Bad input (`VidnasInputError`, an argparse usage error) is one
    line and exit 2; Ctrl-C exit 130 with the command that resumes; a full disk exit 1, the
    training loop's `OutOfMemory` exit 3; any other exception is an internal error: one line
    naming it and the file holding its traceback, exit 1."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:                                     # before the parser: plug-in strategies are choices
        load_plugins()
        parser = build_parser(_command_of(argv))
    except VidnasInputError as e:
        print(f"nas: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:                   # noqa: BLE001
        return report_internal_error("nas", e, argv)
    args = parser.parse_args(argv)           # a usage error: one line, exit 2 (`OneLineParser`)
    try:
        resolve_flag_config(args)
        return command_module(args.command).run(args) or 0
    except NoSpaceLeft as e:                 # not bad input: the run stopped, its files intact
        print(error_line(args.command, e.strerror or e), file=sys.stderr)
        return 1
    except OutOfMemory as e:                 # a resource limit, not bad input: exit 3
        print(f"nas {args.command}: out of memory: {e}", file=sys.stderr)
        return 3
    except VidnasInputError as e:            # bad input, and only that: exit 2
        print(error_line(args.command, e), file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:                  # Ctrl-C: one line, exit 128 + SIGINT
        print(interrupted_line(args.command, argv, args, e), file=sys.stderr)
        return 130
    except OSError as e:                      # a full disk outside `atomic_write`
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            return report_internal_error(f"nas {args.command}", e, argv)
        where = Path(e.filename).parent if e.filename else "the output folder's file system"
        print(error_line(args.command, f"no space left on {where}; free space, then rerun with --resume"),
              file=sys.stderr)
        return 1
    except Exception as e:                    # noqa: BLE001 - a fault, not bad input: exit 1
        return report_internal_error(f"nas {args.command}", e, argv)
    finally:
        release_locks()                       # (the kernel would at exit; main may run in-process)
        forget_reports()


if __name__ == "__main__":
    sys.exit(main())
