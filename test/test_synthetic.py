"""The synthetic generator and its two sensor presets: deterministic, fast, degraded as ToF sensors do."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest
from shared_data import DYDTOF, requires_shared

from stdnet_ros.data import Clip
from stdnet_ros.data.sensors import DirectToF, IndirectToF, sensor
from stdnet_ros.data.synthetic import (
    SCENES,
    SceneSpec,
    SyntheticScene,
    _blocks_ray,
    _Box,
    _Sphere,
    generate_clip,
    generate_clips,
)

GREY = np.full((64, 64, 3), 128, np.uint8)  # the iToF preset reads albedo, not the RGB


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
    exact = IndirectToF(noise_base=0, noise_quad=0, flying_prob=0, dropout=0)
    clean = exact.degrade(depth, GREY, albedo, 4, rng)
    assert np.allclose(clean[:, :8], 2.0) and np.allclose(clean[:, 8:], 8.0)
    noisy = IndirectToF(flying_prob=0, dropout=0).degrade(depth, GREY, albedo, 4, rng)
    assert np.nanstd(noisy[:, 8:] - 8.0) > 2 * np.nanstd(noisy[:, :8] - 2.0)  # noise grows with distance
    # a mixed edge pixel and flying pixels land between the surfaces
    depth[:, 30:] = 8.0
    always_fly = IndirectToF(noise_base=0, noise_quad=0, flying_prob=1.0, dropout=0)
    flying = always_fly.degrade(depth, GREY, albedo, 4, rng)
    assert np.all((flying[:, 7] > 2.0) & (flying[:, 7] < 8.0))
    dark = IndirectToF(dropout=0).degrade(depth, GREY, np.full((64, 64), 0.01), 4, rng)
    assert np.isnan(dark[:, 8:]).all() and np.isfinite(dark[:, :7]).all()  # 0.01/64 below min_signal
    far = IndirectToF(dropout=0).degrade(depth * 10, GREY, albedo, 4, rng)
    assert np.isnan(far[:, 8:]).all()


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="divisible"):
        generate_clip(0, frames=1, height=100, width=128, scale=8)
    with pytest.raises(ValueError, match="divisible"):
        IndirectToF().degrade(np.ones((10, 10), np.float32), GREY, np.ones((10, 10)), 4, None)


def test_fast_enough_for_on_the_fly_training() -> None:
    """Catches a pathological slowdown (a per-pixel Python loop), not a figure: a 256x256 frame
    took under 50 ms on the AVX-512 machine and 50.2 ms on an AVX2-only one, where the old 50 ms
    bound failed; a training step of 12 frames takes 0.7-2 s."""
    generate_clip(0, frames=1)
    began = time.perf_counter()
    generate_clip(21, frames=7)
    per_frame = (time.perf_counter() - began) / 7
    assert per_frame < 0.15, f"{per_frame * 1000:.1f} ms per 256x256 frame"


def test_footprint_shrinks_to_a_point_sample() -> None:
    depth = np.arange(64 * 64, dtype=np.float32).reshape(64, 64) / 100 + 1
    albedo = np.full((64, 64), 0.5)
    clean = {"noise_base": 0, "noise_quad": 0, "flying_prob": 0, "dropout": 0, "min_signal": 0,
             "max_range": 1e9}  # fmt: skip
    point = IndirectToF(footprint=0.1, **clean).degrade(depth, GREY, albedo, 8, np.random.default_rng(0))
    assert np.array_equal(point, depth[3::8, 3::8])  # one central pixel of each 8x8 block
    with pytest.raises(ValueError, match="footprint"):
        IndirectToF(footprint=0).degrade(depth, GREY, albedo, 8, np.random.default_rng(0))


def test_several_scales_share_one_scene() -> None:
    clips = generate_clips(5, frames=2, height=64, width=64, scales=(4, 8, 16))
    assert sorted(clips) == [4, 8, 16]
    for scale, clip in clips.items():
        assert clip.scale == scale and clip.frames[1].depth_lr.shape == (64 // scale, 64 // scale)
        assert clip.frames[1].rgb is clips[4].frames[1].rgb
        assert clip.frames[1].stamp == clips[4].frames[1].stamp
        single = generate_clip(5, frames=2, height=64, width=64, scale=scale)
        assert np.array_equal(single.frames[1].depth_lr, clip.frames[1].depth_lr, equal_nan=True)


DTOF = DirectToF()


def test_dtof_values_lie_on_the_sensor_grid_and_jitter_stays_within_two_bins() -> None:
    """Quantisation: every value is k * 20/1023 m; jitter: uniform over -2..+2 bins around the peak."""
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 15.0, (64, 64)).astype(np.float32)
    flat = np.repeat(np.repeat(depth[::4, ::4], 4, 0), 4, 1)  # one depth per block: peak = that depth's bin
    lr = DTOF.degrade(flat, GREY, None, 4, rng)
    bins = lr / DTOF.step_m
    assert np.allclose(bins, np.rint(bins), atol=1e-3)
    shift = np.rint(bins) - np.rint(depth[::4, ::4] / 20.0 * 1023)
    assert shift.min() == -2 and shift.max() == 2 and set(np.unique(shift)) == {-2, -1, 0, 1, 2}
    assert abs(shift.mean()) < 0.1 and 1.7 < shift.var() < 2.3  # uniform on 5 values: variance 2


def test_dtof_peak_picks_one_side_of_an_edge_never_a_mix() -> None:
    """At an edge the returned signal decides: the nearer (or brighter) surface, never a depth between."""
    depth = np.full((8, 8), 8.0, dtype=np.float32)
    depth[:, :3] = 2.0  # 3 of 8 columns near: fewer pixels, but 1/d^2 makes them ~16x brighter each
    clean = DirectToF(jitter_bins=0)
    assert np.allclose(clean.degrade(depth, GREY[:8, :8], None, 8, np.random.default_rng(0)), 2.0, atol=0.02)
    rgb = np.full((8, 8, 3), 200, np.uint8)
    rgb[:, :3] = 2  # a very dark near surface returns less than the bright far wall behind it
    assert np.allclose(clean.degrade(depth, rgb, None, 8, np.random.default_rng(0)), 8.0, atol=0.02)
    black = np.zeros((8, 8, 3), np.uint8)  # nothing returns: no measurement, not a zero
    assert np.isnan(clean.degrade(depth, black, None, 8, np.random.default_rng(0))).all()


def test_dtof_rounds_to_the_nearest_of_1024_bins_over_20_m() -> None:
    """The published convention: bin round(d / 20 * 1023), value bin / 1023 * 20 (floor or 1024 shifts it)."""
    clean = DirectToF(jitter_bins=0)
    depth = np.full((4, 4), 20.0 / 1023 * 100.6, dtype=np.float32)  # rounds up to bin 101, floors to 100
    assert np.allclose(clean.degrade(depth, GREY[:4, :4], None, 4, np.random.default_rng(0)), 101 * 20 / 1023)


def test_depth_rescaling_happens_before_the_sensor() -> None:
    """A rescaled scene is still measured on the sensor's grid, with the same jitter in metres."""
    clips = generate_clips(3, frames=1, height=64, width=64, scales=(4,), depth_scale=1.7)
    lr = clips[4].frames[0].depth_lr
    bins = lr[np.isfinite(lr)] / DTOF.step_m
    assert np.allclose(bins, np.rint(bins), atol=1e-3)
    gt = clips[4].frames[0].depth_gt
    plain = generate_clips(3, frames=1, height=64, width=64, scales=(4,)).popitem()[1].frames[0].depth_gt
    np.testing.assert_allclose(gt, plain * 1.7, rtol=1e-5)


def test_presets_by_name() -> None:
    assert isinstance(sensor("dtof"), DirectToF) and isinstance(sensor("itof"), IndirectToF)
    with pytest.raises(ValueError, match="unknown sensor"):
        sensor("lidar")


@requires_shared
def test_real_dydtof_lr_is_on_the_same_grid() -> None:
    """Inputs only: the evaluation set's LR values are the simulator's quantisation levels (no GT used)."""
    real = np.load(next((DYDTOF / "DyDToF_LR").glob("X4/**/*.npy")))
    bins = real / DTOF.step_m
    assert np.allclose(bins, np.rint(bins), atol=1e-3)


def test_natural_surfaces_are_muted_and_detailed_and_the_vivid_room_is_unchanged() -> None:
    def look(spec) -> tuple[float, float]:
        window = (432, 432, 96, 96)  # the middle of a 960-px camera: surfaces near full resolution
        rgb = np.concatenate([generate_clips(s, 1, 960, 960, (4,), spec=spec, window=window)[4].frames[0].rgb
                              for s in range(8)]).astype(np.float32)  # fmt: skip
        saturation = (rgb.max(axis=2) - rgb.min(axis=2)) / np.maximum(rgb.max(axis=2), 1)
        return float(saturation.mean()), float(np.abs(np.diff(rgb.mean(axis=2), axis=1)).mean())

    vivid, muted = look(SCENES["room"]), look(replace(SCENES["room"], chroma=0.35))
    grainy = look(replace(SCENES["room"], chroma=0.35, grain=0.3, density_gain=3.0))
    assert muted[0] < 0.7 * vivid[0]
    assert grainy[1] > 1.5 * muted[1]
    # the default room (the demo's and the tests' scenes) draws exactly what it drew before
    assert SCENES["room"] == SceneSpec() and SceneSpec().chroma is None and SceneSpec().grain == 0


def test_furniture_stands_on_the_floor_and_moves_rigidly() -> None:
    scene = SyntheticScene(7, 240, 320, replace(SCENES["clutter"], furniture=1.0))
    floor = scene.planes[1].dist
    assert len(scene.objects) >= 6 * 5  # every object a table (5 parts) or a chair (8)
    for part in scene.objects:
        assert isinstance(part, _Box) and part.spin == 0.0 and part.velocity[1] == 0.0
        assert part.corners(0.0)[:, 1].max() <= floor + 1e-9  # nothing sinks into the floor
    legs = [p for p in scene.objects if abs(p.corners(0.0)[:, 1].max() - floor) < 1e-9]
    assert len(legs) >= 4 * 6 and all(max(p.half[0], p.half[2]) < 0.04 for p in legs)  # thin, on the floor
    # the parts of one piece keep their distances: same velocity and yaw, no spin
    gaps = [np.linalg.norm(a.at(t)[0] - b.at(t)[0]) for t in (0.0, 1.0) for a, b in [scene.objects[:2]]]
    assert gaps[0] == pytest.approx(gaps[1])


def test_shadows_darken_the_image_and_leave_the_depth_alone() -> None:
    lit, shaded = (generate_clips(11, 2, 240, 320, (4,), spec=replace(SCENES["clutter"], shadows=s))[4]
                   for s in (False, True))  # fmt: skip
    for a, b in zip(lit, shaded, strict=True):
        # the LR may differ: the sensor weighs each pixel by the RGB, as the published simulator does
        assert np.array_equal(a.depth_gt, b.depth_gt)
        darker = a.rgb.astype(int) - b.rgb.astype(int)
        assert darker.min() >= 0  # a shadow only takes light away
        assert (darker.mean(axis=2) > 10).mean() > 0.01  # and it falls somewhere visible


def test_a_shadow_ray_is_blocked_only_by_what_lies_towards_the_light() -> None:
    paint = {"texture": np.zeros((8, 8, 3), np.float32), "density": 1.0}
    ball = _Sphere(np.array([0.0, -2.0, 5.0]), np.zeros(3), 0.5, **paint)
    up = np.array([0.0, -1.0, 0.0])  # y points down
    points = np.array([[0.0, 0.0, 5.0], [2.0, 0.0, 5.0], [0.0, -4.0, 5.0]]).T  # under, beside, above it
    assert _blocks_ray(ball, 0.0, points, up).tolist() == [True, False, False]
