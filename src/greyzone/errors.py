"""Errors a person can act on: each names the file (or sample) and what was wrong."""

from __future__ import annotations


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


class ParameterError(GreyzoneError, ValueError):
    """A parameter or input array has a value outside what the function accepts (also a ``ValueError``)."""


class ParameterTypeError(GreyzoneError, TypeError):
    """A parameter or input array has the wrong type or dtype (also a ``TypeError``)."""


class UnknownSampleError(GreyzoneError, KeyError):
    """A sample id that the workspace does not hold (also a ``KeyError``)."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0]) if self.args else ""
