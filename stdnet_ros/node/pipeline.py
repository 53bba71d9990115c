"""Parameter values -> model and streaming engine; a paired, decoded (RGB, depth) frame -> output frame.

ROS-free. :func:`load_network` and :func:`build_pipeline` turn the node's
parameter values into a loaded network and a fresh engine, so the node only
wires topics. :meth:`FramePipeline.process` runs on the inference worker
thread: it pushes a pair prepared by :class:`~stdnet_ros.node.camera_pair.CameraPair`
(RGB at ``scale`` x the depth grid) into the streaming engine, and matches the engine's output
(which is ``lookahead`` frames behind) back to the frame it belongs to, whose
stamps, frame_id and timings the node publishes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from stdnet_ros.model.checkpoint import CheckpointMeta, load_model
from stdnet_ros.model.stdnet import STDNet
from stdnet_ros.node.camera_pair import Prepared
from stdnet_ros.streaming.backends import Backend, load_backend, openvino_unavailable
from stdnet_ros.streaming.engine import StreamingEngine, resolve_device


@dataclass
class PairedInput:
    """One (RGB, depth) pair as the node received it."""

    rgb: np.ndarray  # (H, W, 3) uint8 RGB
    depth: np.ndarray  # (h, w) float32 metres, NaN = invalid
    depth_header: Any  # std_msgs/Header of the depth image: its stamp is the output's stamp
    stamp_ns: int  # that stamp in nanoseconds
    rgb_frame_id: str  # the output's frame_id
    depth_encoding: str
    camera_info: Any | None  # latest RGB camera_info, if any
    depth_info: Any | None  # latest depth camera_info, if any
    depth_frame_id: str
    received: float  # monotonic time the later of the two messages arrived
    paired_at: float  # monotonic time the pair formed
    skew_s: float  # |RGB stamp - depth stamp|


@dataclass
class FrameResult:
    """An output frame and how it came about."""

    source: PairedInput
    depth: np.ndarray  # (H, W) float32 metres, NaN = invalid
    confidence: np.ndarray  # (H, W) float32 in [0, 1]
    rgb: np.ndarray  # (H, W, 3) uint8: the RGB the network saw, padding cropped; colours depth_sr/points
    rgb_size: tuple[int, int]  # (width, height) of the output: the RGB the network saw, padding cropped
    rgb_resized: bool
    registered: np.ndarray | None  # the depth registered into the network's grid, when registered here
    queue_wait_s: float
    inference_s: float
    window_fill: int
    window: int  # the engine's, which a reconfiguration may change between frames
    lookahead: int
    reset_reason: str | None


@dataclass
class LoadedModel:
    """The loaded network with the settings it was loaded for, and the backend that runs it."""

    net: STDNet
    meta: CheckpointMeta
    device: str
    backend: Backend

    @property
    def precision(self) -> str:
        return self.backend.precision


def runs_openvino(values: dict[str, Any]) -> bool:
    """Whether the parameters' backend will be OpenVINO (what the default thread count depends on);
    a device that cannot be had says no here and fails clearly when the model loads."""
    try:
        device = resolve_device(values["device"])
    except ValueError:
        return False
    return values["backend"] != "torch" and openvino_unavailable(device) is None


def load_network(values: dict[str, Any], progress: Callable[[str], None] | None = None) -> LoadedModel:
    """Load the model the parameters ask for (raises with a clear message if it cannot).

    The backend is loaded (compiled) and ``precision: auto`` resolved here, once per model (both may
    take seconds), not per engine; ``progress`` receives the compilation's progress lines.
    """
    device = resolve_device(values["device"])
    net, meta = load_model(values["checkpoint"] or None, scale=values["scale"], device=str(device))
    backend = load_backend(values["backend"], net, device, values["precision"], progress=progress)
    return LoadedModel(net, meta, str(device), backend)


def build_pipeline(model: LoadedModel, values: dict[str, Any]) -> FramePipeline:
    """A fresh streaming engine (empty window) around ``model``."""
    engine = StreamingEngine(
        model.net, max_depth=values["max_depth"] or float(model.meta.max_depth),
        window=values["window"] or model.meta.window, views=values["views"] or model.meta.views,
        lookahead=values["lookahead"], device=model.device, precision=model.precision,
        max_gap_s=values["max_gap_s"], backend=model.backend,
    )
    return FramePipeline(engine)


FALLBACKS = (("window", 1), ("views", 1))  # least accuracy lost per time saved first (model card, 9b)


class FrameBudget:
    """Whether the engine keeps up with the stream, from what was measured.

    On an AVX2-only CPU the embedded default (W = 2, two views) takes ~400-600 ms a frame against
    the 200 ms between 5 Hz ToF frames, and would answer one frame in two or three. When
    ``frames`` outputs in a row took longer than the pairs' period (times ``load``), :meth:`over`
    says so and the node applies the next of :data:`FALLBACKS` (see :func:`next_fallback`).
    """

    def __init__(self, frames: int = 3, load: float = 1.0) -> None:
        if frames < 1 or load <= 0:
            raise ValueError(f"frames must be >= 1 and load > 0, got {frames} and {load}")
        self.frames, self.load = frames, load
        self._streak = 0

    def over(self, frame_s: float, pair_hz: float) -> bool:
        """Record one output's time (the worker's, for its pair); True once ``frames`` outputs in a
        row overran the pair period."""
        late = pair_hz > 0 and frame_s * pair_hz > self.load
        self._streak = self._streak + 1 if late else 0
        return self._streak >= self.frames


def next_fallback(values: dict[str, Any], engine: StreamingEngine) -> tuple[str, int] | None:
    """The next setting to cut when the engine cannot keep up, or None.

    Only settings taken from the checkpoint (parameter 0) are cut, in :data:`FALLBACKS` order: on
    generated clips the default at W = 1 with two views is 0.2-0.7 % less accurate than at W = 2 and
    runs 2.9x faster on an AVX2 CPU, where one view at W = 2 is 2-4 % less accurate and slower.
    """
    for name, value in FALLBACKS:
        allowed = name != "window" or values["lookahead"] < value
        if not values[name] and getattr(engine, name) > value and allowed:
            return name, value
    return None


class FramePipeline:
    """Feeds the engine and pairs its delayed outputs with their inputs."""

    def __init__(self, engine: StreamingEngine) -> None:
        self.engine = engine
        # (stamp, input) in push order; at most lookahead + 1, as the engine's own pending frames.
        self._pending: deque[tuple[float, tuple[PairedInput, float, Prepared]]] = deque()
        self._unanswered = 0  # inputs the engine dropped when it restarted its window, not yet reported

    def process(self, item: PairedInput, prepared: Prepared, queue_wait_s: float) -> FrameResult | None:
        """Push one prepared pair; return the output frame the engine produced (None while its lookahead
        fills), cropped to the RGB image's size.

        When the engine restarts its window at this frame, every input pushed before it is lost
        there and then (matched by stamp later, one could be taken for a newer input whose stamp is
        the same float). If the engine raises, the pair is the caller's to count (it failed), not
        left pending to be counted again; the window restarts, so nothing can answer it later.
        """
        stamp = item.stamp_ns / 1e9  # the engine's time base
        resets = self.engine.resets
        try:
            out = self.engine.push(prepared.rgb, prepared.depth, stamp)
        except Exception:
            self.engine.reset("a frame failed in inference")
            self._lose(len(self._pending))
            raise
        if self.engine.resets != resets:
            self._lose(len(self._pending))
        self._pending.append((stamp, (item, queue_wait_s, prepared)))
        if out is None:
            return None
        source, wait, done = self._take(out.stamp)
        width, height = done.size
        return FrameResult(
            source=source, depth=out.depth[:height, :width], confidence=out.confidence[:height, :width],
            rgb=done.rgb[:height, :width],
            rgb_size=done.size, rgb_resized=done.resized, registered=done.depth if done.registered else None,
            queue_wait_s=wait, inference_s=out.inference_s, window_fill=out.window_fill,
            window=self.engine.window, lookahead=self.engine.lookahead, reset_reason=out.reset_reason,
        )

    def pending(self) -> int:
        """Inputs pushed whose output has not come out yet (lost if this pipeline is replaced)."""
        return len(self._pending)

    def unanswered(self) -> int:
        """Inputs found since the last call that will never get an output (the engine restarted
        its window while they waited for their lookahead), so the node can count them as drops."""
        count, self._unanswered = self._unanswered, 0
        return count

    def _lose(self, count: int) -> None:
        """The oldest ``count`` pending inputs will never come out."""
        for _ in range(count):
            self._pending.popleft()
        self._unanswered += count

    def _take(self, stamp: float) -> tuple[PairedInput, float, Prepared]:
        """The pending input for an output stamp; older pending inputs can no longer come out."""
        while self._pending:
            key, entry = self._pending.popleft()
            if key == stamp:
                return entry
            self._unanswered += 1
        raise RuntimeError(f"engine returned stamp {stamp:.9f}, which was never pushed (or already out)")
