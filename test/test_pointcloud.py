"""The point cloud of a depth image against independent unprojections: analytic pinhole, OpenCV's projection.

The distorted cases project the cloud's points back with ``cv2.projectPoints`` /
``cv2.fisheye.projectPoints`` (not this package's undistortion nor its
projection): each point must land on the centre of the pixel it came from, at
that pixel's depth.
"""

from __future__ import annotations

import struct
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from stdnet_ros.geometry.camera import CameraModel, CameraModelError
from stdnet_ros.geometry.pointcloud import CloudMaker, cloud_dtype, pack_rgb, point_fields

W, H = 23, 17  # odd sizes: decimation must keep the last row and column when they fall on its grid
K = np.array([[31.0, 0.0, 11.3], [0.0, 29.0, 8.6], [0.0, 0.0, 1.0]])


def camera_info(d: list[float], model: str = "plumb_bob") -> SimpleNamespace:
    """A camera_info-like record (the fields CameraModel.from_camera_info reads)."""
    roi = SimpleNamespace(x_offset=0, y_offset=0, width=0, height=0)
    return SimpleNamespace(width=W, height=H, k=K.ravel().tolist(), d=d, distortion_model=model,
                           p=[0.0] * 12, binning_x=0, binning_y=0, roi=roi)


def scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Depth 0.5-4 m with every kind of invalid pixel, and random colours."""
    rng = np.random.default_rng(seed)
    depth = rng.uniform(0.5, 4.0, (H, W)).astype(np.float32)
    depth[2, 3], depth[5, 7], depth[16, 22], depth[0, 4] = np.nan, 0.0, -1.0, np.inf
    return depth, rng.integers(0, 256, (H, W, 3), dtype=np.uint8)


def xyz(cloud: np.ndarray) -> np.ndarray:
    return np.stack([cloud["x"], cloud["y"], cloud["z"]], axis=-1).astype(np.float64)


@pytest.mark.parametrize("decimation", [1, 2, 3, 5])
def test_pinhole_cloud_is_the_analytic_unprojection_of_every_nth_pixel(decimation: int) -> None:
    depth, rgb = scene()
    cloud = CloudMaker().cloud(depth, CameraModel.from_camera_info(camera_info([])), rgb, decimation)
    rows, cols = range(0, H, decimation), range(0, W, decimation)
    assert cloud.shape == (len(rows), len(cols))
    for i, v in enumerate(rows):
        for j, u in enumerate(cols):
            z = float(depth[v, u])
            if not (np.isfinite(z) and z > 0):
                assert np.isnan(xyz(cloud)[i, j]).all(), (v, u)
                continue
            want = ((u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z)
            np.testing.assert_allclose(xyz(cloud)[i, j], want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    ("d", "model"),
    [([0.12, -0.25, 0.002, -0.003, 0.08], "plumb_bob"),
     ([0.1, -0.2, 0.001, 0.002, 0.05, 0.02, -0.01, 0.03], "rational_polynomial"),
     ([0.05, -0.01, 0.004, -0.002], "equidistant")],
)
def test_distorted_points_project_back_onto_their_pixel_centres(d: list[float], model: str) -> None:
    depth, rgb = scene(1)
    decimation = 2
    cloud = CloudMaker().cloud(depth, CameraModel.from_camera_info(camera_info(d, model)), rgb, decimation)
    v, u = np.mgrid[0:H:decimation, 0:W:decimation]
    valid = np.isfinite(depth[v, u]) & (depth[v, u] > 0)
    points = xyz(cloud)[valid]
    assert np.isnan(xyz(cloud)[~valid]).all() and (~valid).sum() == 2  # (16, 22) and (0, 4) are on the grid
    np.testing.assert_allclose(points[:, 2], depth[v, u][valid], rtol=1e-6)
    zero = np.zeros(3)
    if model == "equidistant":
        uv, _ = cv2.fisheye.projectPoints(points[:, None, :], zero, zero, K, np.array(d))
    else:
        uv, _ = cv2.projectPoints(points, zero, zero, K, np.array(d))
    np.testing.assert_allclose(uv.reshape(-1, 2), np.stack([u[valid], v[valid]], axis=-1), atol=1e-3)


def test_rgb_is_packed_0x00rrggbb_into_float32_bits_little_endian() -> None:
    depth, rgb = scene(2)
    cloud = CloudMaker().cloud(depth, CameraModel.from_camera_info(camera_info([])), rgb, 3)
    sub = rgb[::3, ::3]
    for (i, j), (r, g, b) in zip(np.ndindex(sub.shape[:2]), sub.reshape(-1, 3), strict=True):
        want = struct.unpack("<f", struct.pack("<I", (int(r) << 16) | (int(g) << 8) | int(b)))[0]
        got = cloud[i, j]["rgb"]
        assert got.tobytes() == np.float32(want).tobytes() == bytes([b, g, r, 0]), (i, j)
    assert pack_rgb(np.array([0x12, 0x34, 0x56], np.uint8)).view(np.uint32) == 0x00123456


def test_layouts_and_their_point_fields() -> None:
    assert point_fields(cloud_dtype("xyzrgb")) == [("x", 0, 7), ("y", 4, 7), ("z", 8, 7), ("rgb", 12, 7)]
    assert cloud_dtype("xyzrgb").itemsize == 16
    assert point_fields(cloud_dtype("xyz")) == [("x", 0, 7), ("y", 4, 7), ("z", 8, 7)]
    depth, _ = scene()
    cloud = CloudMaker().cloud(depth, CameraModel.from_camera_info(camera_info([])), fields="xyz")
    assert cloud.dtype.names == ("x", "y", "z") and cloud.shape == (H, W)
    with pytest.raises(ValueError, match="fields"):
        cloud_dtype("xyzi")


def test_rays_are_computed_once_per_camera_and_decimation() -> None:
    maker = CloudMaker()

    def camera(k1: float) -> CameraModel:  # a new, equal object for equal arguments
        return CameraModel.from_camera_info(camera_info([k1, 0, 0, 0, 0]))

    first = maker.rays(camera(0.1), 2)
    assert maker.rays(camera(0.1), 2) is first
    assert maker.rays(camera(0.2), 2) is not first
    assert maker.rays(camera(0.2), 1)[0].shape == (H, W)


def test_a_camera_for_another_image_size_or_missing_colour_is_refused() -> None:
    depth, rgb = scene()
    camera = CameraModel.from_camera_info(camera_info([]))
    with pytest.raises(CameraModelError, match="describes a 23x17 image, the depth is 22x17"):
        CloudMaker().cloud(depth[:, :-1], camera, rgb[:, :-1])
    with pytest.raises(ValueError, match="need an RGB image"):
        CloudMaker().cloud(depth, camera)
