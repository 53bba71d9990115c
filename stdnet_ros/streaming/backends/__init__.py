"""Inference backends: what runs the network's pieces for the incremental window.

The window asks a backend for the pieces it evaluates (``steer``, ``encode``, ``tdm``,
``decode``; see :class:`Backend`) and does all the bookkeeping itself, so a backend only
has to compute those functions: :class:`TorchBackend` by eager PyTorch (the reference, and
the GPU path), ``openvino_backend`` compiled by OpenVINO for the CPU. Another engine (TensorRT)
is one more class with the same methods and one more branch in :func:`load_backend`.

``auto`` picks OpenVINO on a CPU where it is installed (1.4-2.3x eager torch on the offline
window at 320x240, same numbers to 2e-6 in f32) and torch on CUDA; a backend that cannot be
loaded or compiled falls back to torch, with the reason in the notes for the start-up log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

import torch

from stdnet_ros.model.sdm import Steering
from stdnet_ros.model.stdnet import STDNet
from stdnet_ros.streaming.backends.torch_backend import Features, TorchBackend
from stdnet_ros.streaming.runtime import choose_precision

log = logging.getLogger(__name__)
BACKENDS = ("auto", "torch", "openvino")


class Backend(Protocol):
    """The pieces of the network, batched over frames, in the model's own terms (``STDNet``)."""

    name: str  # what runs: torch, openvino
    precision: str  # what it runs in: fp32, bf16, fp16
    precision_reason: str
    threads: int  # CPU threads it computes with
    notes: list[str]  # what was decided at start, for the caller's log
    memory_format: torch.memory_format  # the layout its pieces read without a copy

    def context(self) -> AbstractContextManager:
        """Entered around a prediction (torch's autocast)."""

    def concurrent(self, count: int) -> list[Backend]:
        """``count`` backends computing the same, to be called at the same time from ``count``
        threads (the self-ensemble's views side by side), sharing this one's threads."""

    def settle(self) -> None:
        """Wait for work it started in the background (compilations), so what follows is timed as it
        will run from then on."""

    def warming(self) -> bool:
        """Whether work it started in the background is still running: frames are slower until then."""

    def warm_up(self) -> str | None:
        """Start preparing, in the background, what earlier runs needed once frames came (the
        fixed-shape models of a compiled backend; :meth:`settle` waits for it); a line for the
        start-up log if it started anything."""

    def steer(self, hg: str, lr_up: torch.Tensor) -> Steering: ...

    def encode(self, hg: str, lr_up: torch.Tensor, guide: torch.Tensor, extra: torch.Tensor | None = None,
               steering: Steering | None = None) -> Features:  # fmt: skip
        """(spatial feature S, guide feature R, attention A)."""

    def tdm(self, hg: str, branch: str, *inputs: torch.Tensor) -> torch.Tensor: ...

    def decode(self, hg: str, feats: list[torch.Tensor], base: torch.Tensor,
               rgb: torch.Tensor) -> Features:  # fmt: skip
        """(fused feature, depth, confidence)."""


def describe(backend: Backend, requested: str) -> str:
    """The start-up log's line: what runs (and what was asked for), its threads, precision and why."""
    return (f"backend {backend.name} ({requested}), {backend.threads} thread(s); "
            f"precision {backend.precision}: {backend.precision_reason}")  # fmt: skip


def window_seconds(model: STDNet, backend: Backend, size: tuple[int, int] = (320, 240)) -> float:
    """Time of the window's prediction for the second of two fresh frames of ``size`` (W x H):
    every piece once or twice, what ``precision=auto`` compares for a compiled backend."""
    from stdnet_ros.streaming.windows import FrameInputs, IncrementalWindow

    width, height = size
    g = torch.Generator().manual_seed(0)
    window = IncrementalWindow(backend)
    with torch.inference_mode(), backend.context():
        for f in range(2):
            lr = torch.rand(1, 1, height // model.scale, width // model.scale, generator=g)
            guide = torch.rand(1, 3, height, width, generator=g)
            lr_up = model.enlarge_depth(lr)
            window.add(f, FrameInputs(lr, lr_up, guide, model.base_depth(lr, lr_up, guide)))
        backend.settle()  # the first call's compilations, if any, are not what is compared
        began = time.perf_counter()
        window.predict(1, 0, 1)
        return time.perf_counter() - began


def openvino_unavailable(device: torch.device) -> str | None:
    """Why OpenVINO cannot run here (None if it can)."""
    if device.type != "cpu":
        return f"runs on the CPU only (device {device})"
    try:
        import openvino  # noqa: F401
    except ImportError as err:
        return f"is not installed ({err})"
    return None


def load_backend(requested: str, model: STDNet, device: torch.device, precision: str, *,
                 properties: dict | None = None,
                 progress: Callable[[str], None] | None = None) -> Backend:  # fmt: skip
    """The backend asked for, ready to run (compiled), its precision resolved (``auto`` too).

    ``properties``: extra OpenVINO CPU properties; ``progress`` gets the compilation's progress lines
    (default: this module's log). Any failure of OpenVINO falls back to torch.
    """
    if requested not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {requested!r}")
    notes = []
    backend: Backend | None = None
    if requested != "torch":
        why = openvino_unavailable(device)
        if why is None:
            try:
                from stdnet_ros.streaming.backends import openvino_backend

                threads = torch.get_num_threads()
                backend = openvino_backend.load(model, precision, threads, properties, progress or log.info)
            except Exception as err:  # an optional engine failing must leave a working node
                why = f"failed ({type(err).__name__}: {str(err).strip().splitlines()[-1]})"
                log.warning("openvino %s: falling back to torch", why)
        if backend is None:
            notes.append(f"openvino {why}: torch runs instead" if requested == "openvino" else
                         f"auto: openvino {why}, torch runs")  # fmt: skip
    if backend is None:
        choice = choose_precision(precision, device, model)
        backend = TorchBackend(model, device, choice.precision, choice.reason)
    backend.notes = [*notes, describe(backend, requested)]
    return backend
