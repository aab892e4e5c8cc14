"""The exceptions of bad input (defined in `search_spaces.errors`, the lowest layer).

Catch `VidnasInputError` to tell a refused input from a fault: ``nas`` prints a
`VidnasInputError` as one line and exits 2; any other exception exits 1 as an internal error
with its traceback written to a file. See `search_spaces.errors` for the classes.
"""
from search_spaces.errors import (ConfigError, DataError, InputFileError, InputNotFoundError, OutputError,
                                  OutputExistsError, VidnasInputError)

__all__ = ["VidnasInputError", "ConfigError", "InputFileError", "InputNotFoundError", "DataError",
           "OutputError", "OutputExistsError"]
