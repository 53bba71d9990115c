"""rosbags message objects for images and camera_info, built with the package's own conversion code."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from stdnet_ros.bags.schema import CAMERA_INFO, IMAGE, TYPESTORE
from stdnet_ros.conversion import fill_image, resized_camera_info

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
    fx, fy, cx, cy = intrinsics
    return _T[CAMERA_INFO](
        header=header(ns, frame_id), height=height, width=width, distortion_model="plumb_bob",
        d=np.zeros(5), k=np.array([fx, 0, cx, 0, fy, cy, 0, 0, 1], float), r=np.eye(3).ravel(),
        p=np.array([fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0], float), binning_x=0, binning_y=0,
        roi=_T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                   do_rectify=False),
    )


def scaled_camera_info(info: Any, width: int, height: int, frame_id: str) -> Any:
    """``info`` for the same optics sampled at ``width`` x ``height`` (the low-resolution ToF grid)."""
    out = resized_camera_info(info, width, height)
    out.k, out.p = np.asarray(out.k, float), np.asarray(out.p, float)
    out.header = header(0, frame_id)
    return out


def restamped(msg: Any, ns: int) -> Any:
    """A shallow copy of ``msg`` with its header stamp set to ``ns``."""
    return replace(msg, header=header(ns, msg.header.frame_id))
