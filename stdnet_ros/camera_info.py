"""Adjust a sensor_msgs/CameraInfo for a resized image (duck-typed, no ROS needed).

When the node resizes the RGB to ``scale`` x the depth size, its output no
longer matches the RGB camera_info; publishing the original would give every
downstream projection a wrong focal length and principal point.
"""

from __future__ import annotations

import copy
from typing import Any


def resized_camera_info(info: Any, width: int, height: int) -> Any:
    """A copy of ``info`` for the same camera imaging at ``width`` x ``height`` pixels.

    Intrinsics scale with the pixel size (as image_proc's resize does): K and
    P rows 0 and 1 by x and y; the region of interest likewise. Distortion and
    rectification do not depend on pixel size.
    """
    if not info.width or not info.height:
        raise ValueError(f"camera_info has size {info.width}x{info.height}; cannot rescale it")
    sx, sy = width / info.width, height / info.height
    out = copy.deepcopy(info)
    out.width, out.height = int(width), int(height)
    k, p = list(info.k), list(info.p)
    k[0], k[1], k[2] = k[0] * sx, k[1] * sx, k[2] * sx
    k[3], k[4], k[5] = k[3] * sy, k[4] * sy, k[5] * sy
    p[0:4] = [v * sx for v in p[0:4]]
    p[4:8] = [v * sy for v in p[4:8]]
    out.k, out.p = k, p
    roi = out.roi
    roi.x_offset, roi.width = round(roi.x_offset * sx), round(roi.width * sx)
    roi.y_offset, roi.height = round(roi.y_offset * sy), round(roi.height * sy)
    return out
