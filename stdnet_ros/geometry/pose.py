"""A rigid transform between two optical frames, from ``[x, y, z, qx, qy, qz, qw]`` (as tf2 writes one)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UNIT_TOLERANCE = 1e-3  # a quaternion this close to unit length is normalised; any other is refused


@dataclass(frozen=True)
class Pose:
    """p_target = rotation @ p_source + translation (metres)."""

    rotation: np.ndarray  # (3, 3)
    translation: np.ndarray  # (3,)

    @classmethod
    def from_xyzquat(cls, values: list[float] | tuple[float, ...] | np.ndarray) -> Pose:
        """The pose from a translation and a unit quaternion (ValueError with the reason otherwise)."""
        reason = pose_problem(values)
        if reason:
            raise ValueError(reason)
        x, y, z, qx, qy, qz, qw = (float(v) for v in values)
        q = np.array([qx, qy, qz, qw]) / np.linalg.norm([qx, qy, qz, qw])
        qx, qy, qz, qw = q
        rotation = np.array([
            [1 - 2 * (qy * qy + qz * qz), 2 * (qx * qy - qz * qw), 2 * (qx * qz + qy * qw)],
            [2 * (qx * qy + qz * qw), 1 - 2 * (qx * qx + qz * qz), 2 * (qy * qz - qx * qw)],
            [2 * (qx * qz - qy * qw), 2 * (qy * qz + qx * qw), 1 - 2 * (qx * qx + qy * qy)],
        ])  # fmt: skip
        return cls(rotation, np.array([x, y, z]))

    def apply(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) points in the source frame -> the target frame."""
        return points @ self.rotation.T + self.translation


def pose_problem(values: list[float] | tuple[float, ...] | np.ndarray) -> str | None:
    """Why ``values`` is not a usable ``[x, y, z, qx, qy, qz, qw]`` (None when it is)."""
    if len(values) != 7:
        return f"a pose is [x, y, z, qx, qy, qz, qw] (7 numbers), got {len(values)}"
    if not np.all(np.isfinite(values)):
        return f"a pose must be finite, got {list(values)}"
    norm = float(np.linalg.norm(values[3:]))
    if abs(norm - 1) > UNIT_TOLERANCE:
        return (f"the quaternion [qx, qy, qz, qw] must have unit length (within {UNIT_TOLERANCE}), "
                f"its norm is {norm:.6f}")
    return None
