"""Per-split ``metadata.csv`` of the export and the Hugging Face YAML header of its dataset card.

Hugging Face ``imagefolder`` sorts class folder names, so with named classes (``cat``, ``dog``, ``ship``) the
folder ``IDK`` would become label 0 while greyzone numbers it last. Each split folder therefore holds a
``metadata.csv`` whose ``label`` is greyzone's curated label id (``file_name`` relative to the split folder,
``original_label``, ``idk_score``, ``suggested_label`` with −1 for none), and the card's YAML declares the
class order (``class_label`` names), so ``load_dataset(export_dir)`` gives greyzone's ids and names, and the
scores become dataset columns. greyzone's own image-folder reader ignores the metadata file.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

METADATA_NAME = "metadata.csv"
METADATA_COLUMNS: tuple[str, ...] = ("file_name", "label", "original_label", "idk_score", "suggested_label")
#: Hugging Face licence ids of the datasets greyzone knows; anything else is ``unknown``.
LICENSES = {"mnist": "cc-by-sa-3.0", "fashion-mnist": "mit"}


def metadata_files(curated: pd.DataFrame, rel: np.ndarray, idk_score: np.ndarray) -> dict[str, bytes]:
    """``{"<split>/metadata.csv": bytes}`` for every split of ``curated`` (rows as
    :meth:`greyzone.store.decisions.DecisionLog.curated`); ``rel[i]`` is row ``i``'s image path relative to
    the export root (``<split>/<class>/<file>``)."""
    frame = pd.DataFrame({
        "split": curated.split.to_numpy(),
        "file_name": [r.split("/", 1)[1] for r in np.asarray(rel).tolist()],
        "label": curated.curated_label.to_numpy(np.int64),
        "original_label": curated.original_label.to_numpy(np.int64),
        "idk_score": np.round(np.asarray(idk_score, np.float64), 6),
        "suggested_label": curated.suggested_label.to_numpy(np.int64),
    })
    return {f"{split}/{METADATA_NAME}": part.sort_values("file_name")[list(METADATA_COLUMNS)]
            .to_csv(index=False).encode() for split, part in frame.groupby("split", sort=False)}


def _q(text: str) -> str:
    """A YAML scalar: JSON's double-quoted string is valid YAML."""
    return json.dumps(str(text))


def size_category(n: int) -> str:
    """Hugging Face's ``size_categories`` bucket of ``n`` samples."""
    for bound, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):
        if n < bound:
            return name
    return "10M<n<100M"


def hf_yaml(dataset: str, class_names: list[str], split_sizes: dict[str, int]) -> str:
    """The card's YAML front matter: licence, task, size, one config with a data-files pattern per split,
    and the features with ``class_label`` names in greyzone's order (IDK last). Split sizes are in the card's
    count table: ``dataset_info.splits`` would need the Arrow size in bytes, which only ``datasets`` knows."""
    names = "\n".join(f"            '{i}': {_q(n)}" for i, n in enumerate(class_names))
    class_label = f"        class_label:\n          names:\n{names}"
    features = [
        "  - name: image", "    dtype: image",
        *(f"  - name: {c}\n    dtype:" + ("\n" + class_label if c != "idk_score" else " float64")
          for c in METADATA_COLUMNS[1:]),
    ]
    lines = [
        "---",
        f"license: {LICENSES.get(dataset, 'unknown')}",
        "task_categories:",
        "- image-classification",
        f"pretty_name: {_q(f'{dataset} (curated by greyzone)')}",
        "size_categories:",
        f"- {size_category(sum(split_sizes.values()))}",
        "configs:",
        "- config_name: default",
        "  data_files:",
        *(f"  - split: {s}\n    path: {s}/**" for s in split_sizes),
        "  features:",  # here, not only under dataset_info: imagefolder takes a config's features
        *("  " + line for f in features for line in f.split("\n")),
        "dataset_info:",
        "  features:",
        *features,
        "---",
    ]
    return "\n".join(lines) + "\n"
