"""The Ray backend (issue 11, item 1): the same seed gives bit-identical cross-fitting outputs on the local
and the Ray backend; a failing job is retried once, then fails the run with its error; without Ray, the pip
hint.

One local Ray instance (2 CPUs, a small object store) serves the module; CI installs greyzone[ray].
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from greyzone.config import TrainConfig
from greyzone.errors import MissingExtraError, ParameterError
from greyzone.model.architectures import recipe_for
from greyzone.model.crossfit import crossfit, crossfit_work
from greyzone.model.jobs import ModelJob, run_job
from greyzone.model.ray_backend import ray_session, require_ray, run_ray_jobs

N_TRAIN, N_TEST, CLASSES = 360, 40, 4


@pytest.fixture(scope="module")
def ray_instance():
    ray = require_ray()
    ray.init("local", num_cpus=2, object_store_memory=200 * 2**20, include_dashboard=False,
             log_to_driver=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """400 noisy 28×28 images of 4 classes (a bright square in one quadrant per class), as images.npy."""
    rng = np.random.default_rng(0)
    labels = np.arange(N_TRAIN + N_TEST) % CLASSES
    x = rng.integers(0, 60, (len(labels), 28, 28)).astype(np.uint8)
    for i, c in enumerate(labels):
        r, col = divmod(int(c), 2)
        x[i, 14 * r + 3 : 14 * r + 11, 14 * col + 3 : 14 * col + 11] += 150
    path = tmp_path_factory.mktemp("ray") / "images.npy"
    np.save(path, x)
    np.save(path.with_name("labels.npy"), labels)
    return path


def _crossfit(images: Path, backend: str, progress=None):
    labels = np.load(images.with_name("labels.npy"))
    train, test = np.arange(N_TRAIN), np.arange(N_TRAIN, N_TRAIN + N_TEST)
    return crossfit(images, train, labels[train], test, n_classes=CLASSES, folds=2, cfg=TrainConfig(epochs=1),
                    seed=3, scorer="cnn", embedder="lenet5", workers=2, backend=backend, progress=progress)


def test_ray_and_local_backends_give_bit_identical_outputs(ray_instance, images):
    local = _crossfit(images, "local")
    counts: list[int] = []
    on_ray = _crossfit(images, "ray", progress=counts.append)
    for name in ("oof_logits", "test_probs", "fold", "full_logits", "embeddings"):
        np.testing.assert_array_equal(getattr(on_ray, name), getattr(local, name), err_msg=name)
    np.testing.assert_array_equal(on_ray.dynamics.p_label, local.dynamics.p_label)
    np.testing.assert_array_equal(on_ray.dynamics.margin, local.dynamics.margin)
    assert on_ray.fold_accuracy == local.fold_accuracy
    assert local.embeddings.shape == (N_TRAIN + N_TEST, 84) and np.isfinite(local.oof_logits).all()
    # every trained sample reached the progress callback, as with the local backend
    assert sum(counts) == crossfit_work(N_TRAIN, folds=2, cfg=TrainConfig(epochs=1), scorer="cnn",
                                        embedder="lenet5")
    assert ray_instance.is_initialized()  # a joined instance is left running


def test_a_failing_job_is_retried_once_then_fails_the_run_with_its_error(ray_instance, images):
    x = np.load(images)
    bad = ModelJob("fold7", np.arange(8), np.arange(8) % CLASSES, np.arange(4), seed=0,
                   architecture="no-such-net", recipe=recipe_for("lenet5", TrainConfig(epochs=1)))
    with pytest.raises(RuntimeError) as info:
        run_ray_jobs([bad], run_job, x, n_classes=CLASSES)
    message = str(info.value)
    assert "training job 'fold7' failed on Ray after 2 attempt(s)" in message
    assert "KeyError" in message and "no-such-net" in message  # the remote traceback's end


def test_without_ray_the_ray_backend_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ModuleNotFoundError
    with pytest.raises(MissingExtraError, match=r"pip install 'greyzone\[ray\]'"):
        run_ray_jobs([], run_job, np.zeros((1, 28, 28), np.uint8), n_classes=2)


def test_an_address_where_no_cluster_answers_is_a_parameter_error(monkeypatch):
    ray = require_ray()

    def refuse(*args, **kwargs):
        raise ConnectionError("Could not find any running Ray instance.")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", refuse)
    with pytest.raises(ParameterError, match="--ray-address auto: no Ray cluster answers there"):
        with ray_session("auto"):
            pass
