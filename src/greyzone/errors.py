"""Errors a person can act on: each names the file (or sample) and what was wrong."""

from __future__ import annotations

import importlib
from types import ModuleType


class GreyzoneError(Exception):
    """Base class for every error greyzone raises on bad input; the CLI prints it and exits 2."""


class DataError(GreyzoneError):
    """A data file or image folder is missing, truncated, corrupt or inconsistent."""


class ChecksumError(DataError):
    """A downloaded or cached file does not have the expected SHA-256."""


class CorruptFileError(DataError):
    """A stored file (score table, array) is truncated or damaged; re-running rebuilds it."""


class WorkspaceError(GreyzoneError):
    """A workspace is missing, from an incompatible version, or inconsistent."""


class ExportError(GreyzoneError):
    """An export failed validation; the previous export was left in place."""


class MissingExtraError(GreyzoneError, ImportError):
    """An optional dependency is not installed; the message gives the exact ``pip install`` command."""


def extra_hint(extra: str) -> str:
    """The command that installs greyzone's optional ``extra``: ``pip install 'greyzone[<extra>]'``."""
    return f"pip install 'greyzone[{extra}]'"


def require_extra(module: str, extra: str, purpose: str) -> ModuleType:
    """``import module``, or a :class:`MissingExtraError` "<purpose> needs the optional extra: <pip command>"
    when it is not installed. One that is installed but fails to import stays a traceback."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name != module.split(".")[0]:
            raise
        raise MissingExtraError(f"{purpose} needs the optional extra: {extra_hint(extra)}") from e


class ParameterError(GreyzoneError, ValueError):
    """A parameter or input array has a value outside what the function accepts (also a ``ValueError``)."""


class ParameterTypeError(GreyzoneError, TypeError):
    """A parameter or input array has the wrong type or dtype (also a ``TypeError``)."""


class UnknownSampleError(GreyzoneError, KeyError):
    """A sample id that the workspace does not hold (also a ``KeyError``)."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0]) if self.args else ""
