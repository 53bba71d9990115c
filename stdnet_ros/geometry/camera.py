"""A camera's geometry from its sensor_msgs/CameraInfo, ROS-free: rays through its pixels, projection.

The image is taken as the camera delivers it (``image_raw``: K and D of the
camera_info) or, for a rectified input (``image_rect``), as P's left 3x3 with no
distortion, as image_pipeline does. Binning and region of interest are applied
as image_geometry does: the principal point moves by the ROI's offset, then K's
first two rows are divided by the binning. Distortion models: ``plumb_bob``,
``rational_polynomial`` and ``equidistant`` (OpenCV's fisheye), or none (empty
or all-zero D); anything else is refused, never guessed.

Pixel coordinates are pixel centres: pixel (u, v) is the point (u, v). A camera
scaled by 1/s (the network's grid, :meth:`CameraModel.grid`) keeps the centres
in place: u' = (u + 0.5) / s - 0.5, the convention of the ToF sensor model,
whose low-resolution pixel covers the s x s block of high-resolution pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

DISTORTION_MODELS = ("plumb_bob", "rational_polynomial", "equidistant")
NO_DISTORTION = ""
_UNDISTORT = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)


def centre_scaled(c: float | np.ndarray, factor: float) -> float | np.ndarray:
    """A principal point (or any pixel coordinate) after resampling by ``factor``, pixel centres kept in
    place: the point at pixel centre u stays at u' = (u + 0.5) * factor - 0.5."""
    return (c + 0.5) * factor - 0.5


class CameraModelError(ValueError):
    """A camera_info this package cannot use; the message says what to change."""


@dataclass(frozen=True)
class CameraModel:
    """Pinhole intrinsics ``k`` (3x3) and lens distortion ``d`` of a ``width`` x ``height`` image."""

    width: int
    height: int
    k: np.ndarray
    d: np.ndarray = field(default_factory=lambda: np.zeros(0))
    model: str = NO_DISTORTION

    @classmethod
    def from_camera_info(cls, info: Any, rectified: bool = False) -> CameraModel:
        """The geometry of the image ``info`` describes (raises CameraModelError with the reason)."""
        if not info.width or not info.height:
            raise CameraModelError(f"camera_info has size {info.width}x{info.height}: not calibrated")
        if rectified:
            p = np.asarray(info.p, dtype=np.float64).reshape(3, 4)
            k, d, model = p[:, :3].copy(), np.zeros(0), NO_DISTORTION
        else:
            k = np.asarray(info.k, dtype=np.float64).reshape(3, 3).copy()
            d = np.asarray(info.d, dtype=np.float64)
            model = info.distortion_model if d.size and np.any(d) else NO_DISTORTION
            if model and model not in DISTORTION_MODELS:
                raise CameraModelError(
                    f"distortion_model {info.distortion_model!r} is not supported (use one of "
                    f"{DISTORTION_MODELS}, or publish the rectified image and set *_rectified:=true)"
                )
            if model == "equidistant" and d.size < 4:
                raise CameraModelError(f"equidistant distortion needs 4 coefficients, got {d.size}")
            d = d if model else np.zeros(0)
        if k[0, 0] <= 0 or k[1, 1] <= 0:
            raise CameraModelError(f"camera_info focal lengths must be positive, got {k[0, 0]}, {k[1, 1]}")
        width, height = int(info.width), int(info.height)
        bx, by = max(1, int(info.binning_x)), max(1, int(info.binning_y))
        roi = info.roi
        if roi.width and roi.height:  # image_geometry: a zero-size ROI means the full image
            k[0, 2] -= roi.x_offset
            k[1, 2] -= roi.y_offset
            width, height = int(roi.width), int(roi.height)
        k[0, :] /= bx
        k[1, :] /= by
        return cls(width // bx, height // by, k, d, model)

    def key(self) -> tuple:
        """A hashable identity (size, K, D, model): caches of per-camera work (rays) are keyed by it,
        as the arrays themselves are not hashable."""
        return self.width, self.height, self.k.tobytes(), self.d.tobytes(), self.model

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.width, self.height

    def grid(self, scale: int) -> CameraModel:
        """The same camera imaging at 1/``scale`` the resolution: the network's grid of the RGB camera.

        Sizes that are not multiples of ``scale`` round up: the image is padded, not resized.
        """
        return self.resampled(1 / scale, math.ceil(self.width / scale), math.ceil(self.height / scale))

    def resampled(self, factor: float, width: int, height: int) -> CameraModel:
        """The same lens with pixels ``1 / factor`` times as large, pixel centres kept in place:
        u' = (u + 0.5) * factor - 0.5. The distortion acts on normalised coordinates and stays."""
        k = self.k.copy()
        k[:2, :2] *= factor
        k[:2, 2] = centre_scaled(k[:2, 2], factor)
        return CameraModel(int(width), int(height), k, self.d, self.model)

    def rays(self) -> np.ndarray:
        """(height, width, 3) float64 directions (x, y, 1) through every pixel centre, undistorted."""
        v, u = np.mgrid[0 : self.height, 0 : self.width].astype(np.float64)
        pixels = np.stack([u.ravel(), v.ravel()], axis=-1)[:, None, :]
        if self.model == "equidistant":
            xy = cv2.fisheye.undistortPoints(pixels, self.k, self.d[:4], criteria=_UNDISTORT)
        elif self.model:
            xy = cv2.undistortPoints(pixels, self.k, self.d, criteria=_UNDISTORT)
        else:
            xy = np.linalg.solve(self.k, np.vstack([pixels[:, 0].T, np.ones(len(pixels))]))[:2].T
        xy = xy.reshape(self.height, self.width, 2)
        return np.concatenate([xy, np.ones((self.height, self.width, 1))], axis=-1)

    def project(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) points in the camera's optical frame -> (..., 2) pixel coordinates; NaN behind it."""
        z = points[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            x, y = points[..., 0] / z, points[..., 1] / z
        x, y = self._distort(x, y)
        k = self.k
        u = k[0, 0] * x + k[0, 1] * y + k[0, 2]
        v = k[1, 1] * y + k[1, 2]
        uv = np.stack([u, v], axis=-1)
        uv[~(z > 0)] = np.nan
        return uv

    def _distort(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised undistorted -> distorted coordinates (OpenCV's models, as ROS names them)."""
        d = self.d
        if not self.model:
            return x, y
        r2 = x * x + y * y
        if self.model == "equidistant":
            r = np.sqrt(r2)
            theta = np.arctan(r)
            t2 = theta * theta
            theta_d = theta * (1 + t2 * (d[0] + t2 * (d[1] + t2 * (d[2] + t2 * d[3]))))
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(r > 1e-12, theta_d / r, 1.0)
            return x * ratio, y * ratio
        c = np.zeros(8)
        c[: min(d.size, 8)] = d[:8]
        k1, k2, p1, p2, k3, k4, k5, k6 = c
        radial = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return xd, yd

    def matches(self, other: CameraModel, focal_tol: float = 0.005, centre_tol_px: float = 0.5) -> bool:
        """Whether ``other`` is this camera (size, focal lengths within ``focal_tol`` relative,
        principal point within ``centre_tol_px`` of this camera's pixels, the same distortion)."""
        if self.size != other.size or self.model != other.model:
            return False
        focal = np.abs(np.diag(other.k)[:2] / np.diag(self.k)[:2] - 1).max() <= focal_tol
        centre = np.abs(other.k[:2, 2] - self.k[:2, 2]).max() <= centre_tol_px
        same_d = self.d.shape == other.d.shape and np.allclose(self.d, other.d, atol=1e-6)
        return bool(focal and centre and same_d)
