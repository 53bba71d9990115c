"""The network's pieces compiled by OpenVINO for the CPU.

Each piece the incremental window calls (hg_1's encoder, hg_2's depth steering and encoder,
the eight TDM branches, the two decoders) is converted from the torch module itself
(``ov.convert_model``, no ONNX) with dynamic batch and spatial dimensions, so one compiled
model serves every batch size the window uses, both orientations of the self-ensemble views
and any frame size. Everything is converted and compiled once at start-up; each set of input
shapes a piece meets is then compiled again with those shapes fixed, in the background
(:class:`_Compiled`), which runs faster. Both steps are cached (:func:`cache_dir`: the converted
pieces, keyed by the weights and the code, and OpenVINO's compiled blobs), so only the first
start with a model pays the conversion (~2 s a piece); the shapes met are remembered
(``shape_log``), and a later start compiles them before its first frame (:meth:`warm_up`).

Tensors cross without copies where the layout allows: inputs are shared with OpenVINO
(``share_inputs``), and outputs are written into torch tensors allocated for them, whose
shapes are learnt at the first call with each input shape. The guided-filter base and the
small per-frame glue (differences, sums, the fusion softmax) stay in torch: the base's float64
box sums have no OpenVINO CPU equivalent (it runs float64 as float32).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openvino as ov
import torch
from torch import nn

from stdnet_ros import model as model_package
from stdnet_ros.model.propagation import BRANCHES
from stdnet_ros.model.sdm import Steering
from stdnet_ros.model.stdnet import STDNet
from stdnet_ros.streaming.backends.shape_log import ShapeLog
from stdnet_ros.streaming.backends.torch_backend import Features
from stdnet_ros.streaming.runtime import choose_precision

log = logging.getLogger(__name__)
OV_PRECISION = {"fp32": "f32", "bf16": "bf16"}
MODEL_SETTINGS = ("scale", "mid_channels", "head_channels", "base", "guided_radius_x", "guided_eps",
                  "head_guide")  # fmt: skip
# What the views' side-by-side pieces are compiled with: each runs on the thread that calls it.
LANE_PROPERTIES = {"NUM_STREAMS": 1, "INFERENCE_NUM_THREADS": 1, "ENABLE_CPU_PINNING": False}
EXAMPLE_SIZE = (16, 20)  # working-size (h, w) of the tracing examples: small, even, not square


def cache_dir() -> Path:
    """Where OpenVINO keeps compiled pieces between starts ($XDG_CACHE_HOME or ~/.cache)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "stdnet_ros" / "openvino"


class _Encode1(nn.Module):
    """hg_1: depth steering, guide encoder and SDM of a batch of frames -> (S, R, A)."""

    def __init__(self, model: STDNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, lr_up: torch.Tensor, guide: torch.Tensor) -> tuple[torch.Tensor, ...]:
        enc = self.model.encode("hg_1", lr_up, guide)
        return enc.spatial, enc.guide, enc.att


class _Steer2(nn.Module):
    """hg_2's depth-only half, window-free and so computed once per frame."""

    def __init__(self, model: STDNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, lr_up: torch.Tensor) -> tuple[torch.Tensor, ...]:
        s = self.model.steer("hg_2", lr_up)
        return s.feat, s.att, s.sigma, s.kernels


class _Encode2(nn.Module):
    """hg_2 from its steering and hg_1's decoded frame -> (S, R); A is the steering's."""

    def __init__(self, model: STDNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, guide: torch.Tensor, extra: torch.Tensor, feat: torch.Tensor, att: torch.Tensor,
                sigma: torch.Tensor, kernels: torch.Tensor) -> tuple[torch.Tensor, ...]:  # fmt: skip
        enc = self.model.encode("hg_2", feat, guide, extra, Steering(feat, att, sigma, kernels))
        return enc.spatial, enc.guide


class _Decode(nn.Module):
    def __init__(self, model: STDNet, hg: str) -> None:
        super().__init__()
        self.model, self.hg = model, hg

    def forward(self, s: torch.Tensor, b1: torch.Tensor, f1: torch.Tensor, b2: torch.Tensor, f2: torch.Tensor,
                base: torch.Tensor, rgb: torch.Tensor) -> tuple[torch.Tensor, ...]:  # fmt: skip
        return self.model.decode(self.hg, [s, b1, f1, b2, f2], base, rgb)


def _pieces(model: STDNet) -> list[tuple[tuple[str, ...], nn.Module, tuple[torch.Tensor, ...]]]:
    """(key, module, example inputs) of every piece, examples made by the torch pieces themselves."""
    g = torch.Generator().manual_seed(0)
    h, w = EXAMPLE_SIZE

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=g)

    lr_up, guide, base = rand(1, 1, h, w), rand(1, 3, 4 * h, 4 * w), rand(1, 1, 4 * h, 4 * w)
    with torch.no_grad():
        spatial, guide_feat, att = _Encode1(model)(lr_up, guide)
        steering = _Steer2(model)(lr_up)
        fused, depth, conf = _Decode(model, "hg_1")(*[spatial] * 5, base, guide)
    feat = torch.rand_like(spatial)
    pieces = [
        (("encode", "hg_1"), _Encode1(model), (lr_up, guide)),
        (("steer", "hg_2"), _Steer2(model), (lr_up,)),
        (("encode", "hg_2"), _Encode2(model), (torch.cat([depth, conf], 1), fused, *steering)),
    ]
    tdm_inputs = (spatial, feat, feat, guide_feat, att)
    for hg in ("hg_1", "hg_2"):
        pieces += [(("tdm", hg, b), model.tdm(hg, b), tdm_inputs) for b in BRANCHES]
        pieces.append((("decode", hg), _Decode(model, hg), (spatial, *[feat] * 4, base, guide)))
    return pieces


def _dynamic(x: torch.Tensor) -> ov.PartialShape:
    """Batch and the two spatial dimensions free, channels fixed."""
    return ov.PartialShape([-1, *x.shape[1:-2], -1, -1])


def _yield_to_frames() -> None:
    """The background compiler thread at the lowest CPU priority (Linux schedules threads as tasks):
    it takes what the frames leave, instead of slowing the frames it is compiling for."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not permitted: as it is
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


@dataclass
class _Background:
    """Where fixed-shape models are compiled (one thread, at the lowest priority) and remembered."""

    compiler: Executor
    shapes: ShapeLog


class _Compiled:
    """One piece compiled with dynamic shapes, and again for each set of input shapes it is called
    with: fixed shapes ran a 320 x 240 frame's pieces 1.4x faster in bf16 (1.2x in f32), as
    the pixel shuffles and layout changes become plain copies. The fixed compilations (about
    75 ms each, ~60 ms read back from the cache) run in the background, one at a time, and are
    remembered (``ShapeLog``) for :meth:`OpenVINOBackend.warm_up`; until one is ready the dynamic
    model computes (within 2e-6 of it in f32). ``role`` names the compilation settings."""

    def __init__(self, key: tuple[str, ...], role: str, model: ov.Model,
                 compile: Callable[[ov.Model], ov.CompiledModel],
                 background: _Background) -> None:  # fmt: skip
        self.key, self.role, self.model, self.compile = key, role, model, compile
        self.background = background
        self.dynamic = compile(model)
        self.fixed: dict[tuple, Future] = {}  # input shapes -> its compiled model (None if failed)
        self.spare: dict[tuple, ov.InferRequest] = {}  # a request made and run once beside each
        self.lock = threading.Lock()  # the views' threads share the fixed models

    def fixed_for(self, shapes: tuple) -> ov.CompiledModel | None:
        """The model compiled for these input shapes if ready; the first ask starts compiling it."""
        with self.lock:
            future = self.fixed.get(shapes)
            if future is None:
                future = self.fixed[shapes] = self.background.compiler.submit(self._fix, shapes)
        return future.result() if future.done() else None

    def _fix(self, shapes: tuple) -> ov.CompiledModel | None:
        try:
            model = self.model.clone()
            model.reshape({model.inputs[k]: ov.PartialShape(list(shape)) for k, shape in enumerate(shapes)})
            compiled = self.compile(model)
            # Its first request made and called once here, not on a frame: that call cost a frame
            # 13-16 ms, and the request's memory then came after the compilations were reported over.
            request = compiled.create_infer_request()
            request.infer([np.zeros(shape, np.float32) for shape in shapes])
        except Exception as err:  # the dynamic model keeps computing these shapes
            log.warning("openvino: no fixed-shape model for %s (%s)", shapes, err)
            return None
        with self.lock:
            self.spare[shapes] = request
        self.background.shapes.add(self.role, self.key, shapes)
        return compiled

    def request_for(self, shapes: tuple, compiled: ov.CompiledModel) -> ov.InferRequest:
        """The request made beside the fixed model for these shapes, or (for a second caller) a new one."""
        with self.lock:
            request = self.spare.pop(shapes, None)
        return compiled.create_infer_request() if request is None else request

    def settle(self) -> None:
        for future in list(self.fixed.values()):
            future.result()

    def compiling(self) -> bool:
        return not all(future.done() for future in list(self.fixed.values()))


class _Piece:
    """One compiled piece called like the torch module: tensors in, a list of new tensors out."""

    def __init__(self, compiled: _Compiled) -> None:
        self.compiled = compiled
        self.request = compiled.dynamic.create_infer_request()
        self.outputs = len(compiled.dynamic.outputs)
        self.shapes: dict[tuple, list[tuple[int, ...]]] = {}  # dynamic model: input -> output shapes
        self.fixed: dict[tuple, tuple[ov.InferRequest, list[tuple[int, ...]]]] = {}  # request, outputs

    def __call__(self, *inputs: torch.Tensor) -> list[torch.Tensor]:
        # contiguous() is free: the window batches NCHW tensors (memory_format), its glue makes new ones.
        arrays = [x.contiguous().numpy() for x in inputs]
        key = tuple(a.shape for a in arrays)
        if key not in self.fixed and (model := self.compiled.fixed_for(key)) is not None:
            self.fixed[key] = (self.compiled.request_for(key, model),
                               [tuple(out.get_shape()) for out in model.outputs])  # fmt: skip
        request, shapes = self.fixed.get(key) or (self.request, self.shapes.get(key))
        if shapes is None:  # the dynamic model's first call with these shapes: learn its outputs' shapes
            result = self.compiled.dynamic.create_infer_request().infer(arrays, share_inputs=True,
                                                                        share_outputs=True)  # fmt: skip
            outs = [torch.from_numpy(result[k].copy()) for k in range(self.outputs)]
            self.shapes[key] = [tuple(o.shape) for o in outs]
            return outs
        # Inputs shared and outputs written straight into the torch tensors handed out, each set on the
        # request: 40 us a call less than infer(arrays)'s dispatch (a frame 0.98x, in-process A/B).
        outs = [torch.empty(shape) for shape in shapes]
        for k, array in enumerate(arrays):
            request.set_input_tensor(k, ov.Tensor(array, shared_memory=True))
        for k, out in enumerate(outs):
            request.set_output_tensor(k, ov.Tensor(out.numpy(), shared_memory=True))
        request.infer()
        return outs


class OpenVINOBackend:
    """The pieces of :class:`TorchBackend`, each a compiled OpenVINO model on the CPU.

    ``recompile(properties)`` compiles the same pieces again with more CPU properties, for
    :meth:`concurrent`."""

    name = "openvino"
    memory_format = torch.contiguous_format  # NCHW, what the compiled pieces' inputs are

    def __init__(self, pieces: dict[tuple[str, ...], _Piece], precision: str, precision_reason: str,
                 threads: int, recompile: Callable[[dict], dict[tuple[str, ...], _Piece]],
                 background: _Background, notes: Sequence[str] = ()) -> None:  # fmt: skip
        self.pieces = pieces
        self.precision, self.precision_reason = precision, precision_reason
        self.threads = threads
        self.recompile, self.background = recompile, background
        self.notes = list(notes)
        self.lane_pieces: dict[tuple[str, ...], _Piece] | None = None  # concurrent's compilation

    def concurrent(self, count: int) -> list[OpenVINOBackend]:
        """``count`` backends, each with infer requests of its own (a request serves one call at a
        time), sharing the pieces compiled once more (once, at start-up) to run on the calling
        thread alone: one stream of one thread, unpinned. Each view's thread then computes its own
        pieces; with the pieces compiled for several streams instead (``NUM_STREAMS``, pinned, as
        OpenVINO does by default) two views side by side at 320 x 240 took 104 ms a frame against
        66 ms, no faster than one after the other."""
        if self.lane_pieces is None:
            self.lane_pieces = self.recompile(LANE_PROPERTIES)
        return [OpenVINOBackend({key: _Piece(piece.compiled) for key, piece in self.lane_pieces.items()},
                                self.precision, self.precision_reason, self.threads, self.recompile,
                                self.background)
                for _ in range(count)]  # fmt: skip

    def context(self) -> AbstractContextManager:
        return nullcontext()  # the precision is compiled in; torch's glue runs in float32

    def _compiled(self) -> list[_Compiled]:
        """Every compiled piece, :meth:`concurrent`'s included."""
        lanes = self.lane_pieces or {}
        return [piece.compiled for piece in (*self.pieces.values(), *lanes.values())]

    def settle(self) -> None:
        """Wait for the fixed-shape compilations started so far."""
        for compiled in self._compiled():
            compiled.settle()

    def warming(self) -> bool:
        """Whether a fixed-shape compilation started so far is still running."""
        return any(compiled.compiling() for compiled in self._compiled())

    def warm_up(self) -> str | None:
        """Start compiling, in the background, the fixed-shape models that earlier runs asked for with
        these settings (the shape log), so that the first frames find them ready (:meth:`settle`
        waits); what was started, for the log."""
        wanted = [(compiled, shapes) for compiled in self._compiled()
                  for role, key, shapes in self.background.shapes.entries()
                  if (role, key) == (compiled.role, compiled.key)]  # fmt: skip
        new = [(compiled, shapes) for compiled, shapes in wanted if shapes not in compiled.fixed]
        for compiled, shapes in new:
            compiled.fixed_for(shapes)
        if not new:
            return None
        return f"openvino: compiling the {len(new)} fixed-shape models that earlier runs used"

    def steer(self, hg: str, lr_up: torch.Tensor) -> Steering:
        return Steering(*self.pieces["steer", hg](lr_up))

    def encode(self, hg: str, lr_up: torch.Tensor, guide: torch.Tensor, extra: torch.Tensor | None = None,
               steering: Steering | None = None) -> Features:  # fmt: skip
        if hg == "hg_1":
            return tuple(self.pieces["encode", hg](lr_up, guide))
        args = (steering.feat, steering.att, steering.sigma, steering.kernels)
        spatial, guide_feat = self.pieces["encode", hg](guide, extra, *args)
        return spatial, guide_feat, steering.att

    def tdm(self, hg: str, branch: str, *inputs: torch.Tensor) -> torch.Tensor:
        return self.pieces["tdm", hg, branch](*inputs)[0]

    def decode(self, hg: str, feats: list[torch.Tensor], base: torch.Tensor,
               rgb: torch.Tensor) -> Features:  # fmt: skip
        return tuple(self.pieces["decode", hg](*feats, base, rgb))


def fingerprint(model: STDNet) -> str:
    """What the converted pieces depend on: weights, the model's settings, the code that traced
    them (the model package and this file) and OpenVINO's version."""
    digest = hashlib.sha256(ov.get_version().encode())
    digest.update(repr([getattr(model, k) for k in MODEL_SETTINGS]).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    for source in sorted([*Path(model_package.__file__).parent.glob("*.py"), Path(__file__)]):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:20]


def shape_log_path(key: str) -> Path:
    """Where the shapes a model's pieces were asked for are remembered (``key``: its fingerprint)."""
    return cache_dir() / "shapes" / f"{key}.json"


def convert(model: STDNet, key: str,
            progress: Callable[[str], None]) -> list[tuple[tuple[str, ...], ov.Model]]:  # fmt: skip
    """Every piece as an OpenVINO model: traced from the torch module (about 2 s a piece), or read
    back from the cache where an earlier start saved this very model's pieces (``key``: its
    :func:`fingerprint`)."""
    began = time.perf_counter()
    pieces = _pieces(model)
    folder = cache_dir() / "converted" / key
    files = [folder / f"{'_'.join(key)}.xml" for key, _, _ in pieces]
    if all(f.exists() for f in files):
        try:
            core = ov.Core()
            converted = [(key, core.read_model(f)) for (key, _, _), f in zip(pieces, files, strict=True)]
            progress(f"openvino: read the {len(converted)} converted pieces from {folder}")
            return converted
        except RuntimeError as err:
            progress(f"openvino: cached pieces in {folder} unreadable ({err}); converting again")
    converted = []
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python ints: shapes are checked in tests
        for key, module, example in pieces:
            inputs = [_dynamic(x) for x in example]
            # share_weights=False: the compiled pieces must not depend on torch's parameter storage,
            # which the engine's channels_last conversion replaces.
            ov_model = ov.convert_model(module.eval(), example_input=example, input=inputs,
                                        share_weights=False)  # fmt: skip
            converted.append((key, ov_model))
    progress(f"openvino {ov.get_version().split('-')[0]}: converted {len(converted)} pieces of the network "
             f"in {time.perf_counter() - began:.1f} s")  # fmt: skip
    try:
        scratch = folder.with_name(folder.name + f".{os.getpid()}")
        scratch.mkdir(parents=True, exist_ok=True)
        for (_, ov_model), f in zip(converted, files, strict=True):
            ov.save_model(ov_model, scratch / f.name, compress_to_fp16=False)  # the weights as they are
        scratch.rename(folder)  # whole or not at all: a start cut short leaves no half cache
    except OSError as err:
        progress(f"openvino: converted pieces not cached ({err})")
    return converted


def compile_pieces(converted: list[tuple[tuple[str, ...], ov.Model]], precision: str, threads: int,
                   properties: dict, progress: Callable[[str], None],
                   background: _Background) -> tuple[dict, str]:  # fmt: skip
    """Compile every piece for the CPU (fixed shapes later, in the ``background``); returns them and
    the precision OpenVINO actually runs."""
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads,
              "INFERENCE_PRECISION_HINT": OV_PRECISION[precision], **properties}  # fmt: skip
    core = ov.Core()
    try:
        cache_dir().mkdir(parents=True, exist_ok=True)
        config.setdefault("CACHE_DIR", str(cache_dir()))
    except OSError as err:
        progress(f"openvino: no model cache ({err}): every start compiles")

    def compile_model(ov_model: ov.Model) -> ov.CompiledModel:
        return core.compile_model(ov_model, "CPU", config)

    pieces, began, shown = {}, time.perf_counter(), config["INFERENCE_NUM_THREADS"]
    role = json.dumps({k: str(v) for k, v in config.items() if k != "CACHE_DIR"}, sort_keys=True)
    for n, (key, ov_model) in enumerate(converted, 1):
        pieces[key] = _Piece(_Compiled(key, role, ov_model, compile_model, background))
        progress(f"openvino: compiled {n}/{len(converted)} {' '.join(key)} ({OV_PRECISION[precision]}, "
                 f"{shown} thread(s), {time.perf_counter() - began:.1f} s)")  # fmt: skip
    runs = str(next(iter(pieces.values())).compiled.dynamic.get_property("INFERENCE_PRECISION_HINT"))
    return pieces, "bf16" if "bf16" in runs or "bfloat16" in runs else "fp32"


def load(model: STDNet, precision: str, threads: int, properties: dict | None = None,
         progress: Callable[[str], None] = log.info) -> OpenVINOBackend:  # fmt: skip
    """Convert and compile the pieces at ``precision`` (auto: bf16 where native and measured faster)."""
    from stdnet_ros.streaming.backends import window_seconds

    # pybind11 looks numpy's C API up on first use under a lock that deadlocked two threads making
    # that first use at once (the views side by side, or a background compilation beside a frame):
    # made here, on one thread, before any of them starts.
    ov.Tensor(np.zeros(1, np.float32), shared_memory=True)
    key = fingerprint(model)
    converted = convert(model, key, progress)
    built: dict[str, OpenVINOBackend] = {}
    background = _Background(ThreadPoolExecutor(1, thread_name_prefix="stdnet-openvino-compile",
                                                initializer=_yield_to_frames), ShapeLog(shape_log_path(key)))

    def build(wanted: str) -> OpenVINOBackend:
        if wanted not in built:
            pieces, runs = compile_pieces(converted, wanted, threads, properties or {}, progress, background)
            reason = "" if runs == wanted else f"; OpenVINO runs {runs} on this CPU"

            def recompile(more: dict) -> dict[tuple[str, ...], _Piece]:
                more = {**(properties or {}), **more}
                return compile_pieces(converted, wanted, threads, more, progress, background)[0]

            built[wanted] = OpenVINOBackend(pieces, runs, reason, threads, recompile, background)
        return built[wanted]

    choice = choose_precision(precision, torch.device("cpu"), model,
                              measure=lambda p: window_seconds(model, build(p)))  # fmt: skip
    backend = build(choice.precision)
    backend.precision_reason = choice.reason + backend.precision_reason
    return backend
