"""Every path inside a workspace, in one place; modules ask the layout instead of spelling file names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    """Paths of a workspace rooted at ``root``::

        greyzone.sqlite             samples, runs, stage cache keys, scores, append-only decisions
        arrays/<name>.npy           images, probabilities, embeddings, neighbours, projections ...
        scores.parquet              the score table, one row per sample
        export/                     the curated dataset (manifest.csv, README.md, split/class/image)
        evaluation/evaluation.json  ``greyzone evaluate``'s result
        report.html                 ``greyzone report``
        curation.json               ``greyzone bench-curation``'s result (in the benchmark's root)
        .greyzone-run.lock          held (flock) by the ``greyzone run`` using the workspace
    """

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def db(self) -> Path:
        return self.root / "greyzone.sqlite"

    @property
    def run_lock(self) -> Path:
        return self.root / ".greyzone-run.lock"

    @property
    def arrays(self) -> Path:
        return self.root / "arrays"

    def array(self, name: str) -> Path:
        return self.arrays / f"{name}.npy"

    @property
    def scores(self) -> Path:
        return self.root / "scores.parquet"

    @property
    def export(self) -> Path:
        return self.root / "export"

    @property
    def evaluation(self) -> Path:
        return self.root / "evaluation" / "evaluation.json"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    @property
    def curation(self) -> Path:
        return self.root / "curation.json"
