"""The one frame type shared by dataset readers, the generator, bags and evaluation.

Depth is always float32 metres with NaN where the sensor gave no return, so
every consumer handles invalid pixels the same way (REP 117/118 in ROS terms).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from stdnet_ros.geometry.rig import Rig


@dataclass
class Frame:
    """One synchronised RGB-D frame."""

    rgb: np.ndarray  # (H, W, 3) uint8, RGB order
    depth_lr: np.ndarray  # (h, w) float32 metres, NaN = invalid; H = scale*h
    stamp: float  # seconds
    depth_gt: np.ndarray | None = None  # (H, W) float32 metres, NaN = unknown
    # a camera pair (Clip.rig): the ToF's own image (its camera's size), and the HR pixels whose
    # surface the ToF sees (the ones scored); depth_lr is then the ToF registered into the RGB's grid
    depth_tof: np.ndarray | None = None
    visible: np.ndarray | None = None  # (H, W) bool


def scored_truth(frame: Frame) -> np.ndarray | None:
    """The ground truth a frame is scored on: for a camera pair, only the pixels whose surface the ToF
    sees (``Frame.visible``), so coverage is the share of those that get a depth."""
    if frame.visible is None or frame.depth_gt is None:
        return frame.depth_gt
    return np.where(frame.visible, frame.depth_gt, np.float32(np.nan))


@dataclass
class Clip:
    """A named sequence of frames at one scale, with what its normalisation needs."""

    name: str
    scale: int
    max_depth: float  # metres (or the data set's unit) that map to 1.0 in the network
    frames: list[Frame] = field(default_factory=list)
    # Pinhole intrinsics of the RGB (= HR) camera: fx, fy, cx, cy.
    intrinsics: tuple[float, float, float, float] | None = None
    rig: Rig | None = None  # a separate ToF camera: both cameras (of these frames' images) and its pose

    def __iter__(self) -> Iterator[Frame]:
        return iter(self.frames)

    def __len__(self) -> int:
        return len(self.frames)
