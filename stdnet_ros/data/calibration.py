"""Camera calibration files in the ROS format (camera_calibration_parsers' YAML), ROS-free.

``camera_calibration_parsers`` (and so ``camera_info_manager`` and the ROS
calibrator) write a camera_info as YAML: ``image_width``, ``image_height``,
``camera_name``, ``camera_matrix``, ``distortion_model``,
``distortion_coefficients``, ``rectification_matrix`` and ``projection_matrix``,
each matrix as ``rows``, ``cols`` and row-major ``data``. :func:`read_camera_info`
gives an object with the fields of a sensor_msgs/CameraInfo (no binning, no ROI),
which :meth:`CameraModel.from_camera_info` takes like a message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from stdnet_ros.geometry.camera import CameraModel


@dataclass(frozen=True)
class RegionOfInterest:
    x_offset: int = 0
    y_offset: int = 0
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class CalibratedCamera:
    """The fields of a sensor_msgs/CameraInfo that a calibration file holds."""

    width: int
    height: int
    k: np.ndarray  # (9,)
    d: np.ndarray
    distortion_model: str
    r: np.ndarray  # (9,)
    p: np.ndarray  # (12,)
    camera_name: str = ""
    binning_x: int = 0
    binning_y: int = 0
    roi: RegionOfInterest = field(default_factory=RegionOfInterest)


def _matrix(values: np.ndarray, rows: int, cols: int) -> dict:
    return {"rows": rows, "cols": cols, "data": [float(v) for v in np.asarray(values, float).ravel()]}


def camera_info_yaml(camera: CameraModel, name: str) -> str:
    """The calibration file of ``camera``: K and D as they are, R the identity, P = [K | 0]."""
    p = np.hstack([camera.k, np.zeros((3, 1))])
    data = {
        "image_width": camera.width, "image_height": camera.height, "camera_name": name,
        "camera_matrix": _matrix(camera.k, 3, 3),
        "distortion_model": camera.model or "plumb_bob",
        "distortion_coefficients": _matrix(camera.d if camera.model else np.zeros(5), 1,
                                           camera.d.size if camera.model else 5),
        "rectification_matrix": _matrix(np.eye(3), 3, 3),
        "projection_matrix": _matrix(p, 3, 4),
    }  # fmt: skip
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None)  # [data] on one line, as ROS


def read_camera_info(path: str | Path) -> CalibratedCamera:
    """A calibration file as camera_info fields (ValueError naming the file and the missing key)."""
    path = Path(path)
    data = yaml.safe_load(path.read_text())

    def get(key: str, size: int | None = None) -> np.ndarray:
        if not isinstance(data, dict) or key not in data:
            raise ValueError(f"{path}: no {key!r} (a camera_calibration_parsers YAML file has it)")
        values = np.asarray(data[key]["data"], dtype=np.float64)
        if size is not None and values.size != size:
            raise ValueError(f"{path}: {key} has {values.size} values, expected {size}")
        return values

    k = get("camera_matrix", 9)
    d = get("distortion_coefficients")
    r = get("rectification_matrix", 9) if "rectification_matrix" in data else np.eye(3).ravel()
    no_p = np.hstack([k.reshape(3, 3), np.zeros((3, 1))]).ravel()  # P = [K | 0], as for a raw image
    p = get("projection_matrix", 12) if "projection_matrix" in data else no_p
    for key in ("image_width", "image_height"):
        if key not in data:
            raise ValueError(f"{path}: no {key!r}")
    return CalibratedCamera(int(data["image_width"]), int(data["image_height"]), k, d,
                            str(data.get("distortion_model", "plumb_bob")), r, p,
                            str(data.get("camera_name", "")))  # fmt: skip
