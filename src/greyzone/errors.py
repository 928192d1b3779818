"""Errors a person can act on: each names the file (or sample) and what was wrong."""

from __future__ import annotations


class GreyzoneError(Exception):
    """Base class for every error greyzone raises on bad input; the CLI prints it and exits 2."""


class DataError(GreyzoneError):
    """A data file or image folder is missing, truncated, corrupt or inconsistent."""


class ChecksumError(DataError):
    """A downloaded or cached file does not have the expected SHA-256."""


class WorkspaceError(GreyzoneError):
    """A workspace is missing, from an incompatible version, or inconsistent."""


class ExportError(GreyzoneError):
    """An export failed validation; the previous export was left in place."""
