"""greyzone: find the grey zone of an image-classification dataset.

Train LeNet-5 with k-fold cross-fitting, score every sample for doubt, review the doubtful ones visually and
export a curated dataset with an extra ``IDK`` class.

>>> import greyzone
>>> ws = greyzone.run(workspace="greyzone-mnist", limit=2000)   # doctest: +SKIP
>>> ws.scores().sort_values("idk_score", ascending=False).head()  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from greyzone._version import __version__

if TYPE_CHECKING:
    from greyzone.store.workspace import Workspace


def run(workspace: str = "greyzone-mnist", *, progress: bool = True, **config: Any) -> Workspace:
    """Run the whole pipeline and return the workspace.

    ``config``: any :class:`greyzone.config.RunConfig` field (``limit``, ``folds``, ``seed``, ``umap`` ...);
    ``train`` may be a :class:`~greyzone.config.TrainConfig` or a dict such as ``{"epochs": 3}``.
    """
    from greyzone.config import RunConfig
    from greyzone.pipeline import run_pipeline

    return run_pipeline(RunConfig.from_dict({"workspace": str(workspace), **config}), progress=progress)


def open_workspace(path: str) -> Workspace:
    """Open an existing workspace read-write (scores, arrays and the decisions log)."""
    from greyzone.store.workspace import Workspace

    return Workspace.open(path)


__all__ = ["__version__", "open_workspace", "run"]
