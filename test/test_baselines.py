"""Baselines: exact on easy inputs, NaN-aware, and the guided filter really uses the RGB edges."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest
import torch

from stdnet_ros.data.synthetic import generate_clip
from stdnet_ros.evaluation.baselines import BASELINES, GUIDED_CONSTANTS, guided, upsample
from stdnet_ros.evaluation.metrics import ClipMetrics
from stdnet_ros.model.base import bicubic, box, guided_filter, opencv_box, running_box


@pytest.mark.parametrize("method", sorted(BASELINES))
def test_constant_depth_stays_constant_and_holes_stay_holes(method: str) -> None:
    lr = np.full((8, 10), 3.0, np.float32)
    lr[:3, :3] = np.nan  # a 3x3 hole: its centre pixel has no valid neighbour within one LR pixel
    rgb = np.random.default_rng(0).integers(0, 255, (32, 40, 3), dtype=np.uint8)
    out = upsample(method, lr, 4, rgb)
    assert out.shape == (32, 40) and out.dtype == np.float32
    assert np.isnan(out[4:8, 4:8]).all()  # the unsupported centre of the hole
    assert np.allclose(out[16:, 16:], 3.0, atol=1e-4)


def test_nearest_repeats_pixels() -> None:
    lr = np.arange(6, dtype=np.float32).reshape(2, 3) + 1
    out = upsample("nearest", lr, 4, np.zeros((8, 12, 3), np.uint8))
    assert np.array_equal(out[::4, ::4], lr) and np.array_equal(out[3::4, 3::4], lr)


def test_guided_beats_bicubic_where_colour_and_depth_edges_agree() -> None:
    hr = np.full((64, 64), 2.0, np.float32)
    hr[:, 30:] = 6.0  # the depth edge falls inside an LR pixel
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[:, 30:] = 200
    lr = hr.reshape(16, 4, 16, 4).mean(axis=(1, 3))
    errors = {}
    for method in BASELINES:
        metrics = ClipMetrics()
        metrics.add(upsample(method, lr, 4, rgb), hr)
        errors[method] = metrics.score().rmse_cm
    assert errors["guided"] < errors["bicubic"]


def test_on_synthetic_clip_guided_and_bicubic_beat_nearest() -> None:
    clip = generate_clip(2, frames=2)
    errors = {}
    for method in BASELINES:
        metrics = ClipMetrics()
        for frame in clip:
            metrics.add(upsample(method, frame.depth_lr, 4, frame.rgb), frame.depth_gt)
        errors[method] = metrics.score().rmse_cm
    assert errors["guided"] < errors["nearest"] and errors["bicubic"] < errors["nearest"]


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="unknown baseline"):
        upsample("lanczos", np.ones((2, 2), np.float32), 4, np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="is not 4x"):
        upsample("bicubic", np.ones((2, 2), np.float32), 4, np.zeros((8, 9, 3), np.uint8))


def test_model_guided_base_computes_the_guided_baseline() -> None:
    """The embedded model's base (torch, differentiable) is the OpenCV baseline away from the borders."""
    clip = generate_clip(5, frames=1, height=64, width=96, scale=4)
    frame = clip.frames[0]
    lr = np.nan_to_num(frame.depth_lr, nan=1.0)
    radius_x, eps = GUIDED_CONSTANTS[4]
    reference = guided(lr, 4, frame.rgb, radius_x, eps)
    rgb = torch.from_numpy(frame.rgb).permute(2, 0, 1)[None].float() / 255.0
    ours = guided_filter(rgb, bicubic(torch.from_numpy(lr)[None, None], 4), round(radius_x * 4), eps / 255**2)
    inner = (slice(16, -16), slice(16, -16))  # two box filters of radius 6 reach 12 pixels in
    np.testing.assert_allclose(ours[0, 0].numpy()[inner], reference[inner], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("radius", [1, 4, 20])
@pytest.mark.parametrize("box", [opencv_box, running_box])
def test_box_is_the_mean_of_each_window_clipped_to_the_image(box: Callable, radius: int) -> None:
    x = torch.rand(2, 3, 9, 14, dtype=torch.float64)
    direct = torch.empty_like(x)
    for i in range(9):
        for j in range(14):
            window = x[..., max(0, i - radius) : i + radius + 1, max(0, j - radius) : j + radius + 1]
            direct[..., i, j] = window.mean((-2, -1))
    assert torch.allclose(box(x, radius), direct, rtol=0, atol=1e-12)


@pytest.mark.parametrize("box", [opencv_box, running_box])
def test_box_keeps_a_small_variance_over_a_wide_float32_image(box: Callable) -> None:
    """The guided filter subtracts the square of a mean from a mean of squares: running sums over a
    960-px row must not lose a variance of 1e-6 on values near 1."""
    g = (0.9 + 1e-3 * torch.randn(1, 1, 540, 960)).clamp(0, 1)
    exact = box(g.double() ** 2, 6) - box(g.double(), 6) ** 2  # float64 in: exact to ~1e-16
    ours = box(g * g, 6).double() - box(g, 6).double() ** 2
    # float32 outputs round each mean by ~3e-8; float32 running sums would be ~1e-5 off
    assert (ours - exact).abs().max() < 0.1 * exact.mean()


def test_box_gives_the_same_bits_whatever_the_thread_count() -> None:
    """Its planes are shared among OpenCV's threads: each plane's sums must not depend on it."""
    x = torch.rand(1, 13, 48, 64)
    before = cv2.getNumThreads()
    try:
        outputs = []
        for threads in (1, 2, 3):
            cv2.setNumThreads(threads)
            outputs.append(opencv_box(x, 4))
    finally:
        cv2.setNumThreads(before)
    assert all(torch.equal(out, outputs[0]) for out in outputs)
    assert torch.allclose(outputs[0], running_box(x, 4), rtol=0, atol=1e-6)


def test_box_takes_opencv_on_a_cpu_and_running_sums_where_a_gradient_or_a_trace_needs_them() -> None:
    x = torch.rand(1, 2, 30, 40)
    grad = x.clone().requires_grad_()
    assert torch.equal(box(x, 3), opencv_box(x, 3))
    out = box(grad, 3)
    assert out.grad_fn is not None  # differentiable: the running sums ran
    traced = torch.jit.trace(lambda t: box(t, 3), (x,), check_trace=False)
    y = torch.rand(1, 2, 30, 40)  # a trace of the OpenCV path would have frozen x's numbers in
    torch.testing.assert_close(traced(y), running_box(y, 3), rtol=0, atol=1e-6)
