"""A separate ToF camera over real DDS: tf2 and depth_to_rgb, drops while waiting, output geometry and
scale auto."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rclpy
from geometry_msgs.msg import TransformStamped
from ros_harness import (
    RGB_FRAME,
    Probe,
    image_msg,
    node_bench,
    rgb_msg,
    stamp_of,
    unique_namespace,
    wait_for,
)
from sensor_msgs.msg import CameraInfo

from stdnet_ros.conversion import encode_depth, image_to_depth
from stdnet_ros.geometry.camera import CameraModel
from stdnet_ros.geometry.pose import Pose
from stdnet_ros.geometry.registration import Registration

tf2_ros = pytest.importorskip("tf2_ros", reason="no tf2_ros (../shared/ros-wheels or a ROS install)")

RGB_W, RGB_H = 80, 60
TOF_W, TOF_H = 32, 24
TOF_FRAME = "tof_optical"
MOUNT = [0.045, 0.003, 0.0, 0.0, 0.0130896, 0.0, 0.9999143]  # 4.5 cm to the side, turned 1.5 degrees


def _info(width: int, height: int, k: list[float], d: list[float], frame: str, t: float) -> CameraInfo:
    info = CameraInfo(width=width, height=height, distortion_model="plumb_bob", d=d, k=k)
    info.p = [k[0], 0.0, k[2], 0.0, 0.0, k[4], k[5], 0.0, 0.0, 0.0, 1.0, 0.0]
    info.header.stamp.sec, info.header.stamp.nanosec = stamp_of(t)
    info.header.frame_id = frame
    return info


def rgb_info(t: float) -> CameraInfo:
    return _info(RGB_W, RGB_H, [64.0, 0.0, 39.5, 0.0, 64.0, 29.5, 0.0, 0.0, 1.0], [0.0] * 5, RGB_FRAME, t)


def tof_info(t: float) -> CameraInfo:  # a wider lens with barrel distortion: fx_rgb / fx_tof = 2.9
    return _info(TOF_W, TOF_H, [22.0, 0.0, 15.7, 0.0, 22.0, 11.4, 0.0, 0.0, 1.0],
                 [-0.15, 0.04, 0.0, 0.0, 0.0], TOF_FRAME, t)  # fmt: skip


def tof_depth(k: int) -> np.ndarray:
    depth = np.full((TOF_H, TOF_W), 2.0 + 0.01 * k, np.float32)
    depth[8:16, 10:20] = 1.0  # a nearer box
    depth[0, 0] = np.nan
    return depth


def tof_msg(k: int, t: float, encoding: str) -> object:
    return image_msg(encode_depth(tof_depth(k), encoding), encoding, t, TOF_FRAME)


def _static_tf(node: rclpy.node.Node, pose: list[float]) -> object:
    broadcaster = tf2_ros.StaticTransformBroadcaster(node)
    msg = TransformStamped()
    msg.header.frame_id, msg.child_frame_id = RGB_FRAME, TOF_FRAME
    tr, rot = msg.transform.translation, msg.transform.rotation
    tr.x, tr.y, tr.z, rot.x, rot.y, rot.z, rot.w = pose
    broadcaster.sendTransform(msg)
    return broadcaster


@contextlib.contextmanager
def _bench(ros_context, checkpoint: str, **params: object) -> Iterator[Probe]:
    """The node (registration as configured, camera_info_timeout_s at its default) and a node that can
    broadcast the ToF's mount on /tf_static (``probe.tf_node``)."""
    values = {"checkpoint": checkpoint, "window": 2, "input_timeout_s": 60.0, "publish_registered": True,
              "diagnostics_period_s": 0.2, "log_throttle_s": 0.0, "tf_timeout_s": 0.2,
              "camera_info_timeout_s": 2.0, **params}
    tf_node = rclpy.create_node("tf_pub", namespace=unique_namespace("tf"), context=ros_context)
    try:
        with node_bench(ros_context, "reg", extra_nodes=(tf_node,), **values) as probe:
            probe.tf_node = tf_node
            yield probe
    finally:
        tf_node.destroy_node()


def _frame(probe: Probe, k: int, t: float, encoding: str = "16UC1", infos: bool = True,
           expect: bool = True) -> object:
    return probe.send(t, rgb_msg(k, t, h=RGB_H, w=RGB_W), tof_msg(k, t, encoding),
                      info=rgb_info(t) if infos else None, depth_info=tof_info(t) if infos else None,
                      expect_output=expect, timeout=3.0)  # fmt: skip


def _first_answer(probe: Probe, t: float, encoding: str = "16UC1", tries: int = 20
                  ) -> tuple[object, float, int]:
    """Send frames until one is answered (DDS drops the first best-effort messages while matching):
    (the output, its stamp, its frame number)."""
    for k in range(tries):
        out = _frame(probe, k, t + 0.1 * k, encoding)
        if out is not None:
            return out, t + 0.1 * k, k
    raise AssertionError(f"no answer; node status {probe.status()}")


def _registered_as(probe: Probe, t: float, k: int, pose: list[float], encoding: str = "16UC1") -> np.ndarray:
    """The depth_sr/registered image of frame ``k`` stamped ``t``, checked against the package's
    registration of that frame with ``pose``."""
    want = stamp_of(t)
    msg = wait_for(lambda: next((m for m in probe.registered
                                 if (m.header.stamp.sec, m.header.stamp.nanosec) == want), None), 5.0)
    assert msg is not None and msg.encoding == "32FC1" and msg.header.frame_id == RGB_FRAME
    got = image_to_depth(msg)
    rgb = CameraModel.from_camera_info(rgb_info(t))
    depth = image_to_depth(tof_msg(k, t, encoding))  # as the node decodes it (mm -> m)
    expected = Registration(CameraModel.from_camera_info(tof_info(t)), rgb, 4, Pose.from_xyzquat(pose))(depth)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    return got


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_a_tf2_static_transform_registers_the_tof_into_the_rgb_camera(
    ros_context, tiny_checkpoint: Path, encoding: str
) -> None:
    with _bench(ros_context, str(tiny_checkpoint)) as probe:
        probe.broadcaster = _static_tf(probe.tf_node, MOUNT)
        out, t, k = _first_answer(probe, 100.0, encoding)
        assert (out.width, out.height, out.encoding) == (RGB_W, RGB_H, encoding)  # the RGB camera's size
        assert out.header.frame_id == RGB_FRAME
        assert (out.header.stamp.sec, out.header.stamp.nanosec) == stamp_of(t)  # the measurement's stamp
        registered = _registered_as(probe, t, k, MOUNT, encoding)
        assert registered.shape == (15, 20) and 0.5 < np.isfinite(registered).mean() < 1.0
        info = wait_for(lambda: probe.infos, 5.0)[-1]
        assert (info.width, info.height, list(info.k)) == (RGB_W, RGB_H, list(rgb_info(t).k))
        assert probe.fresh_status()["registration"] == "auto"


def test_depth_to_rgb_wins_over_tf2(ros_context, tiny_checkpoint: Path) -> None:
    other = [0.10, -0.02, 0.01, 0.0, 0.0, 0.0, 1.0]
    with _bench(ros_context, str(tiny_checkpoint), depth_to_rgb=other) as probe:
        probe.broadcaster = _static_tf(probe.tf_node, MOUNT)
        _, t, k = _first_answer(probe, 100.0)
        _registered_as(probe, t, k, other)


def test_no_transform_is_a_counted_warning_until_one_is_published(ros_context, tiny_checkpoint: Path) -> None:
    with _bench(ros_context, str(tiny_checkpoint)) as probe:
        for k in range(4):
            _frame(probe, k, 100.0 + 0.1 * k, expect=False)
        status = wait_for(
            lambda: (s := probe.fresh_status()).get("dropped no_transform", "0") != "0" and s, 5.0
        )
        assert status and status["_level"] == "1" and TOF_FRAME in status["_message"], probe.status()
        assert not probe.outputs  # nothing half-registered, never identity by default
        probe.broadcaster = _static_tf(probe.tf_node, MOUNT)
        _, t, k = _first_answer(probe, 101.0)
        _registered_as(probe, t, k, MOUNT)


def test_registration_on_waits_for_camera_infos_that_come_late(ros_context, tiny_checkpoint: Path) -> None:
    with _bench(ros_context, str(tiny_checkpoint), registration="on", depth_to_rgb=MOUNT) as probe:
        for k in range(4):
            _frame(probe, k, 100.0 + 0.1 * k, infos=False, expect=False)
        status = wait_for(
            lambda: (s := probe.fresh_status()).get("dropped waiting_for_camera_info", "0") != "0" and s, 5.0
        )
        assert status and status["_level"] == "1", probe.status()
        assert not probe.outputs
        _, t, k = _first_answer(probe, 101.0)
        _registered_as(probe, t, k, MOUNT)


def test_a_camera_info_that_does_not_fit_its_image_is_refused(ros_context, tiny_checkpoint: Path) -> None:
    with _bench(ros_context, str(tiny_checkpoint), depth_to_rgb=MOUNT) as probe:
        for k in range(4):
            t = 100.0 + 0.1 * k
            wrong = _info(40, 30, list(tof_info(t).k), [0.0] * 5, TOF_FRAME, t)
            probe.send(t, rgb_msg(k, t, h=RGB_H, w=RGB_W), tof_msg(k, t, "16UC1"), info=rgb_info(t),
                       depth_info=wrong, expect_output=False)
        status = wait_for(
            lambda: (s := probe.fresh_status()).get("dropped camera_info_mismatch", "0") != "0" and s, 5.0
        )
        assert status and status["_level"] == "2" and "40x30" in status["_message"], probe.status()


def test_scale_auto_picks_the_nearest_served_scale_from_the_focal_lengths(ros_context) -> None:
    """fx_rgb / fx_tof = 2.9: x4 of the embedded defaults' x4, x8, x16 (log-nearest)."""
    with _bench(ros_context, "", scale=0, depth_to_rgb=MOUNT) as probe:
        assert probe.fresh_status()["scale"] == "auto"
        out, _, _ = _first_answer(probe, 100.0)
        assert (out.width, out.height) == (RGB_W, RGB_H)
        assert probe.fresh_status()["scale"] == "4"
