"""The streaming engine: one synchronised (depth, RGB, stamp) frame in, HR depth out.

Frames enter a window of the last ``window`` frames; the output for frame
n - lookahead is produced when frame n arrives, equal (to float32 rounding)
to running the network offline on that window. Until ``window`` frames have
been seen the window is simply every frame seen so far (the network is defined
for any T >= 1), so the first output comes after ``lookahead`` frames.
The buffer resets, with a reason, on a size change, a stamp that does not
increase (a looping bag), or a gap longer than ``max_gap_s``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from stdnet_ros.depth import RGB_FULL_SCALE, invalid_output, network_depth, output_support, valid_mask
from stdnet_ros.model import STDNet
from stdnet_ros.model.deform_conv import probe_fast_path
from stdnet_ros.streaming.backends import Backend, load_backend
from stdnet_ros.streaming.runtime import one_thread_workers
from stdnet_ros.streaming.windows import FrameInputs, IncrementalWindow, NaiveWindow, ViewEnsemble

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
STRATEGIES = ("incremental", "naive")
AGREEMENT_SCALE = 0.01  # normalised depth difference at which the two hourglasses' agreement halves


@dataclass
class EngineOutput:
    depth: np.ndarray  # (H, W) float32 metres, NaN = invalid
    confidence: np.ndarray  # (H, W) float32 in [0, 1]: agreement of the two hourglasses, 0 where invalid
    stamp: float  # stamp of the frame this output is for
    window_fill: int  # frames in the window that produced it
    inference_s: float  # wall time of the network for this output
    reset_reason: str | None = None  # set on the first output after a buffer reset


@dataclass
class _Pending:
    stamp: float
    support: np.ndarray


def resolve_device(device: str) -> torch.device:
    """'auto' picks CUDA when present; asking for CUDA without it is an error, not a silent CPU run."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA device is available")
    return torch.device(device)


class StreamingEngine:
    def __init__(
        self,
        model: STDNet,
        *,
        max_depth: float,
        window: int = 7,
        lookahead: int = 0,
        device: str = "cpu",
        precision: str = "fp32",
        max_gap_s: float = 1.0,
        strategy: str = "incremental",
        views: int = 1,
        backend: str | Backend = "torch",
    ) -> None:
        """``backend``: a name for :func:`load_backend` (which then resolves ``precision``), or a
        backend already loaded (a node keeps one per model), whose precision then applies."""
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if not 0 <= lookahead < window:
            raise ValueError(f"lookahead must be in [0, window), got {lookahead} with window {window}")
        if precision != "auto" and precision not in PRECISIONS:
            raise ValueError(f"precision must be auto or one of {sorted(PRECISIONS)}, got {precision!r}")
        if max_depth <= 0:
            raise ValueError(f"max_depth must be positive, got {max_depth}")
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        self.device = resolve_device(device)
        if precision == "fp16" and self.device.type == "cpu":
            raise ValueError("fp16 needs a CUDA device; use fp32 or bf16 on a CPU")
        # channels_last: 1.3-2x faster convolutions on AVX-512 CPUs and tensor-core GPUs alike.
        self.model = model.to(self.device, memory_format=torch.channels_last).eval()
        if isinstance(backend, str):
            backend = load_backend(backend, self.model, self.device, precision)
        if strategy == "naive" and backend.name != "torch":
            raise ValueError(f"the naive strategy is the torch reference, not for backend {backend.name}")
        self.backend = backend
        self.precision, self.precision_reason = backend.precision, backend.precision_reason
        # What was decided at start, for the caller's log.
        self.startup = [probe_fast_path(self.device), *backend.notes]
        if self.device.type == "cuda":
            # Batch sizes take a few values (window filling, steady state, after a reset); cuDNN's
            # autotuner picks each shape's fastest kernels once, in the first frames.
            torch.backends.cudnn.benchmark = True
            self.startup.append("cudnn.benchmark on: the first frames of each batch size are slower")
        self.max_depth = float(max_depth)
        self.window = window
        self.lookahead = lookahead
        self.max_gap_s = max_gap_s
        self.strategy = strategy
        self.views = views  # self-ensemble views (model.views): each costs one network evaluation
        self.windowed = self._windows(strategy, views)  # views side by side: their pieces compiled here
        if note := backend.warm_up():
            self.startup.append(note)
        self.pending: deque[_Pending] = deque()
        self.first = 0  # id of the first frame since the last reset
        self.next_id = 0
        self.last_stamp: float | None = None
        self.shape: tuple | None = None
        self.reset_reason: str | None = None
        self.resets = 0

    def _windows(self, strategy: str, views: int) -> NaiveWindow | IncrementalWindow | ViewEnsemble:
        """The window, or one per view. With two threads or more the incremental views run side by
        side, one thread each: their pieces are small (C = 8, one or two frames a call), where a
        second thread inside each operation gains far less than a second view at the same time."""
        if strategy == "naive":
            windows = [NaiveWindow(self.model) for _ in range(views)]
            return windows[0] if views == 1 else ViewEnsemble(windows, self.backend.memory_format)
        if views == 1:
            return IncrementalWindow(self.backend)
        layout = self.backend.memory_format
        if self.backend.threads < 2:
            return ViewEnsemble([IncrementalWindow(self.backend) for _ in range(views)], layout)
        lanes = self.backend.concurrent(views)
        threads = min(views, self.backend.threads)
        self.startup.append(f"{views} views side by side on {threads} threads of one intra-op thread each")
        return ViewEnsemble([IncrementalWindow(lane) for lane in lanes], layout, one_thread_workers(threads),
                            self.inference)  # fmt: skip

    @contextmanager
    def inference(self) -> Iterator[None]:
        """What a prediction runs in, on whichever thread: no autograd, the backend's precision."""
        with torch.inference_mode(), self.backend.context():
            yield

    @property
    def scale(self) -> int:
        return self.model.scale

    def reset(self, reason: str) -> None:
        """Forget the window (pending lookahead frames are dropped) and remember why."""
        self._clear()
        self.reset_reason = reason
        self.resets += 1

    def _clear(self) -> None:
        self.windowed.clear()
        self.pending.clear()
        self.first = self.next_id
        self.last_stamp = None
        self.shape = None

    def _check(self, rgb: np.ndarray, depth: np.ndarray, stamp: float) -> None:
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
        if depth.ndim != 2:
            raise ValueError(f"depth must be (h, w), got {depth.shape}")
        if rgb.shape[:2] != (self.scale * depth.shape[0], self.scale * depth.shape[1]):
            raise ValueError(f"rgb {rgb.shape[:2]} is not {self.scale}x the depth {depth.shape}")
        shape = (rgb.shape, depth.shape)
        if self.shape is not None and shape != self.shape:
            self.reset(f"frame size changed from {self.shape[1]} to {depth.shape}")
        elif self.last_stamp is not None and stamp <= self.last_stamp:
            self.reset(f"time went backwards ({self.last_stamp:.3f} -> {stamp:.3f} s): bag looped?")
        elif self.last_stamp is not None and stamp - self.last_stamp > self.max_gap_s:
            self.reset(f"gap of {stamp - self.last_stamp:.2f} s > {self.max_gap_s} s")
        self.shape = shape

    def _to_device(self, array: np.ndarray) -> torch.Tensor:
        """One copy to a GPU (pinning first would add a host copy and a pinned allocation per frame)."""
        tensor = torch.from_numpy(np.require(array, requirements=["C_CONTIGUOUS", "WRITEABLE"]))
        return tensor.to(self.device)

    def push(self, rgb: np.ndarray, depth_lr: np.ndarray, stamp: float) -> EngineOutput | None:
        """Add a frame; return the output for the frame ``lookahead`` frames back, if there is one."""
        self._check(rgb, depth_lr, stamp)
        self.last_stamp = stamp
        valid = valid_mask(depth_lr)
        lr = network_depth(depth_lr, self.max_depth, valid)
        with torch.inference_mode():
            lr_t = self._to_device(lr[None, None])
            # network_guide's scaling, done on the device: uint8 crosses the bus, not float32. An HWC
            # image permuted to NCHW has channels_last strides: kept for torch, made NCHW once for
            # OpenVINO (copied by every piece that reads it otherwise: 4 full-size copies a frame).
            guide = self._to_device(rgb).permute(2, 0, 1)[None]
            guide = guide.to(torch.float32, memory_format=self.backend.memory_format).div_(RGB_FULL_SCALE)
            lr_up = self.model.enlarge_depth(lr_t)
            inputs = FrameInputs(lr_t, lr_up, guide, self.model.base_depth(lr_t, lr_up, guide))
        frame_id = self.next_id
        self.next_id += 1
        self.windowed.add(frame_id, inputs)
        self.pending.append(_Pending(stamp, output_support(valid, self.scale)))
        if len(self.pending) <= self.lookahead:
            return None
        return self._emit(frame_id - self.lookahead, frame_id)

    def flush(self) -> list[EngineOutput]:
        """At the end of a stream: outputs for the frames still waiting for their lookahead."""
        end = self.next_id - 1
        outputs = [self._emit(t, end) for t in range(end - len(self.pending) + 1, end + 1)]
        self._clear()
        return outputs

    def _emit(self, t: int, end: int) -> EngineOutput:
        start = max(self.first, end - self.window + 1)
        pending = self.pending.popleft()
        began = time.perf_counter()
        with self.inference():
            pred = self.windowed.predict(t, start, end)
            self.windowed.evict(start, end)
            depth = pred.depth.float()[0, 0] * self.max_depth
            agreement = 1.0 / (1.0 + (pred.rgb_depth - pred.d_depth).float().abs()[0, 0] / AGREEMENT_SCALE)
            # One device-to-host copy, the frame's only synchronisation with a GPU.
            depth_np, conf_np = torch.stack([depth, agreement]).cpu().numpy()
        elapsed = time.perf_counter() - began
        invalid = invalid_output(depth_np, pending.support)
        depth_np[invalid] = np.nan
        conf_np[invalid] = 0.0
        reason, self.reset_reason = self.reset_reason, None
        return EngineOutput(depth_np, conf_np, pending.stamp, end - start + 1, elapsed, reason)
