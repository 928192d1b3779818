"""CLI options whose defaults and help come from the config dataclasses, so the two cannot drift."""

from __future__ import annotations

from typing import Any

import typer

from greyzone.config import help_of


def option(cls: type, name: str, *flags: str, help: str | None = None) -> Any:
    """A ``typer.Option`` for field ``name`` of config class ``cls``, with the field's help text.

    Use it with the field's default: ``folds: Annotated[int, option(RunConfig, "folds")] = RUN.folds``.
    """
    return typer.Option(*flags, help=help or help_of(cls, name))

