"""Camera models, poses and the registration of a separate ToF camera, against OpenCV and analytic truth."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo

from stdnet_ros.geometry.camera import CameraModel, CameraModelError
from stdnet_ros.geometry.pose import Pose
from stdnet_ros.geometry.registration import DepthJump, Registration, histogram_peak

LENSES = {  # distortion of the ToF in each camera model ROS names
    "plumb_bob": np.array([-0.12, 0.035, 0.001, -0.0005, 0.002]),
    "rational_polynomial": np.array([-0.1, 0.03, 0.001, -0.0005, 0.001, 0.02, -0.01, 0.004]),
    "equidistant": np.array([0.05, -0.01, 0.003, -0.001]),
}


def _k(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def _tof(model: str = "plumb_bob") -> CameraModel:
    return CameraModel(224, 172, _k(205.0, 203.0, 111.2, 86.1), LENSES[model], model)


RGB = CameraModel(640, 480, _k(520.0, 521.0, 318.7, 241.2), np.array([0.05, -0.02, 0.0, 0.0, 0.0]),
                  "plumb_bob")
MOUNT = Pose.from_xyzquat([0.045, 0.004, -0.002, 0.003, np.sin(np.radians(0.75)), 0.002,
                           np.cos(np.radians(0.75))])  # 4.5 cm to the side, turned 1.5 degrees


def _points(n: int = 500) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.column_stack([rng.uniform(-1.5, 1.5, n), rng.uniform(-1, 1, n), rng.uniform(0.5, 6, n)])


@pytest.mark.parametrize("model", ["plumb_bob", "rational_polynomial"])
def test_projection_agrees_with_opencv_project_points(model: str) -> None:
    cam, pts = _tof(model), _points()
    want = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), cam.k, cam.d)[0][:, 0]
    np.testing.assert_allclose(cam.project(pts), want, atol=1e-6)


def test_projection_agrees_with_opencv_fisheye() -> None:
    cam, pts = _tof("equidistant"), _points()
    want = cv2.fisheye.projectPoints(pts[:, None], np.zeros(3), np.zeros(3), cam.k, cam.d)[0][:, 0]
    np.testing.assert_allclose(cam.project(pts), want, atol=1e-6)


@pytest.mark.parametrize("model", [*LENSES, ""])
def test_rays_through_pixel_centres_project_back_onto_them(model: str) -> None:
    cam = _tof(model) if model else CameraModel(224, 172, _tof().k)
    rays = cam.rays()
    v, u = np.mgrid[0:172, 0:224]
    np.testing.assert_allclose(cam.project(rays * 2.5), np.stack([u, v], -1), atol=1e-6)
    assert np.isnan(cam.project(np.array([[0.1, 0.2, -1.0]]))).all()  # behind the camera


def _info(width: int = 640, height: int = 480, model: str = "plumb_bob",
          d: list[float] | None = None) -> CameraInfo:
    info = CameraInfo(width=width, height=height, distortion_model=model,
                      d=[0.1, -0.05, 0.0, 0.0, 0.0] if d is None else d)  # fmt: skip
    info.k = [500.0, 0.0, 320.0, 0.0, 502.0, 240.0, 0.0, 0.0, 1.0]
    info.p = [480.0, 0.0, 322.0, 0.0, 0.0, 481.0, 238.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def test_camera_info_raw_rectified_binning_roi_and_refusals() -> None:
    raw = CameraModel.from_camera_info(_info())
    assert raw.size == (640, 480) and raw.model == "plumb_bob" and raw.k[0, 0] == 500.0
    rect = CameraModel.from_camera_info(_info(), rectified=True)
    assert rect.model == "" and rect.k[0, 0] == 480.0 and rect.k[1, 2] == 238.0  # P, no distortion
    assert CameraModel.from_camera_info(_info(d=[0.0] * 5)).model == ""  # all-zero D: none
    assert CameraModel.from_camera_info(_info(d=[])).model == ""
    info = _info()
    info.binning_x, info.binning_y = 2, 2
    info.roi.x_offset, info.roi.y_offset, info.roi.width, info.roi.height = 100, 40, 400, 300
    cam = CameraModel.from_camera_info(info)  # image_geometry: shift by the ROI, then divide by the binning
    assert cam.size == (200, 150)
    np.testing.assert_allclose(cam.k, _k(250.0, 251.0, 110.0, 100.0))
    with pytest.raises(CameraModelError, match="not supported"):
        CameraModel.from_camera_info(_info(model="kannala_brandt_v7"))
    with pytest.raises(CameraModelError, match="not calibrated"):
        CameraModel.from_camera_info(_info(width=0))


def test_the_grid_keeps_pixel_centres_and_pads_odd_sizes() -> None:
    grid = RGB.grid(4)
    assert grid.size == (160, 120)
    # HR pixel centre u maps to (u + 0.5) / 4 - 0.5: the centre of LR pixel 0 is HR 1.5
    point = RGB.rays()[1, 1] * 3.0
    hr = RGB.project(point)
    np.testing.assert_allclose(grid.project(point), (hr + 0.5) / 4 - 0.5, atol=1e-9)
    assert CameraModel(642, 481, RGB.k).grid(4).size == (161, 121)  # padded, not resized


def test_quaternions_are_normalised_near_unit_and_refused_otherwise() -> None:
    pose = Pose.from_xyzquat([1, 2, 3, 0, 0, np.sin(0.5) * 1.0004, np.cos(0.5) * 1.0004])
    np.testing.assert_allclose(pose.rotation @ pose.rotation.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(pose.apply(np.array([1.0, 0, 0])), [1 + np.cos(1), 2 + np.sin(1), 3])
    with pytest.raises(ValueError, match="unit length"):
        Pose.from_xyzquat([0, 0, 0, 0, 0, 0, 1.01])


# ---- registration against analytic scenes: a wall with a box in front, cast from both cameras ----
WALL_Z = 4.0
BOX = (np.array([-0.45, -0.35, 1.6]), np.array([0.15, 0.25, 2.0]))  # axis-aligned, in the RGB frame


def _cast(origin: np.ndarray, dirs: np.ndarray, box: bool = True) -> np.ndarray:
    """Ray parameter of the first hit (wall plane z = WALL_Z tilted, and the box) along ``dirs``."""
    normal = np.array([0.15, -0.1, 1.0])  # a tilted wall: n . p = WALL_Z
    t = (WALL_Z - normal @ origin) / (dirs @ normal)
    if box:
        with np.errstate(divide="ignore", invalid="ignore"):
            lo, hi = (BOX[0] - origin) / dirs, (BOX[1] - origin) / dirs
        near = np.minimum(lo, hi).max(axis=-1)
        far = np.maximum(lo, hi).min(axis=-1)
        hit = (near <= far) & (near > 0)
        t = np.where(hit, np.minimum(t, near), t)
    return t


def _scene(tof: CameraModel, grid: CameraModel, box: bool = True
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ToF depth, true z in the grid, which grid cells the ToF sees)."""
    tof_dirs = tof.rays() @ MOUNT.rotation.T  # ToF z = 1 rays in the RGB frame: the hit parameter is ToF z
    depth = _cast(MOUNT.translation, tof_dirs, box)
    rays = grid.rays()
    truth = _cast(np.zeros(3), rays, box)  # grid rays have z = 1: the parameter is z
    points = rays * truth[..., None]
    towards = points - MOUNT.translation
    occluded = _cast(MOUNT.translation, towards, box) < 1 - 1e-6
    uv = tof.project((points - MOUNT.translation) @ MOUNT.rotation)
    inside = (uv >= 0).all(axis=-1) & (uv[..., 0] <= tof.width - 1) & (uv[..., 1] <= tof.height - 1)
    return depth, truth, inside & ~occluded


def _away_from_edges(truth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Cells whose 3x3 neighbourhood lies on one surface and inside ``mask``."""
    from scipy import ndimage

    jump = ndimage.maximum_filter(truth, 3) - ndimage.minimum_filter(truth, 3) > 0.05
    return ndimage.minimum_filter(mask.astype(np.uint8), 3).astype(bool) & ~jump


@pytest.mark.parametrize("model", list(LENSES))
@pytest.mark.parametrize("box", [False, True], ids=["plane", "box"])
def test_an_offset_turned_distorted_tof_registers_to_the_exact_depth(model: str, box: bool) -> None:
    tof, grid = _tof(model), RGB.grid(4)
    depth, truth, seen = _scene(tof, grid, box)
    out = Registration(tof, RGB, 4, MOUNT)(depth)
    interior = _away_from_edges(truth, seen)
    assert np.isfinite(out[interior]).all()
    assert np.abs(out[interior] - truth[interior]).max() < 1e-3  # < 1 mm before any quantisation
    unseen = _away_from_edges(truth, ~seen)
    assert np.isnan(out[unseen]).all()  # outside the ToF's view, and the parallax shadow of the box
    if box:
        assert unseen.sum() > 20  # the box casts a shadow the ToF cannot see into


def test_a_rectified_pair_registers_with_p_and_no_distortion() -> None:
    tof_info = _info(224, 172, d=[-0.2, 0.05, 0.0, 0.0, 0.0])
    tof_info.p = [200.0, 0.0, 110.0, 0.0, 0.0, 200.0, 86.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    tof = CameraModel.from_camera_info(tof_info, rectified=True)
    rgb = CameraModel.from_camera_info(_info(), rectified=True)
    depth, truth, seen = _scene(tof, rgb.grid(8))
    out = Registration(tof, rgb, 8, MOUNT)(depth)
    interior = _away_from_edges(truth, seen)
    assert np.abs(out[interior] - truth[interior]).max() < 1e-3


def test_a_grid_denser_than_the_tof_has_no_hole_pattern() -> None:
    """Four grid cells per ToF pixel: one point per ToF pixel would leave 3 of 4 cells empty."""
    tof = CameraModel(80, 60, _k(70.0, 70.0, 39.5, 29.5))
    depth, truth, seen = _scene(tof, RGB.grid(2), box=False)  # 320 x 240
    out = Registration(tof, RGB, 2, MOUNT)(depth)
    interior = _away_from_edges(truth, seen)
    assert interior.sum() > 10_000 and np.isfinite(out[interior]).all()
    assert np.abs(out[interior] - truth[interior]).max() < 1e-3


def test_the_nearer_surface_wins_and_range_becomes_z() -> None:
    tof = CameraModel(40, 30, _k(40.0, 40.0, 19.5, 14.5))
    same = Pose.from_xyzquat([0, 0, 0, 0, 0, 0, 1])
    depth = np.full((30, 40), 3.0, np.float32)
    depth[10:20, 10:20] = 1.0
    out = Registration(tof, tof, 1, same)(depth)
    np.testing.assert_allclose(out, depth, atol=1e-5)  # identity rig: the depth itself
    # the same surfaces seen from 20 cm to the side: the near square covers part of the far wall
    shifted = Registration(tof, tof, 1, Pose.from_xyzquat([0.2, 0, 0, 0, 0, 0, 1]))(depth)
    assert np.nanmin(shifted) == pytest.approx(1.0) and (shifted[12:18, 19:27] == np.float32(1.0)).all()
    # a range sensor: radial distance along each ray, converted to z
    rays = tof.rays()
    radial = (depth * np.linalg.norm(rays, axis=-1)).astype(np.float32)
    np.testing.assert_allclose(Registration(tof, tof, 1, same, depth_is_range=True)(radial), depth, atol=1e-5)


def test_invalid_pixels_and_edges_leave_holes_not_smears() -> None:
    tof = CameraModel(40, 30, _k(40.0, 40.0, 19.5, 14.5))
    same = Pose.from_xyzquat([0, 0, 0, 0, 0, 0, 1])
    depth = np.full((30, 40), 2.0, np.float32)
    depth[:, 20:] = 6.0  # a depth edge between columns 19 and 20
    depth[5, 5] = np.nan
    grid = CameraModel(80, 60, tof.resampled(2, 80, 60).k)  # twice as dense: cells between the columns
    out = Registration(tof, grid, 1, same)(depth)
    row = out[30]
    assert np.isnan(row[39:41]).all()  # the cells between the last near and first far pixel: no smear
    assert (row[1:38] == np.float32(2.0)).all() and (row[42:79] == np.float32(6.0)).all()
    assert np.isnan(row[[0, 79]]).all()  # beyond the outermost ToF pixel centres: outside its view
    assert np.isnan(out[9:12, 9:12]).any()  # around the invalid pixel: not interpolated across it
    with pytest.raises(ValueError, match="camera_info says 40x30"):
        Registration(tof, grid, 1, same)(depth[:, :30])


def test_a_tof_pixel_centre_on_a_grid_centre_is_drawn_whatever_the_rounding() -> None:
    """A ToF pixel centre that projects onto a grid centre up to rounding (here 3.6e-15 px to its
    right, one float64 step of the principal point) is drawn: a strict bounding box lost the whole
    border column."""
    tof = CameraModel(48, 32, _k(37.5, 37.5, 23.5, 15.5))
    grid = CameraModel(48, 32, _k(37.5, 37.5, np.nextafter(23.5, 99.0), 15.5))
    same = Pose.from_xyzquat([0, 0, 0, 0, 0, 0, 1])
    out = Registration(tof, grid, 1, same)(np.full((32, 48), 3.46, np.float32))
    np.testing.assert_allclose(out, 3.46, rtol=1e-6)


def test_a_cell_seeing_two_surfaces_reports_the_one_returning_more_light() -> None:
    """Each cell is the histogram peak of its samples (one per RGB pixel), votes weighted by 1/z^2
    as a direct-ToF pixel's photons are: a near surface wins with fewer samples, a far one only with
    enough more; the value is the winner's harmonic mean, and no sample leaves the cell empty."""
    near, far = np.full(16, np.nan), np.full(16, np.nan)
    near[:6], near[6:] = 1.0, 3.0  # votes 6 against 10 / 9
    far[:2], far[2:] = 1.0, 1.5  # votes 2 against 14 / 2.25
    blocks = np.stack([near, far, np.full(16, np.nan), np.r_[2.0, 2.1, 1.9, [np.nan] * 13]])[None]
    out = histogram_peak(blocks.astype(np.float32), DepthJump())
    np.testing.assert_allclose(out[0, :2], [1.0, 1.5], rtol=1e-6)
    assert np.isnan(out[0, 2])
    assert out[0, 3] == pytest.approx(3 / (1 / 2.0 + 1 / 2.1 + 1 / 1.9), rel=1e-6)  # one surface: all


def test_a_box_edge_in_the_grid_takes_the_side_a_direct_tof_would() -> None:
    """Registered through the package (one sample per RGB pixel, each cell the histogram peak), the
    box's edge cells are the box where it returns more light than the wall behind: a cell is never
    the mixed depth between the two, and the box grows into edge cells rather than shrinking."""
    tof = _tof("plumb_bob")
    depth, _, seen = _scene(tof, RGB.grid(4))
    out = Registration(tof, RGB, 4, MOUNT)(depth)
    fine = Registration(tof, RGB, 4, MOUNT).samples(depth)
    box_share = (fine < 2.2).reshape(out.shape[0], 4, out.shape[1], 4).mean(axis=(1, 3))
    edge = seen & (box_share > 0) & (box_share < 1)
    assert edge.sum() > 20
    on_box = out[edge] < 2.2
    assert (on_box | (out[edge] > 3.0)).all()  # one side or the other, nothing in between
    assert on_box[box_share[edge] >= 0.5].all()  # a box half or more of the cell: the box
