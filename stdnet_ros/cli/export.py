"""``stdnet-ros export``: the window network as ONNX, verified with onnxruntime."""

from __future__ import annotations

import argparse

from stdnet_ros.export import check_onnx, export_onnx
from stdnet_ros.model.checkpoint import load_model


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export the network to ONNX", description=__doc__)
    p.add_argument("out", help="output .onnx path")
    p.add_argument("--checkpoint", default="", help="'' = embedded default")
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--frames", type=int, default=7, help="window length baked into the graph")
    p.add_argument("--size", default="320x240", help="output size WxH baked into the graph")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    model, meta = load_model(args.checkpoint or None, scale=args.scale)
    width, height = (int(v) for v in args.size.split("x"))
    path = export_onnx(model, args.out, args.frames, width, height)
    error = check_onnx(model, path, args.frames, width, height)
    print(f"wrote {path} ({meta.name}, x{args.scale}, {args.frames} frames, {width}x{height})")
    print(f"onnxruntime vs PyTorch relative error: {error:.2e}")
    if meta.views > 1:
        print(f"note: the graph is one view; {meta.name} runs with {meta.views} self-ensemble views "
              "(model.views): run it on each turned input and average the outputs turned back, as the "
              "engine does")  # fmt: skip
    return 0 if error < 1e-4 else 1
