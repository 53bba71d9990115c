"""depth_sr/points over real DDS: the cloud is the published depth unprojected with the published camera_info.

The expected points are computed here from the two published messages with
OpenCV (``cv2.undistortPoints`` on K and D, or P's pinhole when the RGB is
rectified), not with the package's camera model, and the cloud is read from its
own ``fields`` and bytes.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import rclpy
from rclpy.parameter import Parameter
from ros_harness import (
    RGB_FRAME,
    Probe,
    camera_info_msg,
    depth_metres,
    image_msg,
    node_bench,
    rgb_msg,
    rgb_pixels,
    wait_for,
)
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField

from stdnet_ros.conversion import encode_depth, image_to_depth

pytestmark = pytest.mark.ros
BASE = {"window": 3, "input_timeout_s": 60.0, "log_throttle_s": 0.0, "diagnostics_period_s": 0.2}
D = [0.08, -0.05, 0.002, -0.001, 0.01]
NO_MODEL = "event points_without_camera_model"
_EXACT = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)


def _info(t: float) -> CameraInfo:
    """The harness camera with lens distortion, and a rectified P unlike K."""
    info = camera_info_msg(t)
    info.d = D
    info.p = [27.0, 0.0, 21.5, 0.0, 0.0, 26.0, 15.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def _depth(k: int, t: float, encoding: str) -> Image:
    """The harness depth with its two top rows invalid, so the output has invalid pixels."""
    depth = depth_metres(k)
    depth[:2] = np.nan
    return image_msg(encode_depth(depth, encoding), encoding, t, "depth_optical")


def _points(cloud: PointCloud2) -> np.ndarray:
    """The cloud as a (height, width) structured array, read from its own fields."""
    assert all(f.datatype == PointField.FLOAT32 and f.count == 1 for f in cloud.fields)
    dtype = np.dtype({"names": [f.name for f in cloud.fields], "formats": ["<f4"] * len(cloud.fields),
                      "offsets": [f.offset for f in cloud.fields], "itemsize": cloud.point_step})
    assert not cloud.is_bigendian and cloud.row_step == cloud.point_step * cloud.width
    return np.frombuffer(bytes(cloud.data), dtype).reshape(cloud.height, cloud.width)


def _unprojected(depth: Image, info: CameraInfo, rectified: bool, decimation: int) -> np.ndarray:
    """(h, w, 3) points of every ``decimation``-th pixel of the published depth, from the published info."""
    z = image_to_depth(depth)[::decimation, ::decimation].astype(np.float64)
    v, u = np.mgrid[0 : depth.height : decimation, 0 : depth.width : decimation].astype(np.float64)
    if rectified:
        p = np.reshape(info.p, (3, 4))
        xy = np.stack([(u - p[0, 2]) / p[0, 0], (v - p[1, 2]) / p[1, 1]], axis=-1)
    else:
        pixels = np.stack([u.ravel(), v.ravel()], axis=-1)[:, None, :]
        k = np.reshape(info.k, (3, 3))
        xy = cv2.undistortPoints(pixels, k, np.array(info.d), criteria=_EXACT).reshape(*u.shape, 2)
    return np.concatenate([xy * z[..., None], z[..., None]], axis=-1)


def _send(probe: Probe, k: int, t: float, encoding: str, info: CameraInfo | None) -> Image:
    out = probe.send(t, rgb_msg(k, t + 0.004), _depth(k, t, encoding), info=info)
    assert out is not None, "no depth output"
    return out


def _prime(probe: Probe, t: float, encoding: str) -> float:
    """Frames with camera_info until one comes back with it: the first info may arrive after its
    frame's pair formed. Returns the next unused stamp."""
    for k in range(10):
        _send(probe, k, t, encoding, _info(t))
        t += 0.1
        if wait_for(lambda: probe.infos, 1.0):
            return t
    raise AssertionError("the node never published a camera_info")


def _check(probe: Probe, out: Image, k: int, rectified: bool, decimation: int, fields: tuple[str, ...]
           ) -> None:
    """The cloud stamped like ``out`` against ``out`` and its camera_info, unprojected here."""
    cloud = wait_for(lambda: next((c for c in probe.clouds if c.header == out.header), None), 5.0)
    info = wait_for(lambda: next((i for i in probe.infos if i.header == out.header), None), 5.0)
    assert cloud is not None and info is not None, "no cloud / camera_info with the depth output's header"
    assert cloud.header.frame_id == RGB_FRAME and not cloud.is_dense
    assert tuple(f.name for f in cloud.fields) == fields
    points = _points(cloud)
    want = _unprojected(out, info, rectified, decimation)
    assert points.shape == want.shape[:2] == (-(-out.height // decimation), -(-out.width // decimation))
    got = np.stack([points["x"], points["y"], points["z"]], axis=-1)
    invalid = np.isnan(want[..., 2])
    assert 0 < invalid.sum() < invalid.size / 2, "the test needs both valid and invalid pixels"
    assert np.isnan(got[invalid]).all() and np.isfinite(got[~invalid]).all()
    np.testing.assert_allclose(got[~invalid], want[~invalid], rtol=0, atol=1e-3)  # 1 mm
    if "rgb" in fields:
        rgb = rgb_pixels(k)[::decimation, ::decimation].astype(np.uint32)
        packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        np.testing.assert_array_equal(points["rgb"].view(np.uint32), packed)


def test_a_live_switch_then_clouds_equal_the_published_depth_unprojected_with_k_and_d(
    ros_context: rclpy.Context, tiny_checkpoint: Path
) -> None:
    with node_bench(ros_context, "points", checkpoint=str(tiny_checkpoint), **BASE) as probe:
        t = _prime(probe, 10.0, "16UC1")
        assert not wait_for(lambda: probe.clouds, 0.5), "a cloud with publish_points false"
        assert probe.stdnet.set_parameters([Parameter("publish_points", value=True)])[0].successful
        for k in range(3):
            t += 0.1
            _check(probe, _send(probe, k, t, "16UC1", _info(t)), k, False, 1, ("x", "y", "z", "rgb"))


XYZ_RECTIFIED = {"publish_points": True, "points_fields": "xyz", "points_decimation": 3,
                 "rgb_rectified": True, "output_encoding": "32FC1"}


def test_xyz_every_third_pixel_of_a_rectified_camera(
    ros_context: rclpy.Context, tiny_checkpoint: Path
) -> None:
    with node_bench(ros_context, "points", checkpoint=str(tiny_checkpoint), **BASE, **XYZ_RECTIFIED) as probe:
        t = _prime(probe, 20.0, "32FC1")
        for k in range(3):
            t += 0.1
            _check(probe, _send(probe, k, t, "32FC1", _info(t)), k, True, 3, ("x", "y", "z"))


def test_without_a_calibrated_camera_info_no_cloud_a_count_and_the_depth_goes_on(
    ros_context: rclpy.Context, tiny_checkpoint: Path
) -> None:
    params = {**BASE, "publish_points": True}
    with node_bench(ros_context, "points", checkpoint=str(tiny_checkpoint), **params) as probe:
        for k in range(2):  # no camera_info at all
            _send(probe, k, 30.0 + 0.1 * k, "16UC1", None)
        status = probe.fresh_status()
        assert int(status[NO_MODEL]) == 2 and status["_level"] == "0"
        uncalibrated = CameraInfo(header=_info(0.0).header)  # all zero, as an uncalibrated driver sends
        for k in range(2, 4):
            _send(probe, k, 30.0 + 0.1 * k, "16UC1", uncalibrated)
        assert int(probe.fresh_status()[NO_MODEL]) == 4 and probe.clouds == []
        t = 31.0
        for k in range(4, 8):  # calibrated again: clouds resume
            t = 31.0 + 0.1 * k
            _send(probe, k, t, "16UC1", _info(t))
        assert wait_for(lambda: probe.clouds, 5.0), "no cloud after a calibrated camera_info"
        assert probe.stdnet.stats.drops() == {}
