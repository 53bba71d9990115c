"""Measure the engine on synthetic random streams: time per frame, exactness, FLOPs, memory.

Random inputs are enough here: the network's cost does not depend on pixel
values, and exactness must hold for any input.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from stdnet_ros.engine import StreamingEngine
from stdnet_ros.model import STDNet

MAX_DEPTH = 20.0


@dataclass
class Case:
    width: int  # output (RGB) size
    height: int
    scale: int = 4
    window: int = 7
    lookahead: int = 0
    precision: str = "fp32"
    strategy: str = "incremental"


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
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_case(model: STDNet, case: Case, device: str = "cpu", timed: int = 3) -> dict:
    """Steady-state time per frame: the window is filled first, then ``timed`` frames are timed."""
    model.scale = case.scale
    engine = _engine(model, case, device)
    stream = random_stream(case, case.window + timed)
    for rgb, depth, stamp in stream[: case.window]:
        engine.push(rgb, depth, stamp)
    if engine.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(engine.device)
    times = []
    for rgb, depth, stamp in stream[case.window :]:
        _sync(engine.device)
        began = time.perf_counter()
        engine.push(rgb, depth, stamp)
        _sync(engine.device)
        times.append(time.perf_counter() - began)
    ms = 1000.0 * float(np.median(times))
    peak = torch.cuda.max_memory_allocated(engine.device) / 2**20 if engine.device.type == "cuda" else None
    return {
        **asdict(case),
        "device": str(engine.device),
        "ms_per_frame": ms,
        "fps": 1000.0 / ms,
        "peak_mib": peak,
    }


def flops_per_frame(model: STDNet, case: Case) -> float:
    """FLOPs of one steady-state push (convolutions and the deformable convs' matrix products)."""
    model.scale = case.scale
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
            ref = model(lr.clamp(0, 1), guide)[0][0, t - start, 0].numpy() * MAX_DEPTH
        ok = np.isfinite(out.depth)
        worst = max(worst, float(np.linalg.norm(out.depth[ok] - ref[ok]) / np.linalg.norm(ref[ok])))
    return worst


def device_peak_gflops(device: str = "cpu", dtype: torch.dtype = torch.float32, size: int = 2048) -> float:
    """Measured peak of dense matrix products: the ceiling convolutions can approach."""
    dev = torch.device(device)
    a = torch.randn(size, size, device=dev, dtype=dtype)
    b = torch.randn(size, size, device=dev, dtype=dtype)
    a @ b
    _sync(dev)
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        a @ b
        _sync(dev)
        best = min(best, time.perf_counter() - began)
    return 2 * size**3 / best / 1e9
