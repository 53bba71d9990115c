"""``stdnet-ros bench``: engine speed (naive vs incremental), exactness, FLOPs and device peak."""

from __future__ import annotations

import argparse
import itertools
import json
import platform

import torch
from tqdm import tqdm

from stdnet_ros.bench.engine_bench import (
    Case,
    device_peak_gflops,
    flops_per_frame,
    max_rel_error_vs_offline,
    time_case,
)
from stdnet_ros.engine import resolve_device
from stdnet_ros.model import STDNet
from stdnet_ros.model.checkpoint import load_model


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="time the streaming engine", description=__doc__)
    p.add_argument("--checkpoint", default="", help="model to time ('' = embedded default)")
    p.add_argument("--mid-channels", type=int, help="time a random-weight network of this width instead "
                   "(64 = the released checkpoints' size)")  # fmt: skip
    p.add_argument("--sizes", nargs="+", default=["320x240"], help="output sizes WxH")
    p.add_argument("--scales", nargs="+", type=int, default=[4])
    p.add_argument("--window", type=int, default=7)
    p.add_argument("--lookaheads", nargs="+", type=int, default=[0])
    p.add_argument("--precisions", nargs="+", default=["fp32"])
    p.add_argument("--strategies", nargs="+", default=["naive", "incremental"])
    p.add_argument("--timed", type=int, default=3, help="steady-state frames timed per case")
    p.add_argument("--device", default="auto")
    p.add_argument("--flops", action="store_true", help="count FLOPs per frame and the fraction of peak")
    p.add_argument(
        "--check", action="store_true", help="also measure max_rel_error_vs_offline and speedup_vs_naive"
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON on the last line")
    p.set_defaults(func=run)


def _model(args: argparse.Namespace) -> tuple[STDNet, str]:
    if args.mid_channels:
        torch.manual_seed(0)
        return STDNet(args.scales[0], args.mid_channels).eval(), f"random C={args.mid_channels}"
    model, meta = load_model(args.checkpoint or None, scale=args.scales[0])
    return model, f"{meta['name']} C={meta['mid_channels']}"


def run(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    model, name = _model(args)
    cases = [
        Case(int(size.split("x")[0]), int(size.split("x")[1]), scale, args.window, la, prec, strat)
        for size, scale, la, prec, strat in itertools.product(
            args.sizes, args.scales, args.lookaheads, args.precisions, args.strategies
        )
        if not (prec == "fp16" and device.type == "cpu")
    ]
    rows = [
        time_case(model, case, str(device), args.timed) for case in tqdm(cases, desc="bench", unit="case")
    ]
    peak = device_peak_gflops(str(device)) if args.flops else None
    if args.flops:
        for row in rows:
            row["gflops_per_frame"] = (
                flops_per_frame(model, Case(**{k: row[k] for k in Case.__annotations__})) / 1e9
            )
            row["fraction_of_peak"] = row["gflops_per_frame"] * row["fps"] / peak
    summary = {
        "model": name,
        "device": str(device),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "peak_gflops": peak,
        "rows": rows,
    }
    if args.check:
        check = Case(320, 240, 4, 7, 0, "fp32")
        summary["max_rel_error_vs_offline"] = max(
            max_rel_error_vs_offline(model, Case(64, 48, 4, 7, la)) for la in (0, 2)
        )
        naive = time_case(model, Case(**{**check.__dict__, "strategy": "naive"}), str(device), args.timed)
        fast = time_case(model, check, str(device), args.timed)
        summary["speedup_vs_naive"] = naive["ms_per_frame"] / fast["ms_per_frame"]
    print(f"{'size':>9} {'x':>3} {'L':>2} {'prec':>5} {'strategy':>12} {'ms/frame':>10} {'fps':>7}")
    for r in rows:
        print(
            f"{r['width']}x{r['height']:<5} {r['scale']:>3} {r['lookahead']:>2} {r['precision']:>5} "
            f"{r['strategy']:>12} {r['ms_per_frame']:>10.1f} {r['fps']:>7.2f}"
        )
    if args.check:
        print(f"max_rel_error_vs_offline {summary['max_rel_error_vs_offline']:.2e}")
        print(f"speedup_vs_naive {summary['speedup_vs_naive']:.2f}")
    if args.json:
        print(json.dumps(summary))
    return 0
