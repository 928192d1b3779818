"""The dataset card (``README.md``) written into every export: Hugging Face YAML metadata
(:func:`greyzone.export.metadata.hf_yaml`), then what the data is and how it was curated, from the run's own
config. It describes the dataset it was made from: MNIST and Fashion-MNIST get their citation and licence,
any other source its path and an unknown licence. No timestamps: same store, same bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from greyzone._version import __version__
from greyzone.export.metadata import LICENSES, hf_yaml
from greyzone.store.workspace import Workspace

CITATIONS = {
    "mnist": ("The MNIST data belongs to Y. LeCun and C. Cortes (CC BY-SA 3.0). Cite:",
              """@article{lecun1998gradient,
  title   = {Gradient-based learning applied to document recognition},
  author  = {LeCun, Yann and Bottou, L{\\'e}on and Bengio, Yoshua and Haffner, Patrick},
  journal = {Proceedings of the IEEE},
  volume  = {86},
  number  = {11},
  pages   = {2278--2324},
  year    = {1998}
}"""),
    "fashion-mnist": ("Fashion-MNIST belongs to Zalando Research (MIT licence). Cite:",
                      """@article{xiao2017fashion,
  title   = {Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning Algorithms},
  author  = {Xiao, Han and Rasul, Kashif and Vollgraf, Roland},
  journal = {arXiv preprint arXiv:1708.07747},
  year    = {2017}
}"""),
}


def _how_scored(cfg: dict[str, Any]) -> str:
    """Step 1 of "How it was curated", from the run config (``{}`` when there was no run)."""
    external = cfg.get("external_outputs") or {}
    if "pred_probs" in external:
        p = external["pred_probs"]
        emb = external.get("embeddings")
        where = (f"from `{emb['source']}`" if emb else "the probabilities themselves"
                 if cfg.get("embedder") == "none"
                 else f"from a {cfg.get('embedder')} trained on all train images")
        return (f"The out-of-sample probabilities were **given** (`{p['source']}`, SHA-256 "
                f"`{p['sha256'][:16]}…`), not trained by greyzone; embeddings {where}.")
    if not cfg:
        return "No greyzone run is recorded in this workspace: the scores below are absent."
    epochs = (cfg.get("train") or {}).get("epochs")
    return (f"A {cfg.get('scorer')} scorer was trained with {cfg.get('folds')}-fold cross-fitting "
            f"({f'{epochs} epochs' if epochs else 'its recipe’s epochs'}, seed {cfg.get('seed')}), so every "
            f"training image was scored by a model that never saw it; the other splits were scored by the "
            f"mean of the fold models. A {cfg.get('embedder')} trained on all training images gave the "
            f"embeddings.")


def dataset_card(ws: Workspace, counts: pd.DataFrame, *, include_proposals: bool,
                 apply_corrections: bool = False, run_config: dict[str, Any] | None = None) -> str:
    """The card's Markdown. ``run_config``: the config of the run that writes the export (default: the last
    finished run's)."""
    cfg = run_config if run_config is not None else (ws.runs.last() or {}).get("config", {})
    t = counts.reindex([s for s in ws.splits if s in counts.index])  # sample order: train first
    t["total"] = t.sum(axis=1)
    header = "| split | " + " | ".join(map(str, t.columns)) + " |"
    rule = "|---" * (len(t.columns) + 1) + "|"
    rows = [f"| {split} | " + " | ".join(str(int(v)) for v in row) + " |" for split, row in t.iterrows()]
    eff = ws.decisions.in_force()
    human = eff[eff.source == "human"].action.value_counts().to_dict()
    auto = eff[eff.source == "auto"]
    auto_idk, auto_fix = int((auto.action == "idk").sum()), int((auto.action == "relabel").sum())
    if not include_proposals:
        treated = "were NOT included (--no-proposals)"
    elif apply_corrections:
        treated = "were included; each confident correction gave its suggested label (--apply-corrections)"
    else:
        treated = "were included; confident corrections went to IDK like the other proposals"
    classes = [ws.label_name(i) for i in range(ws.idk_label + 1)]
    sizes = {str(s): int(n) for s, n in t["total"].items()}
    splits = ",".join(sizes)
    # the folder's name, not its local path: a card is written to be shared (no home directories in it)
    source = ws.dataset if ws.dataset in CITATIONS or not ws.source else Path(ws.source).name
    text, bibtex = CITATIONS.get(ws.dataset, (None, None))
    copied = sum(f is not None for f in ws.source_files().tolist())
    ext = "png" if not copied else "<its own suffix: png, jpg, ...>"
    pixels = ("Every image file is its original source file, byte for byte (SHA-256 in `manifest.csv`)."
              if copied == len(ws.samples()) else
              "Images with a source file are that file, byte for byte; the others are lossless PNGs of their "
              "8-bit pixels." if copied else
              "Images are lossless PNGs of the 8-bit pixels greyzone read from the source arrays.")
    citation = (f"\n## Citation\n\n{text}\n\n```bibtex\n{bibtex}\n```\n" if text else
                f"\n## Source and licence\n\nRead from `{source}`. The licence is that of the source data "
                f"(greyzone does not know it; the metadata says `license: unknown`).\n")
    return hf_yaml(ws.dataset, classes, sizes) + f"""
# {ws.dataset} — curated by greyzone

Images of `{source}` ({len(ws.classes)} classes: {", ".join(f"`{c}`" for c in ws.classes)}), sorted into
`{{{splits}}}/{{class}}/{{index:05d}}.{ext}` where `index` is the 0-based position in the source split.
Doubtful images (ambiguous or wrongly labelled) are in the extra class **IDK** (or, where stated below, in
the class a confident correction suggested). `manifest.csv` lists every image with its original and curated
label, who decided, the class an automatic proposal suggested (`suggested_label`: a class, IDK, or empty
where there was none), its source file (`source_file`, relative to the source folder; empty for array
sources such as IDX), its path here (`file`) and the SHA-256 of that file (`sha256`).
Each split folder's `metadata.csv` carries `label` (the curated label id), `original_label`, `idk_score` and
`suggested_label` (−1: none) for Hugging Face; the YAML above pins the class order, IDK last.

```python
from datasets import load_dataset
ds = load_dataset("path/to/this/folder")   # splits {", ".join(sizes)}; label names in greyzone's order
```

## Counts

{header}
{rule}
{chr(10).join(rows)}

## How it was curated

1. {_how_scored(cfg)}
2. greyzone computed hardness, mistakenness, uniqueness, representativeness, confident-learning label issues
   and (when a model was trained) training dynamics, and combined them into an `idk_score`.
3. Auto proposals ({auto_idk} ambiguous images proposed IDK and {auto_fix} confident corrections to another
   class, policy in the greyzone README) {treated}. Human decisions override them
   (human decisions in force: {", ".join(f"{k}={v}" for k, v in sorted(human.items())) or "none"}).
4. {pixels}

Made with greyzone {__version__}. Licence id: `{LICENSES.get(ws.dataset, "unknown")}`.
{citation}"""
