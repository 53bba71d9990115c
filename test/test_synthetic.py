"""The synthetic generator: deterministic, fast, and degraded the way a ToF sensor degrades depth."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from stdnet_ros.data import Clip
from stdnet_ros.data.synthetic import DYDTOF_LIKE, ToFModel, generate_clip, generate_clips, tof_degrade


def test_same_seed_same_pixels_other_seed_other_scene() -> None:
    a, b, c = generate_clip(3, frames=3), generate_clip(3, frames=3), generate_clip(4, frames=3)
    for fa, fb in zip(a, b, strict=True):
        assert np.array_equal(fa.rgb, fb.rgb)
        assert np.array_equal(fa.depth_lr, fb.depth_lr, equal_nan=True)
        assert fa.stamp == fb.stamp
    assert not np.array_equal(a.frames[0].depth_gt, c.frames[0].depth_gt)


@pytest.mark.parametrize("scale", [4, 8, 16])
def test_shapes_types_and_stamps(scale: int) -> None:
    clip = generate_clip(1, frames=4, height=128, width=192, scale=scale)
    assert isinstance(clip, Clip) and clip.scale == scale and len(clip) == 4
    fx, fy, cx, cy = clip.intrinsics
    assert fx == fy > 0 and 0 < cx < 192 and 0 < cy < 128
    for frame in clip:
        assert frame.rgb.shape == (128, 192, 3) and frame.rgb.dtype == np.uint8
        assert frame.depth_lr.shape == (128 // scale, 192 // scale) and frame.depth_lr.dtype == np.float32
        assert frame.depth_gt.shape == (128, 192) and np.isfinite(frame.depth_gt).all()
        assert frame.depth_gt.min() > 0.1 and frame.depth_gt.max() < clip.max_depth
    periods = np.diff([f.stamp for f in clip])
    assert np.all(np.abs(periods - 1 / 30) < 0.005) and np.ptp(periods) > 0  # 30 Hz with jitter


def test_scene_moves_and_has_several_depths() -> None:
    clip = generate_clip(11, frames=7)
    first, last = clip.frames[0], clip.frames[-1]
    assert np.abs(first.depth_gt - last.depth_gt).mean() > 0.01
    assert np.abs(first.rgb.astype(int) - last.rgb.astype(int)).mean() > 1
    # occluders in front of the room: depth has many distinct levels and sharp jumps
    jumps = np.abs(np.diff(first.depth_gt, axis=1)) > 0.3
    assert jumps.sum() > 50


def test_lr_is_area_mean_plus_noise_with_missing_returns() -> None:
    rng = np.random.default_rng(0)
    depth = np.full((64, 64), 2.0, dtype=np.float32)
    depth[:, 32:] = 8.0
    albedo = np.full((64, 64), 0.5)
    clean = tof_degrade(depth, albedo, 4, rng, ToFModel(noise_base=0, noise_quad=0, flying_prob=0, dropout=0))
    assert np.allclose(clean[:, :8], 2.0) and np.allclose(clean[:, 8:], 8.0)
    noisy = tof_degrade(depth, albedo, 4, rng, ToFModel(flying_prob=0, dropout=0))
    assert np.nanstd(noisy[:, 8:] - 8.0) > 2 * np.nanstd(noisy[:, :8] - 2.0)  # noise grows with distance
    # a mixed edge pixel and flying pixels land between the surfaces
    depth[:, 30:] = 8.0
    always_fly = ToFModel(noise_base=0, noise_quad=0, flying_prob=1.0, dropout=0)
    flying = tof_degrade(depth, albedo, 4, rng, always_fly)
    assert np.all((flying[:, 7] > 2.0) & (flying[:, 7] < 8.0))
    dark = tof_degrade(depth, np.full((64, 64), 0.01), 4, rng, ToFModel(dropout=0))
    assert np.isnan(dark[:, 8:]).all() and np.isfinite(dark[:, :7]).all()  # 0.01/64 below min_signal
    far = tof_degrade(depth * 10, albedo, 4, rng, ToFModel(dropout=0))
    assert np.isnan(far[:, 8:]).all()


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="divisible"):
        generate_clip(0, frames=1, height=100, width=128, scale=8)
    with pytest.raises(ValueError, match="divisible"):
        tof_degrade(np.ones((10, 10), np.float32), np.ones((10, 10)), 4, np.random.default_rng(0))


def test_fast_enough_for_on_the_fly_training() -> None:
    generate_clip(0, frames=1)
    began = time.perf_counter()
    generate_clip(21, frames=7)
    per_frame = (time.perf_counter() - began) / 7
    assert per_frame < 0.05, f"{per_frame * 1000:.1f} ms per 256x256 frame"


def test_footprint_shrinks_to_a_point_sample() -> None:
    depth = np.arange(64 * 64, dtype=np.float32).reshape(64, 64) / 100 + 1
    albedo = np.full((64, 64), 0.5)
    clean = {"noise_base": 0, "noise_quad": 0, "flying_prob": 0, "dropout": 0, "min_signal": 0,
             "max_range": 1e9}  # fmt: skip
    point = tof_degrade(depth, albedo, 8, np.random.default_rng(0), ToFModel(footprint=0.1, **clean))
    assert np.array_equal(point, depth[3::8, 3::8])  # one central pixel of each 8x8 block
    with pytest.raises(ValueError, match="footprint"):
        tof_degrade(depth, albedo, 8, np.random.default_rng(0), ToFModel(footprint=0))


def test_several_scales_share_one_scene() -> None:
    clips = generate_clips(5, frames=2, height=64, width=64, scales=(4, 8, 16))
    assert sorted(clips) == [4, 8, 16]
    for scale, clip in clips.items():
        assert clip.scale == scale and clip.frames[1].depth_lr.shape == (64 // scale, 64 // scale)
        assert clip.frames[1].rgb is clips[4].frames[1].rgb
        assert clip.frames[1].stamp == clips[4].frames[1].stamp
        single = generate_clip(5, frames=2, height=64, width=64, scale=scale)
        assert np.array_equal(single.frames[1].depth_lr, clip.frames[1].depth_lr, equal_nan=True)


def test_dydtof_like_sensor_matches_the_real_lr_statistics() -> None:
    """Degrade real DyDToF ground truth with the preset: its errors look like DyDToF's own LR's."""
    root = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "DyDToF"
    hr = np.load(root / "DyDToF_HR_RGB/school/school_shot8/depth/school_shot8.0010.npy")
    real = np.load(root / "DyDToF_LR/X8/school/school_shot8/depth/school_shot8.0010.npy")
    sim = tof_degrade(hr, np.ones_like(hr), 8, np.random.default_rng(0), DYDTOF_LIKE)
    centre = hr[3::8, 3::8]
    real_err, sim_err = np.median(np.abs(real - centre)), np.median(np.abs(sim - centre))
    assert abs(sim_err - real_err) < 0.2 * real_err
    # at depth edges both take one side: almost nothing lands in the middle third between the surfaces
    blocks = hr.reshape(66, 8, 120, 8)
    lo, hi = blocks.min(axis=(1, 3)), blocks.max(axis=(1, 3))
    edge = hi - lo > 0.5
    for lr in (real, sim):
        t = (lr[edge] - lo[edge]) / (hi[edge] - lo[edge])
        assert np.mean((t > 1 / 3) & (t < 2 / 3)) < 0.1
