"""Data sources: real MNIST / Fashion-MNIST IDX files (grey), image-folder trees and Hugging Face datasets on
disk (grey or RGB, any size)."""

from __future__ import annotations

from pathlib import Path

from greyzone.errors import ParameterError
from greyzone.sources.dataset import SPLITS, Dataset, Split
from greyzone.sources.imagefolder import load_imagefolder
from greyzone.sources.mnist import load_fashion_mnist, load_mnist

DATASETS = ("mnist", "fashion-mnist", "imagefolder", "hf")


def load_dataset(name: str, data_dir: str | Path | None = None, **kwargs) -> Dataset:
    """Load ``mnist``, ``fashion-mnist``, ``imagefolder`` or ``hf`` (the last two need ``data_dir`` and take
    ``size``, the working side when images must be resized; ``hf`` also takes ``image_column`` /
    ``label_column``)."""
    if name == "mnist":
        return load_mnist(data_dir, **kwargs)
    if name == "fashion-mnist":
        return load_fashion_mnist(data_dir)
    if name == "imagefolder":
        if data_dir is None:
            raise ParameterError(
                "dataset 'imagefolder' needs --data-dir pointing at root/{train,test}/<class>/"
            )
        return load_imagefolder(data_dir, **kwargs)
    if name == "hf":
        from greyzone.sources.hf import load_hf

        if data_dir is None:
            raise ParameterError("dataset 'hf' needs --data-dir: a save_to_disk folder or a folder of "
                                 "Parquet files")
        return load_hf(data_dir, **kwargs)
    raise ParameterError(f"unknown dataset {name!r} (expected one of {', '.join(DATASETS)})")


__all__ = [
    "DATASETS",
    "SPLITS",
    "Dataset",
    "Split",
    "load_dataset",
    "load_fashion_mnist",
    "load_imagefolder",
    "load_mnist",
]
