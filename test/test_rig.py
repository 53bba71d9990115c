"""The rig mode of the generator: a separate ToF camera rendered from its own pose, registered."""

from __future__ import annotations

import numpy as np
import pytest

from stdnet_ros.data.rig import RigView, judge_rig, random_rig, tof_window
from stdnet_ros.data.sensors import DirectToF
from stdnet_ros.data.synthetic import (
    SCENES,
    TEXTURE_SIZE,
    SceneSpec,
    SyntheticScene,
    _Box,
    _Plane,
    generate_clips,
)
from stdnet_ros.geometry.pose import Pose
from stdnet_ros.geometry.rig import Rig, pinhole

EXACT = DirectToF(jitter_bins=0)  # the histogram peak alone: a pure function of the geometry
WALL, BOX_Z, HALF, BASELINE = 5.0, 2.0, 0.3, 0.05


def _box_scene() -> SyntheticScene:
    """A still camera before a wall 5 m away and a 0.6 m cube centred 2 m in front of it."""
    scene = SyntheticScene(0, 96, 128, SceneSpec(), focal=100.0)
    grey = np.full((TEXTURE_SIZE, TEXTURE_SIZE, 3), 0.5, np.float32)
    scene.planes = [_Plane(np.array([0.0, 0.0, 1.0]), WALL, grey, 10.0)]
    scene.objects = [_Box(np.array([0.0, 0.0, BOX_Z]), np.zeros(3), np.full(3, HALF), 0.0, 0.0,
                          texture=grey, density=10.0)]  # fmt: skip
    scene.cam_amp[:], scene.pan_amp[:] = 0.0, 0.0
    return scene


def _box_rig(tof_focal: float) -> Rig:
    rgb = pinhole(128, 96, 100.0, 100.0, 63.5, 47.5)
    tof = pinhole(64, 48, tof_focal, tof_focal, 31.5, 23.5)
    return Rig(rgb, tof, Pose(np.eye(3), np.array([BASELINE, 0.0, 0.0])))


def _occluded(x: np.ndarray, y: np.ndarray, grow: float) -> np.ndarray:
    """Whether the segment from the ToF (BASELINE, 0, 0) to the wall point (x, y, WALL) passes through
    the cube grown by ``grow`` metres: each coordinate is linear in the depth along it, so each
    slab is an interval of the segment's parameter, and the cube is their intersection."""
    lo = np.full(x.shape, (BOX_Z - HALF - grow) / WALL)
    hi = np.full(x.shape, (BOX_Z + HALF + grow) / WALL)
    for start, end in ((BASELINE, x), (0.0, y)):  # coordinate = start + s * (end - start)
        slope = end - start
        with np.errstate(divide="ignore", invalid="ignore"):
            a, b = (-HALF - grow - start) / slope, (HALF + grow - start) / slope
        inside_always = np.abs(start) <= HALF + grow
        lo = np.where(slope == 0, np.where(inside_always, lo, np.inf), np.maximum(lo, np.minimum(a, b)))
        hi = np.where(slope == 0, hi, np.minimum(hi, np.maximum(a, b)))
    return lo <= hi


def test_the_parallax_strip_beside_a_box_is_invisible_as_geometry_says() -> None:
    scene = _box_scene()
    view = RigView(scene, _box_rig(40.0), (4,), EXACT)  # a ToF with a wider view than the RGB's
    _, depth, _ = scene.render(0)
    visible = view.visible(0, depth)
    rays = scene.rays_cam.reshape(3, *depth.shape)
    wall = np.abs(depth - WALL) < 1e-3
    x, y = rays[0] * WALL, rays[1] * WALL
    strict, loose = _occluded(x, y, -1e-3), _occluded(x, y, 1e-3)
    clear = wall & (strict == loose)  # pixels whose answer does not hinge on a millimetre
    assert np.array_equal(visible[clear], ~loose[clear])
    assert visible[~wall].all()  # the cube's front face: both cameras see it
    strip = wall & ~visible
    assert strip.sum() > 40  # the ToF is to the right: the strip lies left of the cube
    cols = np.nonzero(strip.any(axis=0))[0]
    box_cols = np.nonzero((~wall).any(axis=0))[0]
    assert cols.max() < box_cols.min()


def test_outside_a_narrower_tof_view_nothing_is_visible() -> None:
    scene = _box_scene()
    _, depth, _ = scene.render(0)
    visible = RigView(scene, _box_rig(80.0), (4,), EXACT).visible(0, depth)  # tan(half view) 0.4 < 0.64
    assert not visible[:, :8].any() and not visible[:, -8:].any()
    assert visible[20:28, 30:44].all() and visible[50:60, 60:70].all()  # the wall, the cube's face


def test_the_tof_and_the_rgb_render_agree_where_both_see_one_surface() -> None:
    """Box scene: every registered cell on one surface holds that surface's depth, quantised."""
    scene = _box_scene()
    view = RigView(scene, _box_rig(40.0), (4,), EXACT)
    _, depth, _ = scene.render(0)
    tof = view.tof_depth(0, np.random.default_rng(0))
    step = EXACT.step_m
    assert set(np.unique(np.round(tof[np.isfinite(tof)] / step))) <= {87.0, 256.0}  # 1.7 m and 5 m bins
    lr = view.registered(tof)[4]
    blocks = depth.reshape(24, 4, 32, 4)
    flat = (blocks.max(axis=(1, 3)) - blocks.min(axis=(1, 3))) < 1e-6
    both = flat & np.isfinite(lr)
    assert both.sum() > 600
    expected = np.round(blocks[:, 0, :, 0] / step) * step
    assert np.abs(lr[both] - expected[both]).max() < 1e-5


def test_judge_rig_registers_to_the_rgb_truth_within_the_sensor_quantisation() -> None:
    """Distorted, rotated, offset: the registered depth agrees with the RGB view's true depth."""
    clip = generate_clips(3, 1, 480, 640, (4,), 20.0, SCENES["clutter"], EXACT, rig=judge_rig())[4]
    frame = clip.frames[0]
    assert frame.depth_tof.shape == (172, 224) and frame.depth_lr.shape == (120, 160)
    assert 0.95 < frame.visible.mean() < 1.0
    blocks = frame.depth_gt.reshape(120, 4, 160, 4)
    flat = (blocks.max(axis=(1, 3)) - blocks.min(axis=(1, 3))) < 0.01
    seen = frame.visible.reshape(120, 4, 160, 4).all(axis=(1, 3))
    cells = flat & seen & np.isfinite(frame.depth_lr)
    assert cells.mean() > 0.5
    centre = blocks[:, 1:3, :, 1:3].mean(axis=(1, 3))
    err = np.abs(frame.depth_lr - centre)[cells]
    assert np.quantile(err, 0.99) < 2 * EXACT.step_m  # rounding to a bin, plus the slope over a cell
    # registration leaves holes where the ToF does not see, and at depth edges (no triangle spans one)
    holes = ~np.isfinite(frame.depth_lr)
    edge = (blocks.max(axis=(1, 3)) - blocks.min(axis=(1, 3))) > 0.1
    assert 0 < holes.mean() < 0.1 and (~seen | edge)[holes].mean() > 0.85


def test_zero_baseline_rig_is_todays_registered_clip() -> None:
    """A ToF that is the RGB's own grid, at the RGB's pose, undistorted: today's geometry exactly."""
    height, width, seed = 128, 192, 1
    scene = SyntheticScene(seed, height, width, SCENES["clutter"])
    rgb = pinhole(width, height, *scene.intrinsics)
    rig = Rig(rgb, rgb.grid(4), Pose(np.eye(3), np.zeros(3)))
    a = generate_clips(seed, 2, height, width, (4,), 20.0, SCENES["clutter"], EXACT, rig=rig)[4]
    b = generate_clips(seed, 2, height, width, (4,), 20.0, SCENES["clutter"], EXACT)[4]
    for fa, fb in zip(a, b, strict=True):
        assert np.array_equal(fa.rgb, fb.rgb) and np.array_equal(fa.depth_gt, fb.depth_gt)
        assert fa.visible.all() and fa.stamp == fb.stamp
        assert np.array_equal(fa.depth_lr, fa.depth_tof)  # registration onto its own grid: the identity
        # the histogram's weights come from each camera's own view (today: the noisy RGB), so only a
        # block that straddles a bin boundary may pick the other bin; one inside a bin is identical
        bins = np.round(fa.depth_gt / EXACT.step_m).reshape(32, 4, 48, 4)
        one_bin = bins.min(axis=(1, 3)) == bins.max(axis=(1, 3))
        assert one_bin.mean() > 0.3
        assert np.array_equal(fa.depth_lr[one_bin], fb.depth_lr[one_bin])


def test_a_training_crop_renders_only_the_tof_part_it_needs_and_gets_the_same_depth() -> None:
    seed, size, window = 4, 256, (96, 64, 96, 96)
    spec = SCENES["indoor"]
    full = generate_clips(seed, 1, size, size, (4,), 20.0, spec, EXACT, rig="random")[4]
    crop = generate_clips(seed, 1, size, size, (4,), 20.0, spec, EXACT, window=window, rig="random")[4]
    assert crop.rig.tof.width * crop.rig.tof.height < 0.5 * full.rig.tof.width * full.rig.tof.height
    y, x, h, w = window
    expected = full.frames[0].depth_lr[y // 4 : (y + h) // 4, x // 4 : (x + w) // 4]
    got = crop.frames[0].depth_lr
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    assert np.allclose(got, expected, atol=1e-4, equal_nan=True)
    assert np.array_equal(crop.frames[0].visible, full.frames[0].visible[y : y + h, x : x + w])


def test_tof_window_holds_every_projection_of_the_crop() -> None:
    rig = judge_rig()
    x0, y0, w, h = tof_window(rig, (200, 300, 64, 64), 1.0, 6.0)
    assert 0 < w < 60 and 0 < h < 60
    rays = pinhole(640, 480, 525.0, 525.0, 319.5, 239.5).rays()[200:264, 300:364].reshape(-1, 3)
    for depth in (1.0, 2.5, 6.0):
        uv = rig.tof.project((rays * depth - rig.pose.translation) @ rig.pose.rotation)
        assert (uv[:, 0] >= x0).all() and (uv[:, 0] <= x0 + w - 1).all()
        assert (uv[:, 1] >= y0).all() and (uv[:, 1] <= y0 + h - 1).all()


@pytest.mark.parametrize("seed", range(20))
def test_random_rigs_stay_around_the_issue_case(seed: int) -> None:
    rgb = pinhole(960, 960, 800.0, 800.0, 479.5, 479.5)
    rig = random_rig(np.random.default_rng(seed), rgb)
    assert 0.02 <= np.linalg.norm(rig.pose.translation) <= 0.06
    angle = np.degrees(np.arccos(np.clip((np.trace(rig.pose.rotation) - 1) / 2, -1, 1)))
    assert angle <= 2.0 + 1e-9
    assert rig.tof.model == "plumb_bob" and -0.2 <= rig.tof.d[0] <= 0 and abs(rig.tof.d[1]) <= 0.05
    fov = (rig.tof.width / 2) / rig.tof.k[0, 0] / ((rgb.width / 2) / rgb.k[0, 0])
    assert 0.9 < fov < 1.22
    assert 0.25 < rig.tof.width / rgb.width < 0.55


def test_rig_clips_are_deterministic_and_carry_their_rig() -> None:
    a = generate_clips(7, 2, 128, 128, (4, 8), rig="random")
    b = generate_clips(7, 2, 128, 128, (4, 8), rig="random")
    for scale in (4, 8):
        assert a[scale].rig is not None and a[scale].rig.tof.size == a[scale].frames[0].depth_tof.shape[::-1]
        for fa, fb in zip(a[scale], b[scale], strict=True):
            assert np.array_equal(fa.depth_lr, fb.depth_lr, equal_nan=True)
            assert fa.depth_lr.shape == (128 // scale, 128 // scale)
