"""The one exception family for bad input, in the lowest layer so that every package raises it.

A `VidnasInputError` says the user gave something vidnas refuses: a config key or value, a
flag, a file, a folder, the data. `nas` prints it as one line (``nas CMD: error: ...``) and
exits 2. Any other exception is a fault in vidnas (or in a library it calls): `nas` exits 1,
names it an internal error and writes the traceback to a file (`nas.commands.main.main`).

Every class subclasses `ValueError`, so code (and tests) that catch ValueError keep working;
the two for a missing input and an existing output also subclass `FileNotFoundError` and
`FileExistsError`, the types those raises had before. `nas.errors` re-exports them all.

    VidnasInputError(ValueError)            bad input (the base: catch this one)
    ├── ConfigError                         a config key or value, a flag, an option
    ├── InputFileError                      an input file or folder: unreadable, malformed, damaged
    │   └── InputNotFoundError              ... that does not exist (also a FileNotFoundError)
    ├── DataError                           the data set: its lists, labels and clips
    └── OutputError                         an output folder or file that cannot be used
        └── OutputExistsError               ... that holds a run already (also a FileExistsError)
"""
from __future__ import annotations

__all__ = ["VidnasInputError", "ConfigError", "InputFileError", "InputNotFoundError", "DataError",
           "OutputError", "OutputExistsError"]


class VidnasInputError(ValueError):
    """Bad input: `nas` prints the message as one line and exits 2."""


class ConfigError(VidnasInputError):
    """A refused config key or value (YAML file, ``--set``, a flag, a model option)."""


class InputFileError(VidnasInputError):
    """An input file or folder that cannot be used: unreadable, not the format expected, damaged."""


class InputNotFoundError(InputFileError, FileNotFoundError):
    """An input file or folder that does not exist."""


class DataError(VidnasInputError):
    """The data set: a malformed or empty list, a bad label, no readable clip."""


class OutputError(VidnasInputError):
    """An output folder or file that cannot be used: not a folder, not writable, of another
    run or another kind, in use by another process."""


class OutputExistsError(OutputError, FileExistsError):
    """An output folder that holds a started run (pass ``--resume`` or choose another)."""
