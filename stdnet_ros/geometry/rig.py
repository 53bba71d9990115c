"""A camera pair: the RGB camera, a separate ToF camera and the ToF's pose in the RGB's optical frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stdnet_ros.geometry.camera import CameraModel
from stdnet_ros.geometry.pose import Pose


@dataclass(frozen=True)
class Rig:
    """``rgb`` and ``tof`` cameras; ``pose`` maps ToF optical-frame points into the RGB's:
    p_rgb = R p_tof + t."""

    rgb: CameraModel
    tof: CameraModel
    pose: Pose


def cropped(camera: CameraModel, x: int, y: int, width: int, height: int) -> CameraModel:
    """The ``width`` x ``height`` part of ``camera``'s image whose top-left pixel is (x, y), as a camera
    of its own: the principal point moves by the offset (as a camera_info's ROI does), the lens stays."""
    k = camera.k.copy()
    k[0, 2] -= x
    k[1, 2] -= y
    return CameraModel(int(width), int(height), k, camera.d, camera.model)


def pinhole(width: int, height: int, fx: float, fy: float, cx: float, cy: float) -> CameraModel:
    """A camera without distortion from its four intrinsics."""
    return CameraModel(width, height, np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]))


def xyzquat(pose: Pose) -> list[float]:
    """``pose`` as ``[x, y, z, qx, qy, qz, qw]`` (qw >= 0), the inverse of :meth:`Pose.from_xyzquat`."""
    r = pose.rotation
    qw = 0.5 * np.sqrt(max(0.0, 1 + np.trace(r)))
    q = np.array([
        np.copysign(0.5 * np.sqrt(max(0.0, 1 + r[0, 0] - r[1, 1] - r[2, 2])), r[2, 1] - r[1, 2]),
        np.copysign(0.5 * np.sqrt(max(0.0, 1 - r[0, 0] + r[1, 1] - r[2, 2])), r[0, 2] - r[2, 0]),
        np.copysign(0.5 * np.sqrt(max(0.0, 1 - r[0, 0] - r[1, 1] + r[2, 2])), r[1, 0] - r[0, 1]),
        qw,
    ])  # fmt: skip
    q /= np.linalg.norm(q)
    return [float(v) for v in (*pose.translation, *q)]
