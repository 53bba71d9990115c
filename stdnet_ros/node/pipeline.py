"""From a paired, decoded (RGB, depth) frame to an output frame, ROS-free.

Runs on the inference worker thread: makes the RGB ``scale`` x the depth size
(resizing or refusing), pushes the frame into the streaming engine, and
matches the engine's output (which is ``lookahead`` frames behind) back to
the frame it belongs to, whose stamps, frame_id and timings the node
publishes.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from stdnet_ros.conversion import ImageFormatError


@dataclass
class PairedInput:
    """One (RGB, depth) pair as the node received it."""

    rgb: np.ndarray  # (H, W, 3) uint8 RGB
    depth: np.ndarray  # (h, w) float32 metres, NaN = invalid
    depth_header: Any  # std_msgs/Header of the depth image: its stamp is the output's stamp
    rgb_frame_id: str  # the output's frame_id
    depth_encoding: str
    camera_info: Any | None  # latest RGB camera_info, if any
    received: float  # monotonic time the later of the two messages arrived
    paired_at: float  # monotonic time the pair formed
    skew_s: float  # |RGB stamp - depth stamp|


@dataclass
class FrameResult:
    """An output frame and how it came about."""

    source: PairedInput
    depth: np.ndarray  # (H, W) float32 metres, NaN = invalid
    confidence: np.ndarray  # (H, W) float32 in [0, 1]
    rgb_size: tuple[int, int]  # (width, height) the network saw
    rgb_resized: bool
    queue_wait_s: float
    inference_s: float
    window_fill: int
    reset_reason: str | None


def stamp_seconds(header: Any) -> float:
    """A header stamp in float seconds, the engine's time base."""
    return int(header.stamp.sec) + int(header.stamp.nanosec) * 1e-9


def fit_rgb(
    rgb: np.ndarray, depth_shape: tuple[int, int], scale: int, resize: bool
) -> tuple[np.ndarray, bool]:
    """The RGB at exactly ``scale`` x the depth size, resized if allowed, else a clear refusal."""
    want = (depth_shape[0] * scale, depth_shape[1] * scale)
    if rgb.shape[:2] == want:
        return rgb, False
    if not resize:
        raise ImageFormatError(
            "size_mismatch",
            f"RGB is {rgb.shape[1]}x{rgb.shape[0]} but must be scale ({scale}) x depth "
            f"{depth_shape[1]}x{depth_shape[0]} = {want[1]}x{want[0]}; set resize_rgb:=true to resize it",
        )
    shrink = rgb.shape[0] > want[0] or rgb.shape[1] > want[1]
    out = cv2.resize(rgb, (want[1], want[0]), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return out, True


class FramePipeline:
    """Feeds the engine and pairs its delayed outputs with their inputs."""

    def __init__(self, engine: Any, scale: int, window: int, resize_rgb: bool) -> None:
        self.engine = engine
        self.window = window
        self.scale = scale
        self.resize_rgb = resize_rgb
        self._pending: OrderedDict[float, tuple[PairedInput, float, tuple[int, int], bool]] = OrderedDict()

    def process(self, item: PairedInput, queue_wait_s: float) -> FrameResult | None:
        """Push one pair; return the output frame the engine produced (None while its lookahead fills)."""
        rgb, resized = fit_rgb(item.rgb, item.depth.shape, self.scale, self.resize_rgb)
        stamp = stamp_seconds(item.depth_header)
        self._pending[stamp] = (item, queue_wait_s, (rgb.shape[1], rgb.shape[0]), resized)
        out = self.engine.push(rgb, item.depth, stamp)
        if out is None:
            self._trim()
            return None
        source, wait, size, was_resized = self._take(out.stamp)
        return FrameResult(
            source=source, depth=out.depth, confidence=out.confidence, rgb_size=size,
            rgb_resized=was_resized, queue_wait_s=wait, inference_s=out.inference_s,
            window_fill=out.window_fill, reset_reason=out.reset_reason,
        )

    def _take(self, stamp: float) -> tuple[PairedInput, float, tuple[int, int], bool]:
        """The pending input for an output stamp; older pending inputs can no longer come out."""
        while self._pending:
            key, entry = self._pending.popitem(last=False)
            if key == stamp:
                return entry
        raise RuntimeError(f"engine returned stamp {stamp:.9f}, which was never pushed (or already out)")

    def _trim(self) -> None:
        """Bound the map: the engine holds at most its window, so older inputs never come out."""
        while len(self._pending) > self.window + 1:
            self._pending.popitem(last=False)


def status_fields(
    result: FrameResult, published: float, window: int, lookahead: int,
    frames_in: int, frames_out: int, drops: dict[str, int],
) -> dict[str, Any]:
    """Every field of stdnet_ros_msgs/FrameStatus except ``header``, for one published frame."""
    reasons = sorted(drops)
    return {
        "receipt_to_publish": published - result.source.received,
        "queue_wait": result.queue_wait_s,
        "inference": result.inference_s,
        "pairing_skew": result.source.skew_s,
        "window_fill": result.window_fill,
        "window": window,
        "lookahead": lookahead,
        "reset_reason": result.reset_reason or "",
        "frames_in": frames_in,
        "frames_out": frames_out,
        "dropped_total": sum(drops.values()),
        "drop_reasons": reasons,
        "drop_counts": [drops[r] for r in reasons],
    }
