"""The dataset card (``README.md``) written into every export. No timestamps: same store, same bytes."""

from __future__ import annotations

import pandas as pd

from greyzone._version import __version__
from greyzone.store.workspace import Workspace

CITATION = """@article{lecun1998gradient,
  title   = {Gradient-based learning applied to document recognition},
  author  = {LeCun, Yann and Bottou, L{\\'e}on and Bengio, Yoshua and Haffner, Patrick},
  journal = {Proceedings of the IEEE},
  volume  = {86},
  number  = {11},
  pages   = {2278--2324},
  year    = {1998}
}"""


def dataset_card(ws: Workspace, counts: pd.DataFrame, *, include_proposals: bool,
                 apply_corrections: bool = False) -> str:
    run = ws.runs.last() or {"config": {}, "versions": {}}
    cfg = run["config"]
    t = counts.copy()
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
    train = cfg.get("train", {})
    return f"""# {ws.dataset} — curated by greyzone

Images of the original dataset, sorted into `{{train,test}}/{{class}}/{{index:05d}}.png` where `index` is the
0-based position in the original files. Doubtful images (ambiguous or wrongly labelled) are in the extra
class **IDK** (or, where stated below, in the class a confident correction suggested). `manifest.csv` lists
every image with its original and curated label, who decided, and the class an automatic proposal suggested
(`suggested_label`: a class, IDK, or empty where there was none).

## Counts

{header}
{rule}
{chr(10).join(rows)}

## How it was curated

1. A LeNet-5 was trained with {cfg.get("folds", "?")}-fold cross-fitting ({train.get("epochs", "?")} epochs,
   seed {cfg.get("seed", "?")}), so every training image was scored by a model that never saw it; test images
   were scored by the mean of the fold models.
2. greyzone computed hardness, mistakenness, uniqueness, representativeness, confident-learning label issues
   and training dynamics, and combined them into an `idk_score`.
3. Auto proposals ({auto_idk} ambiguous images proposed IDK and {auto_fix} confident corrections to another
   class, policy in the greyzone README) {treated}. Human decisions override them
   (human decisions in force: {", ".join(f"{k}={v}" for k, v in sorted(human.items())) or "none"}).
4. Pixels are the original 8-bit values, stored losslessly as PNG.

Made with greyzone {__version__}. Source: {ws.dataset}.

## Citation

The MNIST data belongs to Y. LeCun and C. Cortes (CC BY-SA 3.0). Cite:

```bibtex
{CITATION}
```
"""
