"""``python -m greyzone.cli``: the same as the ``greyzone`` command."""

from greyzone.cli import app

app()
