"""One config source: defaults, unknown keys, types, cache slices, and the CLI's error handling."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from greyzone.config import RunConfig, TrainConfig, cache_key, cache_slice
from greyzone.errors import GreyzoneError, ParameterError, ParameterTypeError


def test_from_dict_rejects_unknown_keys_and_wrong_types():
    with pytest.raises(ParameterError, match="unknown RunConfig key.*idk_rate_cap"):
        RunConfig.from_dict({"idk_rate_cap": 0.1})
    with pytest.raises(ParameterError, match="unknown TrainConfig key.*epoch"):
        RunConfig.from_dict({"train": {"epoch": 3}})
    with pytest.raises(ParameterTypeError, match=r"RunConfig.folds must be int, got str '3'"):
        RunConfig.from_dict({"folds": "3"})
    with pytest.raises(ParameterTypeError, match="RunConfig.umap must be bool"):
        RunConfig.from_dict({"umap": 1})
    cfg = RunConfig.from_dict({"train": {"epochs": 2, "lr": 1}, "limit": None, "idk_cap": 0})
    assert cfg.train == TrainConfig(epochs=2, lr=1) and RunConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("kw, message", [
    ({"folds": 1}, r"folds must be an int in \[2, inf\), got 1"),
    ({"limit": 5}, r"limit must be an int in \[20, inf\), got 5"),
    ({"idk_cap": 1.5}, r"idk_cap must be a number in \[0, 1\], got 1.5"),
    ({"workers": 0}, r"workers must be an int in \[1, inf\), got 0"),
    ({"image_size": 7}, r"image_size must be an int in \[8, 256\], got 7"),
    ({"image_size": 257}, r"image_size must be an int in \[8, 256\], got 257"),
    ({"scorer": "vit"}, r"scorer must be one of .*'auto'.*'resnet'"),
    ({"backend": "spark"}, r"backend must be one of \('local', 'ray'\), got 'spark'"),
    ({"ray_address": "auto"}, r"ray_address='auto' needs backend='ray' \(--backend ray\)"),
])
def test_bad_values_are_greyzone_errors_and_value_errors(kw, message):
    with pytest.raises(ParameterError, match=message) as info:
        RunConfig(**kw)
    assert isinstance(info.value, GreyzoneError) and isinstance(info.value, ValueError)


def test_auto_scorer_resolves_by_channels_and_named_scorers_stay():
    assert RunConfig().scorer == "auto"
    assert RunConfig().resolved(1) == RunConfig(scorer="cnn")
    assert RunConfig(image_size=64).resolved(3) == RunConfig(scorer="resnet", image_size=64)
    for name in ("cnn", "lenet5", "resnet"):
        assert RunConfig(scorer=name).resolved(3).scorer == name
    with pytest.raises(ParameterError, match="scorer 'auto' knows images of \\[1, 3\\] channels, got 4"):
        RunConfig().resolved(4)


def test_image_size_is_part_of_the_train_cache_key():
    def key(cfg):
        return cache_key(cache_slice(cfg, "scorer", "image_size"))

    assert key(RunConfig(image_size=None)) != key(RunConfig(image_size=32)) != key(RunConfig(image_size=64))


def test_cache_key_changes_with_every_result_field_only():
    base = cache_key(cache_slice(RunConfig(), "seed", "train", "folds"))
    assert cache_key(cache_slice(RunConfig(workers=1), "seed", "train", "folds")) == base
    other = RunConfig(train=TrainConfig(batch_size=64))
    assert cache_key(cache_slice(other, "seed", "train", "folds")) != base
    ray = RunConfig(backend="ray", ray_address="auto")  # the backend gives the same models
    assert cache_key(cache_slice(ray, "seed", "train", "folds")) == base
    for name in ("workers", "backend", "ray_address"):
        with pytest.raises(ParameterError, match="does not affect results"):
            cache_slice(RunConfig(), name)


def test_cli_prints_a_bad_option_value_as_one_line(tmp_path):
    from greyzone.cli import app

    result = CliRunner().invoke(app, ["run", "-w", str(tmp_path / "ws"), "--folds", "1"])
    assert result.exit_code == 2
    assert "folds must be an int in [2, inf), got 1" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "ws").exists()


@pytest.mark.parametrize("args, message", [
    (["--image-size", "4"], "image_size must be an int in [8, 256], got 4"),
    (["--scorer", "vit"], "scorer must be one of"),
])
def test_cli_checks_the_model_options(tmp_path, args, message):
    from greyzone.cli import app

    result = CliRunner().invoke(app, ["run", "-w", str(tmp_path / "ws"), *args])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "ws").exists()
    assert "--image-size" in CliRunner().invoke(app, ["run", "--help"]).output


def test_cli_lets_a_bug_show_its_traceback(tmp_path, monkeypatch):
    import greyzone.pipeline
    from greyzone.cli import app

    def broken(cfg, **kw):
        raise KeyError("x")  # a programming error, not bad input

    monkeypatch.setattr(greyzone.pipeline, "run_pipeline", broken)
    result = CliRunner().invoke(app, ["run", "-w", str(tmp_path / "ws")])
    assert result.exit_code == 1 and isinstance(result.exception, KeyError)
