"""greyzone: find the grey zone of an image-classification dataset.

Train LeNet-5 with k-fold cross-fitting, score every sample for doubt, review the doubtful ones visually and
export a curated dataset with an extra ``IDK`` class.

>>> import greyzone
>>> ws = greyzone.run(workspace="greyzone-mnist", limit=2000)   # doctest: +SKIP
>>> ws.scores().sort_values("idk_score", ascending=False).head()  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
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


def curate(images_or_dataset: Any, labels: Any = None, *, pred_probs: Any = None, embeddings: Any = None,
           split: Any = None, classes: Any = None, workspace: str = "greyzone-curate", progress: bool = True,
           **config: Any) -> Workspace:
    """Curate your own data, with your own model outputs if you have them; returns the workspace.

    ``images_or_dataset``: a :class:`greyzone.sources.Dataset`, or ``(N, H, W)`` grey / ``(N, H, W, 3)`` RGB
    uint8 images with ``labels`` ``(N,)`` (``split``: per-image ``"train"``/``"test"``, default all train;
    ``classes``: names).
    ``pred_probs``: ``(N, C)`` **out-of-sample** probabilities (cross-validated, as cleanlab expects), an
    array or a ``.npy``/Parquet path; the scorer is then not trained. ``embeddings``: ``(N, D)``, the same
    way; without them the embedder is trained, or with ``embedder="none"`` the probabilities are the
    embeddings. Rows follow the dataset's sample order (train first). ``config``: any
    :class:`greyzone.config.RunConfig` field.
    """
    from greyzone.config import RunConfig
    from greyzone.pipeline import run_pipeline
    from greyzone.sources.dataset import Dataset

    if isinstance(images_or_dataset, Dataset):
        if labels is not None or split is not None or classes is not None:
            raise TypeError("curate(dataset): labels, split and classes come from the dataset; pass none")
        dataset = images_or_dataset
    else:
        if labels is None:
            raise TypeError("curate(images, labels): labels are required with an image array")
        dataset = Dataset.from_arrays(images_or_dataset, labels, split=split, classes=classes)
        if split is not None:  # arrays given in the caller's row order: put them in sid order (train first)
            import numpy as np

            order = np.argsort([list(dataset.splits).index(s) for s in np.asarray(split)], kind="stable")
            pred_probs, embeddings = (np.asarray(a)[order] if a is not None and not isinstance(a, str | Path)
                                      else a for a in (pred_probs, embeddings))
    cfg = RunConfig.from_dict({"workspace": str(workspace), "dataset": dataset.name, **config})
    return run_pipeline(cfg, dataset=dataset, pred_probs=pred_probs, embeddings=embeddings, progress=progress)


def open_workspace(path: str) -> Workspace:
    """Open an existing workspace read-write (scores, arrays and the decisions log)."""
    from greyzone.store.workspace import Workspace

    return Workspace.open(path)


__all__ = ["__version__", "curate", "open_workspace", "run"]
