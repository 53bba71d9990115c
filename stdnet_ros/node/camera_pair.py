"""How a paired (RGB, depth) reaches the network's grid: as registered input, or registered here. ROS-free.

Most robots' ToF is a camera of its own (size, lens, pose). With ``registration``
``auto`` (the default) or ``on``, the depth camera's camera_info decides: depth
whose camera is the RGB camera at 1/scale (size, focal lengths within 0.5 %,
principal point within half a grid pixel, the same distortion) is registered
input, as DyDToF and the package's own bags are; any other is registered into
the RGB camera's grid (:class:`~stdnet_ros.geometry.registration.Registration`)
with the transform from ``depth_to_rgb`` or tf2. ``off`` is the registered-input
path alone. Whatever the mode, an RGB whose aspect ratio is not the depth's is
never resized into it: a silent wrong answer is refused with a reason instead.

Every refusal is an :class:`ImageFormatError` whose ``reason`` is the drop's name
in /diagnostics: ``waiting_for_camera_info``, ``no_transform``,
``camera_info_mismatch``, ``aspect_mismatch``, ``size_mismatch``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from stdnet_ros.conversion import ImageFormatError
from stdnet_ros.geometry.camera import CameraModel, CameraModelError
from stdnet_ros.geometry.pose import Pose
from stdnet_ros.geometry.registration import Registration

ASPECT_TOLERANCE = 0.01  # relative: RGB and depth of one registered camera have the same aspect ratio
MODES = ("auto", "on", "off")

SETTINGS = ("registration", "resize_rgb", "rgb_rectified", "depth_rectified", "depth_is_range",
            "camera_info_timeout_s", "depth_to_rgb")  # the parameters a CameraPair is built from
PoseLookup = Callable[[str, str], Pose]  # (rgb frame, depth frame) -> pose; raises LookupError


@dataclass
class Prepared:
    """A pair ready for the engine: RGB at scale x the depth grid, and what to crop from the output."""

    rgb: np.ndarray  # (scale * h, scale * w, 3) uint8
    depth: np.ndarray  # (h, w) float32 metres, NaN = no measurement
    size: tuple[int, int]  # (width, height) of the output: the RGB image's
    resized: bool  # the RGB was resized to fit the depth (registered input only)
    registered: bool  # the depth was registered here


def fit_rgb(
    rgb: np.ndarray, depth_shape: tuple[int, int], scale: int, resize: bool
) -> tuple[np.ndarray, bool]:
    """The RGB at exactly ``scale`` x the depth size, resized if allowed (same aspect only), else refused."""
    want = (depth_shape[0] * scale, depth_shape[1] * scale)
    if rgb.shape[:2] == want:
        return rgb, False
    aspect = (rgb.shape[1] / rgb.shape[0]) / (depth_shape[1] / depth_shape[0])
    if abs(aspect - 1) > ASPECT_TOLERANCE:
        raise ImageFormatError(
            "aspect_mismatch",
            f"RGB {rgb.shape[1]}x{rgb.shape[0]} and depth {depth_shape[1]}x{depth_shape[0]} differ in "
            f"aspect ratio by {100 * abs(aspect - 1):.1f} %: they are not one registered camera. Publish the "
            f"ToF's depth/camera_info and set registration:=auto (or on) so the node registers the depth",
        )
    if not resize:
        raise ImageFormatError(
            "size_mismatch",
            f"RGB is {rgb.shape[1]}x{rgb.shape[0]} but must be scale ({scale}) x depth "
            f"{depth_shape[1]}x{depth_shape[0]} = {want[1]}x{want[0]}; set resize_rgb:=true to resize it",
        )
    shrink = rgb.shape[0] > want[0] or rgb.shape[1] > want[1]
    out = cv2.resize(rgb, (want[1], want[0]), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return out, True


def pad_to(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """The RGB padded (edge pixels repeated) at the bottom and right to ``height`` x ``width``."""
    extra = ((0, height - rgb.shape[0]), (0, width - rgb.shape[1]), (0, 0))
    return rgb if not any(e[1] for e in extra) else np.pad(rgb, extra, mode="edge")


def nearest_scale(ratio: float, scales: tuple[int, ...]) -> int:
    """The scale nearest to ``ratio`` (fx_rgb / fx_depth) on a log scale."""
    return min(scales, key=lambda s: abs(math.log(s) - math.log(ratio)))


def _camera(info: Any, rectified: bool, topic: str) -> CameraModel:
    try:
        return CameraModel.from_camera_info(info, rectified)
    except CameraModelError as err:
        raise ImageFormatError("camera_info_mismatch", f"{topic}: {err}") from None


class CameraPair:
    """Per pair: decide registered input or registration, and prepare the engine's input."""

    def __init__(self, values: dict[str, Any], lookup: PoseLookup | None = None) -> None:
        self.mode = values["registration"]
        self.resize_rgb = values["resize_rgb"]
        self.rgb_rectified, self.depth_rectified = values["rgb_rectified"], values["depth_rectified"]
        self.depth_is_range = values["depth_is_range"]
        self.info_timeout_s = values["camera_info_timeout_s"]
        self.pose = Pose.from_xyzquat(values["depth_to_rgb"]) if any(values["depth_to_rgb"]) else None
        self.lookup = lookup
        self.notes: list[str] = []  # one-off events for the node to log (taken with take_notes)
        self._first_pair: float | None = None
        self._gave_up_waiting = False
        self._poses: dict[tuple[str, str], Pose] = {}
        self._registrations: dict[tuple, Registration] = {}

    def take_notes(self) -> list[str]:
        notes, self.notes = self.notes, []
        return notes

    def cameras(self, rgb_info: Any, depth_info: Any) -> tuple[CameraModel, CameraModel]:
        """(RGB, depth) camera models as the parameters read them (rectified: P, else K and D)."""
        return (_camera(rgb_info, self.rgb_rectified, "rgb/camera_info"),
                _camera(depth_info, self.depth_rectified, "depth/camera_info"))  # fmt: skip

    def prepare(self, item: Any, scale: int, now: float) -> Prepared:
        """The engine's input for ``item`` (a node PairedInput), or ImageFormatError naming the drop."""
        if self._first_pair is None:
            self._first_pair = item.received
        if self.mode == "off":
            return self._as_registered(item, scale)
        if item.depth_info is None or item.camera_info is None:
            missing = "depth/camera_info" if item.depth_info is None else "rgb/camera_info"
            if self.mode == "on" or now - self._first_pair < self.info_timeout_s:
                raise ImageFormatError(
                    "waiting_for_camera_info", f"waiting for {missing} (registration: {self.mode})"
                )
            if not self._gave_up_waiting:
                self._gave_up_waiting = True
                self.notes.append(
                    f"no {missing} within camera_info_timeout_s ({self.info_timeout_s} s): treating the "
                    f"depth as registered to the RGB camera (registration:=on waits for it)"
                )
            return self._as_registered(item, scale)
        rgb_cam, depth_cam = self.cameras(item.camera_info, item.depth_info)
        for name, cam, image in (("rgb", rgb_cam, item.rgb), ("depth", depth_cam, item.depth)):
            if cam.size != (image.shape[1], image.shape[0]):
                raise ImageFormatError(
                    "camera_info_mismatch",
                    f"{name}/camera_info describes {cam.width}x{cam.height} (after binning and ROI) but the "
                    f"{name} image is {image.shape[1]}x{image.shape[0]}",
                )
        grid = rgb_cam.grid(scale)
        if self.mode == "auto" and grid.matches(depth_cam):
            return self._as_registered(item, scale)
        registration = self._registration(depth_cam, rgb_cam, scale, self._pose_for(item))
        depth = registration(item.depth)
        rgb = pad_to(item.rgb, grid.height * scale, grid.width * scale)
        return Prepared(rgb, depth, (item.rgb.shape[1], item.rgb.shape[0]), False, True)

    def _as_registered(self, item: Any, scale: int) -> Prepared:
        rgb, resized = fit_rgb(item.rgb, item.depth.shape, scale, self.resize_rgb)
        return Prepared(rgb, item.depth, (rgb.shape[1], rgb.shape[0]), resized, False)

    def _pose_for(self, item: Any) -> Pose:
        """``depth_to_rgb`` when set, else tf2's (cached per pair of frame ids); no_transform otherwise."""
        if self.pose is not None:
            return self.pose
        key = (item.rgb_frame_id, item.depth_frame_id)
        if key not in self._poses:
            if self.lookup is None:
                raise ImageFormatError("no_transform", "no depth_to_rgb parameter and no tf2 listener")
            try:
                self._poses[key] = self.lookup(*key)
            except LookupError as err:
                raise ImageFormatError(
                    "no_transform",
                    f"no transform from {key[1]!r} (depth) to {key[0]!r} (RGB): {err}; publish it on "
                    f"/tf_static or set depth_to_rgb",
                ) from None
        return self._poses[key]

    def _registration(self, depth_cam: CameraModel, rgb_cam: CameraModel, scale: int,
                      pose: Pose) -> Registration:  # fmt: skip
        """The registration for these cameras and pose; rays are computed once per camera_info."""
        key = (depth_cam.key(), rgb_cam.key(), scale, pose.rotation.tobytes(), pose.translation.tobytes())
        if key not in self._registrations:
            self._registrations.clear()  # one rig at a time: a new camera_info replaces the old
            self._registrations[key] = Registration(depth_cam, rgb_cam, scale, pose, self.depth_is_range)
        return self._registrations[key]
