"""Bridges to other tools, each behind an optional extra: :mod:`greyzone.integrations.fiftyone`."""
