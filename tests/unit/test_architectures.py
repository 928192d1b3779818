"""The model families on any channels and size, and the input pipeline: per-channel standardisation, resizing
only when needed, exact shifts with a per-channel background."""

import numpy as np
import pytest
import torch

from greyzone.model import train
from greyzone.model.architectures import ARCHITECTURES
from greyzone.model.layers import FixedGrid
from greyzone.model.train import background, channel_stats, shift_batch, to_tensor

EMBEDDING_DIM = {"lenet5": 84, "cnn": 128, "resnet": 64}


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
@pytest.mark.parametrize("channels", [1, 3])
def test_every_architecture_runs_on_any_channels_and_size(name, channels):
    arch = ARCHITECTURES[name]
    torch.manual_seed(0)
    model = arch.build(4, channels).eval()
    for size in (arch.native_size, 8, 45):
        x = torch.randn(3, channels, size, size)
        with torch.no_grad():
            z, e = model.forward_embed(x)
            assert torch.equal(z, model(x))
        assert z.shape == (3, 4) and e.shape == (3, EMBEDDING_DIM[name]), (size, z.shape, e.shape)
        assert torch.isfinite(z).all() and torch.isfinite(e).all()
    with pytest.raises(RuntimeError):  # the first convolution is built for `channels` inputs
        model(torch.randn(1, 4 - channels, arch.native_size, arch.native_size))


def test_native_sizes_and_resnet_is_small():
    assert {n: a.native_size for n, a in ARCHITECTURES.items()} == {"lenet5": 28, "cnn": 28, "resnet": 32}
    params = sum(p.numel() for p in ARCHITECTURES["resnet"].build(10, 3).parameters())
    assert 70_000 < params < 200_000, params


def test_fixed_grid_is_the_identity_at_its_size():
    x = torch.randn(2, 3, 7, 7)
    assert FixedGrid(7)(x) is x  # the 28-pixel nets compute exactly what they did before
    assert FixedGrid(7)(torch.ones(2, 3, 9, 9)).shape == (2, 3, 7, 7)


def test_channel_stats_are_the_per_channel_pixel_mean_and_std(rng):
    rgb = rng.integers(0, 256, (50, 5, 7, 3), dtype=np.uint8)
    rgb[..., 2] //= 4  # a darker blue channel
    mean, std = channel_stats(rgb)
    x = rgb.astype(np.float64) / 255
    np.testing.assert_allclose(mean, x.mean(axis=(0, 1, 2)), rtol=1e-12)
    np.testing.assert_allclose(std, x.std(axis=(0, 1, 2)), rtol=1e-12)
    assert mean[2] < mean[0] / 2
    grey = rgb[..., 0]
    assert channel_stats(grey) == ((mean[0],), (std[0],))
    assert channel_stats(np.zeros((3, 4, 4), np.uint8)) == ((0.0,), (1e-6,))  # no division by zero
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\) RGB"):
        channel_stats(np.zeros((3, 4, 4, 4), np.uint8))


@pytest.mark.mnist
def test_channel_stats_of_mnist_train_are_the_classic_constants(mnist):
    mean, std = channel_stats(mnist.splits["train"].images)
    assert abs(mean[0] - 0.1307) < 5e-5 and abs(std[0] - 0.3081) < 5e-5, (mean, std)


def test_to_tensor_standardises_each_channel_without_resizing_at_the_working_size(rng, monkeypatch):
    rgb = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    stats = channel_stats(rgb)

    def no_resize(*args, **kwargs):
        raise AssertionError("resized although the images already have the working size")

    monkeypatch.setattr(train.F, "interpolate", no_resize)
    x = to_tensor(rgb, 32, *stats)
    assert x.shape == (6, 3, 32, 32) and x.dtype == torch.float32
    for c in range(3):
        expected = (rgb[..., c].astype(np.float32) / 255 - np.float32(stats[0][c])) / np.float32(stats[1][c])
        np.testing.assert_allclose(x[:, c].numpy(), expected, rtol=1e-6, atol=1e-6)
        assert abs(float(x[:, c].mean())) < 1e-4 and abs(float(x[:, c].std(unbiased=False)) - 1) < 1e-4
    grey = to_tensor(rgb[..., 1], 32, (0.5,), (0.25,))
    assert grey.shape == (6, 1, 32, 32)
    np.testing.assert_allclose(grey[:, 0].numpy(), (rgb[..., 1] / 255 - 0.5) / 0.25, rtol=1e-5, atol=1e-5)


def test_to_tensor_resizes_other_sizes_to_the_working_size():
    rgb = np.zeros((2, 20, 48, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 255, 51, 0  # constant colours survive any interpolation
    x = to_tensor(rgb, 28, (0.5, 0.2, 0.0), (0.5, 0.1, 1.0))
    assert x.shape == (2, 3, 28, 28)
    for c, value in enumerate((1.0, 0.0, 0.0)):
        np.testing.assert_allclose(x[:, c].numpy(), value, atol=1e-6)


def test_shift_batch_is_exact_and_fills_each_channel_with_its_black():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    fill = (-1.0, -2.0, -3.0)
    dy, dx = torch.tensor([1, 0]), torch.tensor([0, -2])  # image 0 one row down, image 1 two columns left
    out = shift_batch(x, dy, dx, 2, fill)
    expected = torch.empty_like(x)
    for b in range(2):
        for c in range(3):
            for i in range(4):
                for j in range(5):
                    si, sj = i - int(dy[b]), j - int(dx[b])
                    inside = 0 <= si < 4 and 0 <= sj < 5
                    expected[b, c, i, j] = x[b, c, si, sj] if inside else fill[c]
    assert torch.equal(out, expected)
    assert torch.equal(out[0, :, 0, :], torch.tensor(fill)[:, None].expand(3, 5))  # the new top row is black
    assert torch.equal(shift_batch(x, torch.zeros(2, dtype=torch.long), torch.zeros(2, dtype=torch.long), 1,
                                   fill), x)


def test_background_is_black_after_standardisation():
    stats = ((0.5, 0.25, 0.0), (0.25, 0.5, 2.0))
    assert background(stats) == (-2.0, -0.5, 0.0)
    black = np.zeros((1, 4, 4, 3), np.uint8)
    np.testing.assert_allclose(to_tensor(black, 4, *stats)[0, :, 0, 0].numpy(), background(stats))


def test_prediction_one_batch_at_a_time_equals_the_whole_tensor(rng):
    """ImageBatches makes each batch's float32 tensor on demand: the same logits and embeddings, bit for bit,
    as one tensor of all rows (TTA shifts included), and rows are taken in the order given."""
    from greyzone.model.train import ImageBatches, predict

    images = rng.integers(0, 256, (70, 30, 30, 3), dtype=np.uint8)
    rows = rng.permutation(70)[:50]
    stats = channel_stats(images)
    torch.manual_seed(0)
    model = ARCHITECTURES["cnn"].build(4, 3).eval()
    whole = predict(model, to_tensor(images[rows], 28, *stats), batch_size=16, embed=True, tta=True,
                    fill=background(stats))
    lazy = predict(model, ImageBatches(images, rows, 28, stats), batch_size=16, embed=True, tta=True,
                   fill=background(stats))
    assert whole[0].shape == (50, 4) and whole[1].shape[0] == 50
    np.testing.assert_array_equal(whole[0], lazy[0])
    np.testing.assert_array_equal(whole[1], lazy[1])
