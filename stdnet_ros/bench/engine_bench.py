"""Measure the engine on synthetic random streams: time per frame, exactness, FLOPs, memory.

Random inputs are enough here: the network's cost does not depend on pixel
values, and exactness must hold for any input.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode
from tqdm import tqdm

from stdnet_ros.model import STDNet
from stdnet_ros.model.views import predict_views
from stdnet_ros.streaming.engine import PRECISIONS, StreamingEngine, resolve_device
from stdnet_ros.streaming.runtime import set_threads, threads_kept

MAX_DEPTH = 20.0
PROBE_SIZE = 256  # the product timed first, to size the peak measurement
WARM_FRAMES = 2  # pushed after the window fills, untimed: allocator growth, cuDNN autotuning
REFERENCE_PRODUCTS = 400  # host_reference_s's matrix products


@dataclass
class Case:
    width: int  # output (RGB) size
    height: int
    scale: int = 4
    window: int = 7
    lookahead: int = 0
    precision: str = "fp32"  # or auto: the row then says what the engine chose
    strategy: str = "incremental"
    threads: int = 0  # torch intra-op threads; 0 = leave as set
    views: int = 1  # self-ensemble views (model.views): each one network evaluation per frame
    backend: str = "torch"  # streaming.backends: torch, openvino or auto (the row says what ran)


def random_stream(case: Case, frames: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray, float]]:
    rng = np.random.default_rng(seed)
    h, w = case.height // case.scale, case.width // case.scale
    return [
        (
            rng.integers(0, 256, (case.height, case.width, 3), dtype=np.uint8),
            rng.uniform(0.5, 15.0, (h, w)).astype(np.float32),
            0.033 * k,
        )
        for k in range(frames)
    ]


def _engine(model: STDNet, case: Case, device: str) -> StreamingEngine:
    return StreamingEngine(
        model,
        max_depth=MAX_DEPTH,
        window=case.window,
        lookahead=case.lookahead,
        device=device,
        precision=case.precision,
        strategy=case.strategy,
        views=case.views,
        backend=case.backend,
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class _Timed:
    """One case's engine, warmed up, and the frames timed on it."""

    case: Case
    engine: StreamingEngine
    frames: list[tuple[np.ndarray, np.ndarray, float]]  # still to be timed
    times: list[float] = field(default_factory=list)

    def push(self) -> None:
        _sync(self.engine.device)
        began = time.perf_counter()
        self.engine.push(*self.frames.pop(0))
        _sync(self.engine.device)
        self.times.append(time.perf_counter() - began)


def _warmed(model: STDNet, case: Case, device: str, timed: int) -> _Timed:
    """The case's engine with its window filled and WARM_FRAMES more pushed, the backend's
    background work awaited, and WARM_FRAMES more pushed."""
    engine = _engine(model, case, device)
    warm = case.window + 2 * WARM_FRAMES
    stream = random_stream(case, warm + timed)
    for n, frame in enumerate(stream[:warm]):
        engine.push(*frame)
        if n == case.window + WARM_FRAMES - 1:
            engine.backend.settle()  # what the backend compiles in the background for these shapes
    if engine.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(engine.device)
    return _Timed(case, engine, stream[warm:])


def time_cases(model: STDNet, cases: list[Case], device: str = "cpu", timed: int = 10,
               progress: bool = False) -> list[dict]:  # fmt: skip
    """Steady-state latency per frame of each case (L = 0: push to output): median and 90th
    percentile of ``timed`` frames after :func:`_warmed`'s warm-up, the backend loaded (compiled)
    with the case's threads before anything is timed.

    On a CPU the cases that share a size, a scale and a thread count are timed together, one frame
    of each in turn, the order rotated every frame: a shared host's speed moves from minute to
    minute, and cases timed one after the other had compared one minute with another (OpenVINO
    against torch at 320 x 240 and 2 threads: 1.19-3.05x in fourteen runs; frames alternated, 1.49-2.13x,
    median 1.84, in 142 windows of 20 over 15 minutes, while torch moved 107-194 ms). Other sizes
    are timed apart: a large frame's memory traffic slowed the small ones that followed it. On a
    GPU each case runs alone, so that its peak memory is its own. Torch's thread count is restored after."""
    alone = resolve_device(device).type == "cuda"
    groups: dict[tuple, list[int]] = {}
    for k, case in enumerate(cases):
        key = (case.threads, case.scale, case.width, case.height, k if alone else -1)
        groups.setdefault(key, []).append(k)
    rows: list[dict] = [{} for _ in cases]
    bar = tqdm(total=len(cases) + timed * len(cases), desc="bench", unit="frame", disable=not progress)
    with threads_kept(), bar:
        for (threads, scale, *_), members in groups.items():
            if threads:
                set_threads(threads)
            model.scale = scale
            group = _time_together(model, [cases[k] for k in members], device, timed, bar)
            for k, row in zip(members, group, strict=True):
                rows[k] = row
    return rows


def _time_together(model: STDNet, cases: list[Case], device: str, timed: int, bar: tqdm) -> list[dict]:
    """:func:`time_cases` for one group, whose engines live only as long as this call."""
    runs = []
    for case in cases:
        runs.append(_warmed(model, case, device, timed))
        bar.update()
    for turn in range(timed):
        for run in runs[turn % len(runs) :] + runs[: turn % len(runs)]:
            run.push()
            bar.update()
    return [_row(run) for run in runs]


def _row(run: _Timed) -> dict:
    engine = run.engine
    ms = 1000.0 * float(np.median(run.times))
    peak = torch.cuda.max_memory_allocated(engine.device) / 2**20 if engine.device.type == "cuda" else None
    return {
        **asdict(run.case),
        "precision": engine.precision,
        "precision_reason": engine.precision_reason,
        "backend": engine.backend.name,
        "threads": engine.backend.threads,
        "device": str(engine.device),
        "timed_frames": len(run.times),
        "ms_per_frame": ms,
        "ms_p90": 1000.0 * float(np.percentile(run.times, 90)),
        "fps": 1000.0 / ms,
        "peak_mib": peak,
    }


def flops_per_frame(model: STDNet, case: Case) -> float:
    """FLOPs of one steady-state push (convolutions and the deformable convs' matrix products).

    Counted on the CPU in fp32 by torch whatever the case's precision and backend: the count does
    not depend on them, and fp16 does not run on a CPU. On one thread: the counter sees the
    operations of the thread that enters it, and with two threads or more the views run on
    threads of their own (it had counted 0 for the two-view default).
    """
    case = replace(case, precision="fp32", backend="torch")  # the counter sees torch's operations only
    model.scale = case.scale
    with threads_kept():
        set_threads(1)
        engine = _engine(model, case, "cpu")
        stream = random_stream(case, case.window + 1)
        for rgb, depth, stamp in stream[:-1]:
            engine.push(rgb, depth, stamp)
        counter = FlopCounterMode(display=False)
        with counter:
            engine.push(*stream[-1])
    return float(counter.get_total_flops())


def max_rel_error_vs_offline(model: STDNet, case: Case, frames: int = 10) -> float:
    """The exactness contract on random inputs: each output against the network on its window."""
    model.scale = case.scale
    engine = _engine(model, case, "cpu")
    stream = random_stream(case, frames, seed=1)
    worst = 0.0
    for n, (rgb, depth, stamp) in enumerate(stream):
        out = engine.push(rgb, depth, stamp)
        if out is None:
            continue
        t, start = n - case.lookahead, max(0, n - case.window + 1)
        window = stream[start : n + 1]
        lr = torch.from_numpy(np.stack([d for _, d, _ in window]))[None, :, None] / MAX_DEPTH
        guide = torch.from_numpy(np.stack([r for r, _, _ in window])).permute(0, 3, 1, 2)[None].float() / 255
        with torch.inference_mode():
            ref = predict_views(model, lr.clamp(0, 1), guide, case.views)[0, t - start, 0].numpy() * MAX_DEPTH
        ok = np.isfinite(out.depth)
        worst = max(worst, float(np.linalg.norm(out.depth[ok] - ref[ok]) / np.linalg.norm(ref[ok])))
    return worst


def host_reference_s(products: int = REFERENCE_PRODUCTS) -> list[float]:
    """Seconds for ``products`` float32 512 x 512 matrix products on one thread, on each usable core
    in turn: the host's speed at the time. A shared cloud host's varied 1.9x within an hour (0.66-1.25
    s on a 2-core Xeon), and its two cores apart (1.09 and 1.37 s at one moment), which a frame split
    across both feels; so ``bench`` measures it before and after its cases, and only runs of like
    speed are compared. One figure where the process cannot pin itself (not Linux)."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [None]
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(512, 512, generator=g), torch.randn(512, 512, generator=g)
    times = []
    with threads_kept():
        torch.set_num_threads(1)
        try:
            for core in cores:
                if core is not None:
                    os.sched_setaffinity(0, {core})
                for _ in range(20):
                    a @ b
                began = time.perf_counter()
                for _ in range(products):
                    a @ b
                times.append(time.perf_counter() - began)
        finally:
            if cores != [None]:
                os.sched_setaffinity(0, set(cores))
    return times


def peak_size(device: torch.device) -> int:
    """A product big enough to saturate the device: 2048^2 fills a CPU, an H100 needs 8192^2."""
    return 8192 if device.type == "cuda" else 2048


def device_peak_gflops(device: str = "cpu", precision: str = "fp32", size: int = 0, reps: int = 5) -> float:
    """Measured peak of dense matrix products in ``precision``: the ceiling convolutions can approach.

    Each precision has its own (tensor cores, AVX-512 bf16): rows are compared with their own.
    Without a given ``size``, a product that would take over a second (bf16 emulated on an AVX2
    CPU: ~13 s at 2048^2) is shrunk to about a second, which such a slow path saturates anyway.
    """
    dev = torch.device(device)
    dtype = PRECISIONS[precision]
    if not size:
        size = peak_size(dev)
        probe = torch.randn(PROBE_SIZE, PROBE_SIZE, device=dev, dtype=dtype)
        probe @ probe
        _sync(dev)
        began = time.perf_counter()
        probe @ probe
        _sync(dev)
        seconds = (time.perf_counter() - began) * (size / PROBE_SIZE) ** 3
        if seconds > 1.0:
            size = max(PROBE_SIZE, int(size / seconds ** (1 / 3)) // 64 * 64)
    a = torch.randn(size, size, device=dev, dtype=dtype)
    b = torch.randn(size, size, device=dev, dtype=dtype)
    a @ b
    _sync(dev)
    times = []
    for _ in range(reps):
        began = time.perf_counter()
        a @ b
        _sync(dev)
        times.append(time.perf_counter() - began)
    return 2 * size**3 / float(np.median(times)) / 1e9
