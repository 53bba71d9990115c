"""rosbags message objects for images and camera_info, built with the package's own conversion code."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from stdnet_ros.bags.schema import CAMERA_INFO, IMAGE, TF_MESSAGE, TYPESTORE
from stdnet_ros.conversion import fill_image, resized_camera_info
from stdnet_ros.geometry.camera import CameraModel
from stdnet_ros.geometry.pose import Pose
from stdnet_ros.geometry.rig import pinhole, xyzquat

_T = TYPESTORE.types
Header = _T["std_msgs/msg/Header"]
Time = _T["builtin_interfaces/msg/Time"]


def seconds_to_ns(seconds: float) -> int:
    return round(seconds * 1e9)


def header(ns: int, frame_id: str) -> Any:
    return Header(stamp=Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000), frame_id=frame_id)


def image(array: np.ndarray, encoding: str, ns: int, frame_id: str) -> Any:
    """A sensor_msgs/Image of ``array`` (already in ``encoding``'s dtype and channels)."""
    msg = _T[IMAGE](header=header(ns, frame_id), height=0, width=0, encoding="", is_bigendian=0, step=0,
                    data=np.zeros(0, np.uint8))  # fmt: skip
    fill_image(msg, array, encoding)
    msg.data = np.frombuffer(msg.data, dtype=np.uint8)  # rosbags serialises uint8[] from an array
    return msg


def camera_info(intrinsics: tuple[float, float, float, float], width: int, height: int,
                ns: int, frame_id: str) -> Any:  # fmt: skip
    """An undistorted pinhole sensor_msgs/CameraInfo."""
    return camera_info_of(pinhole(width, height, *intrinsics), ns, frame_id)


def camera_info_of(camera: CameraModel, ns: int, frame_id: str) -> Any:
    """The sensor_msgs/CameraInfo of ``camera`` as its driver publishes it for the raw image: K and D
    (plumb_bob with zeros when it has none), R the identity, P = [K | 0]."""
    k = camera.k.astype(float)
    d = camera.d.astype(float) if camera.model else np.zeros(5)
    return _T[CAMERA_INFO](
        header=header(ns, frame_id), height=camera.height, width=camera.width,
        distortion_model=camera.model or "plumb_bob", d=d, k=k.ravel(), r=np.eye(3).ravel(),
        p=np.hstack([k, np.zeros((3, 1))]).ravel(), binning_x=0, binning_y=0,
        roi=_T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                   do_rectify=False),
    )  # fmt: skip


def static_transform(pose: Pose, parent: str, child: str, ns: int) -> Any:
    """A tf2_msgs/TFMessage holding ``child``'s pose in ``parent`` (tf2: lookup_transform(parent, child))."""
    x, y, z, qx, qy, qz, qw = xyzquat(pose)
    transform = _T["geometry_msgs/msg/Transform"](
        translation=_T["geometry_msgs/msg/Vector3"](x=x, y=y, z=z),
        rotation=_T["geometry_msgs/msg/Quaternion"](x=qx, y=qy, z=qz, w=qw),
    )
    stamped = _T["geometry_msgs/msg/TransformStamped"](header=header(ns, parent), child_frame_id=child,
                                                       transform=transform)  # fmt: skip
    return _T[TF_MESSAGE](transforms=[stamped])


def scaled_camera_info(info: Any, width: int, height: int, frame_id: str) -> Any:
    """``info`` for the same optics sampled at ``width`` x ``height`` (the low-resolution ToF grid)."""
    out = resized_camera_info(info, width, height)
    out.k, out.p = np.asarray(out.k, float), np.asarray(out.p, float)
    out.header = header(0, frame_id)
    return out


def restamped(msg: Any, ns: int) -> Any:
    """A shallow copy of ``msg`` with its header stamp set to ``ns``."""
    return replace(msg, header=header(ns, msg.header.frame_id))
