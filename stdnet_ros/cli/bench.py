"""``stdnet-ros bench``: engine speed (naive vs incremental, per backend), exactness, FLOPs and device peak.

The table and the JSON name the machine (CPU model and the flags its kernels use, the GPU),
since a figure means little without it. On a CPU the cases that share a size and a thread count
are timed together, a frame of each in turn, so that the rows compared saw the same minutes of a shared
host. The naive strategy is the torch reference: its rows run on torch whatever ``--backends`` says.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
from dataclasses import astuple, replace

import torch

from stdnet_ros.bench.engine_bench import (
    REFERENCE_PRODUCTS,
    Case,
    device_peak_gflops,
    flops_per_frame,
    host_reference_s,
    max_rel_error_vs_offline,
    peak_size,
    time_cases,
)
from stdnet_ros.model import STDNet
from stdnet_ros.model.checkpoint import load_model
from stdnet_ros.model.views import VIEW_COUNTS
from stdnet_ros.streaming.backends import BACKENDS
from stdnet_ros.streaming.engine import resolve_device
from stdnet_ros.streaming.runtime import cpu_info, openmp_wait


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="time the streaming engine", description=__doc__)
    p.add_argument("--checkpoint", default="", help="model to time ('' = embedded default)")
    p.add_argument("--mid-channels", type=int, help="time a random-weight network of this width instead "
                   "(64 = the released checkpoints' size)")  # fmt: skip
    p.add_argument("--head-channels", type=int, default=64, help="with --mid-channels: its head width")
    p.add_argument("--sizes", nargs="+", default=["320x240"], help="output sizes WxH")
    p.add_argument("--scales", nargs="+", type=int, default=[4])
    p.add_argument("--window", type=int, default=None,
                   help="frames in the window (default: the checkpoint's own; 7 for a random-weight network)")
    p.add_argument("--views", nargs="+", type=int, default=None, choices=VIEW_COUNTS,
                   help="self-ensemble view counts to time (default: the checkpoint's own; 1 if random)")
    p.add_argument("--lookaheads", nargs="+", type=int, default=[0])
    p.add_argument("--precisions", nargs="+", default=["fp32"], help="fp32, bf16, fp16 (CUDA), auto")
    p.add_argument("--strategies", nargs="+", default=["naive", "incremental"])
    p.add_argument("--backends", nargs="+", default=["auto"], choices=BACKENDS,
                   help="inference backends to time (auto: OpenVINO on a CPU where installed, else torch)")
    p.add_argument("--threads", nargs="+", type=int, default=[0],
                   help="inference thread counts to time, torch's and OpenVINO's (0 = as torch set it)")
    p.add_argument("--timed", type=int, default=10, help="steady-state frames timed per case (median, p90); "
                   "on a CPU the cases of a size and thread count take a frame each in turn")  # fmt: skip
    p.add_argument("--device", default="auto")
    p.add_argument("--flops", action="store_true", help="count FLOPs per frame and the fraction of peak")
    p.add_argument(
        "--check", action="store_true", help="also measure max_rel_error_vs_offline and speedup_vs_naive"
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON on the last line")
    p.set_defaults(func=run)


def _model(args: argparse.Namespace) -> tuple[STDNet, str, int, list[int]]:
    """The network to time, its name, and the window and view counts to time it at."""
    if args.mid_channels:
        torch.manual_seed(0)
        model = STDNet(args.scales[0], args.mid_channels, args.head_channels).eval()
        name = f"random C={args.mid_channels} head={args.head_channels}"
        return model, name, args.window or 7, args.views or [1]
    model, meta = load_model(args.checkpoint or None, scale=args.scales[0])
    name = f"{meta.name} C={meta.mid_channels} base={meta.base}"
    return model, name, args.window or meta.window, args.views or [meta.views]


ISA_LIMITS = ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")  # oneDNN's (torch and OpenVINO), ATen's


def machine(device: torch.device) -> dict:
    """What the timings ran on: the CPU's flags, and any instruction-set limit set in the environment
    (``ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2`` times an AVX-512 CPU as an AVX2 one would
    compute, on its own caches and clock: an estimate, named as such)."""
    info = cpu_info()
    out = {"cpu": info.model, "cpu_flags": list(info.flags), "cpu_cores": info.cores}
    out["isa_limit"] = {name: os.environ[name] for name in ISA_LIMITS if os.environ.get(name)}
    out["openmp_wait"] = openmp_wait()
    out["torch"] = torch.__version__
    try:
        import openvino

        out["openvino"] = openvino.get_version().split("-")[0]
    except ImportError:
        pass
    if device.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(device)
    return out


def add_flops(model: STDNet, rows: list[dict], device: torch.device) -> dict[str, float]:
    """GFLOP per frame (counted once per shape) and each row's fraction of its precision's peak."""
    peaks: dict[str, float] = {}
    counts: dict[tuple, float] = {}
    for row in rows:
        row_case = Case(**{k: row[k] for k in Case.__annotations__})
        case = replace(row_case, precision="fp32", threads=0, backend="torch")
        if astuple(case) not in counts:
            counts[astuple(case)] = flops_per_frame(model, case) / 1e9
        if row["precision"] not in peaks:
            peaks[row["precision"]] = device_peak_gflops(str(device), row["precision"])
        row["gflops_per_frame"] = counts[astuple(case)]
        row["fraction_of_peak"] = row["gflops_per_frame"] * row["fps"] / peaks[row["precision"]]
    return peaks


def run(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    model, name, window, view_counts = _model(args)
    grid = itertools.product(args.sizes, args.scales, args.lookaheads, args.precisions, args.strategies,
                             args.threads, view_counts, args.backends)  # fmt: skip
    every = [
        Case(int(size.split("x")[0]), int(size.split("x")[1]), scale, window, la, prec, strat, threads, views,
             "torch" if strat == "naive" else backend)  # the naive rows are torch's, whatever the backends
        for size, scale, la, prec, strat, threads, views, backend in grid
        if not (prec == "fp16" and device.type == "cpu")
    ]  # fmt: skip
    cases = list({astuple(case): case for case in every}.values())
    reference = {"before": host_reference_s()}
    rows = time_cases(model, cases, str(device), args.timed, progress=True)
    reference["after"] = host_reference_s()
    peaks = add_flops(model, rows, device) if args.flops else None
    summary = {
        "model": name,
        "device": str(device),
        **machine(device),
        "threads": sorted({r["threads"] for r in rows}),
        "host_reference_s": reference,
        "peak_gflops": peaks,
        "peak_matmul_size": peak_size(device) if args.flops else None,
        "rows": rows,
    }
    if args.check:
        check = Case(320, 240, 4, 7, 0, "fp32", views=view_counts[0])
        summary["max_rel_error_vs_offline"] = max(
            max_rel_error_vs_offline(model, Case(64, 48, 4, 7, la, views=view_counts[0])) for la in (0, 2)
        )
        naive, fast = time_cases(model, [replace(check, strategy="naive"), check], str(device), args.timed)
        summary["speedup_vs_naive"] = naive["ms_per_frame"] / fast["ms_per_frame"]
    print_table(summary, args.flops)
    if args.check:
        print(f"max_rel_error_vs_offline {summary['max_rel_error_vs_offline']:.2e}")
        print(f"speedup_vs_naive {summary['speedup_vs_naive']:.2f}")
    if args.json:
        print(json.dumps(summary))
    return 0


def print_table(summary: dict, flops: bool) -> None:
    flags = " ".join(summary["cpu_flags"]) or "no avx2/avx512/amx"
    gpu = f", {summary['gpu']}" if "gpu" in summary else ""
    openvino = f", openvino {summary['openvino']}" if "openvino" in summary else ""
    limit = "".join(f", limited by {k}={v}" for k, v in summary["isa_limit"].items())
    print(f"{summary['model']} on {summary['device']}: {summary['cpu']} ({summary['cpu_cores']} cores; "
          f"{flags}{limit}){gpu}, torch {summary['torch']}{openvino}, "
          f"OpenMP wait: {summary['openmp_wait']}")  # fmt: skip
    reference = summary["host_reference_s"]
    before, after = (" / ".join(f"{s:.2f}" for s in reference[k]) for k in ("before", "after"))
    print(f"host speed: {before} s before, {after} s after the cases ({REFERENCE_PRODUCTS} float32 512^2 "
          f"products on one thread, on each core; compare runs of like speed)")  # fmt: skip
    print(f"{'size':>9} {'x':>3} {'W':>2} {'V':>2} {'L':>2} {'backend':>8} {'prec':>5} {'thr':>3} "
          f"{'strategy':>12} {'ms/frame':>9} {'p90 ms':>8} {'fps':>7}"
          + (f" {'GFLOP':>7} {'of peak':>7}" if flops else ""))  # fmt: skip
    for r in summary["rows"]:
        line = (
            f"{r['width']}x{r['height']:<5} {r['scale']:>3} {r['window']:>2} {r['views']:>2} "
            f"{r['lookahead']:>2} {r['backend']:>8} "
            f"{r['precision']:>5} {r['threads']:>3} {r['strategy']:>12} {r['ms_per_frame']:>9.1f} "
            f"{r['ms_p90']:>8.1f} {r['fps']:>7.2f}"
        )
        if flops:
            line += f" {r['gflops_per_frame']:>7.2f} {r['fraction_of_peak']:>7.2f}"
        print(line)
    if flops:
        print(f"peak GFLOP/s (matmul {summary['peak_matmul_size']}^2): "
              + ", ".join(f"{k} {v:.0f}" for k, v in summary["peak_gflops"].items()))  # fmt: skip
