"""A depth image unprojected into an organised point cloud, ROS-free: the data of a sensor_msgs/PointCloud2.

Perception stacks (costmaps, octomap, grasp planners) take point clouds, and the
pip installs have no depth_image_proc to make one. The cloud here is what
depth_image_proc's ``point_cloud_xyz`` / ``point_cloud_xyzrgb`` publish: one point
per pixel (or per ``decimation``-th pixel from (0, 0) in both directions), rows
kept (organised, height x width), x, y, z float32 metres in the camera's optical
frame, NaN where the depth is invalid, and optionally ``rgb``: the colour packed
0x00RRGGBB into the bytes of a float32, the PCL convention.

Depth is REP 118's: z along the optical axis, so a point is ``depth * ray``
with the ray (x, y, 1) through the pixel centre from :meth:`CameraModel.rays`,
which undistorts. Rays are computed once per camera and decimation, not per
frame: undistorting 300k pixels costs far more than the multiply.
"""

from __future__ import annotations

import numpy as np

from stdnet_ros.depth import valid_mask
from stdnet_ros.geometry.camera import CameraModel, CameraModelError

FIELDS = ("xyzrgb", "xyz")  # the choices of the node's points_fields
FLOAT32 = 7  # sensor_msgs/PointField.FLOAT32


def cloud_dtype(fields: str) -> np.dtype:
    """The point layout: x, y, z (and rgb unless ``fields == "xyz"``), float32 little-endian, packed."""
    if fields not in FIELDS:
        raise ValueError(f"fields must be one of {FIELDS}, got {fields!r}")
    names = ("x", "y", "z", "rgb") if fields == "xyzrgb" else ("x", "y", "z")
    return np.dtype([(name, "<f4") for name in names])


def point_fields(dtype: np.dtype) -> list[tuple[str, int, int]]:
    """(name, byte offset, PointField datatype) of each field of a :func:`cloud_dtype`."""
    return [(name, dtype.fields[name][1], FLOAT32) for name in dtype.names]


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB -> (...) float32 whose bits are 0x00RRGGBB, as point_cloud_xyzrgb packs them."""
    c = rgb.astype(np.uint32)
    return ((c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]).view(np.float32)


class CloudMaker:
    """Unprojects depth images of one camera at a time, keeping its rays between frames."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._rays: tuple[np.ndarray, np.ndarray] | None = None  # decimated x and y planes, float32

    def rays(self, camera: CameraModel, decimation: int) -> tuple[np.ndarray, np.ndarray]:
        """The (x, y) ray components of every ``decimation``-th pixel, recomputed only when the camera
        (size, intrinsics, distortion) or the decimation changes."""
        key = (camera.key(), decimation)
        if key != self._key:
            rays = camera.rays()[::decimation, ::decimation]
            self._rays = (np.ascontiguousarray(rays[..., 0], np.float32),
                          np.ascontiguousarray(rays[..., 1], np.float32))
            self._key = key
        return self._rays

    def cloud(self, depth: np.ndarray, camera: CameraModel, rgb: np.ndarray | None = None,
              decimation: int = 1, fields: str = "xyzrgb") -> np.ndarray:
        """(ceil(H / decimation), ceil(W / decimation)) structured array of :func:`cloud_dtype`.

        ``depth``: (H, W) float32 metres, NaN (or any non-finite or non-positive value) invalid;
        ``rgb``: (H, W, 3) uint8, required for ``fields == "xyzrgb"``. Raises CameraModelError when
        ``camera`` does not image H x W pixels (its camera_info is for another image).
        """
        dtype = cloud_dtype(fields)
        if decimation < 1:
            raise ValueError(f"decimation must be >= 1, got {decimation}")
        if camera.size != (depth.shape[1], depth.shape[0]):
            raise CameraModelError(f"camera_info describes a {camera.width}x{camera.height} image, "
                                   f"the depth is {depth.shape[1]}x{depth.shape[0]}")
        if "rgb" in dtype.names and (rgb is None or rgb.shape != (*depth.shape, 3)):
            got = None if rgb is None else rgb.shape
            raise ValueError(f"fields {fields!r} need an RGB image of shape {(*depth.shape, 3)}, got {got}")
        rx, ry = self.rays(camera, decimation)
        z = np.asarray(depth[::decimation, ::decimation], dtype=np.float32)
        z = np.where(valid_mask(z), z, np.float32(np.nan))
        out = np.empty(z.shape, dtype)
        np.multiply(z, rx, out=out["x"])
        np.multiply(z, ry, out=out["y"])
        out["z"] = z
        if "rgb" in dtype.names:
            out["rgb"] = pack_rgb(rgb[::decimation, ::decimation])
        return out
