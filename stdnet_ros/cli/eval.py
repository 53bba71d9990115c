"""``stdnet-ros eval``: RMSE/MAE/tRMSE of STDNet (offline and streaming) next to classical baselines."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from stdnet_ros.data.datasets import open_dataset
from stdnet_ros.data.frames import Clip
from stdnet_ros.data.rig_folder import is_rig_folder, read_rig_clips
from stdnet_ros.data.synthetic import generate_clip
from stdnet_ros.evaluation.baselines import BASELINES
from stdnet_ros.evaluation.evaluator import Evaluator, ModelSpec, format_table
from stdnet_ros.model.checkpoint import CheckpointError, load_model
from stdnet_ros.model.stdnet import SCALES
from stdnet_ros.model.views import VIEW_COUNTS
from stdnet_ros.streaming.backends import BACKENDS
from stdnet_ros.streaming.engine import resolve_device

log = logging.getLogger("stdnet_ros.eval")
HELD_OUT_SEED = 1_000_000_000  # synthetic evaluation seeds start here, far from any training seed


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "eval",
        help="score STDNet and baselines on a data set folder or synthetic clips",
        description="Score STDNet offline (chunks of T frames) and streaming (the node's engine, W and L) "
        "next to nearest/bicubic/guided-filter baselines, in cm as the STDNet paper computes them.",
    )
    parser.add_argument("--data", required=True,
                        help="DyDToF/TartanAir/DynamicReplica folder, a rig folder (data/rig_folder.py), "
                        "or 'synthetic' (held-out clips)")
    parser.add_argument("--index", help="index file (default: every lists/*.txt in the data folder)")
    parser.add_argument("--scales", type=int, nargs="+", default=[4], choices=SCALES)
    parser.add_argument("--checkpoint", nargs="*", default=[""],
                        help="checkpoint file(s), one per scale; '' or omitted = the embedded default model")
    parser.add_argument("--no-model", action="store_true", help="baselines only")
    parser.add_argument("--window", type=int, default=None,
                        help="streaming window W (frames; default: the model's own, from its checkpoint)")
    parser.add_argument("--views", type=int, default=None, choices=VIEW_COUNTS,
                        help="self-ensemble views, offline and streaming (default: the model's own)")
    parser.add_argument("--lookahead", type=int, default=0, help="streaming lookahead L (frames)")
    parser.add_argument("--chunk", type=int, default=None,
                        help="offline chunk length T (default: W; 0 = whole clip)")
    parser.add_argument("--frames", type=int, default=None, help="use only the first N frames of each clip")
    parser.add_argument("--baselines", nargs="*", default=list(BASELINES), choices=list(BASELINES))
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 or auto")
    parser.add_argument("--backend", default="auto", choices=BACKENDS,
                        help="streaming backend (auto: OpenVINO on a CPU where installed, else torch)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16", "auto"),
                        help="streaming precision (offline runs fp32)")
    parser.add_argument("--synthetic-clips", type=int, default=4, help="with --data synthetic: clip count")
    parser.add_argument("--size", type=int, nargs=2, default=[256, 320], metavar=("H", "W"),
                        help="with --data synthetic: frame size")
    parser.add_argument("--json", action="store_true", help="print the table as JSON on the last line")
    parser.set_defaults(func=run)  # fmt: skip


def clip_source(args: argparse.Namespace) -> Callable[[int], Iterable[Clip]]:
    """scale -> clips, read lazily so only one scale's frames are in memory at a time."""
    frames = args.frames
    if args.data == "synthetic":
        height, width = args.size
        return lambda scale: [
            generate_clip(HELD_OUT_SEED + i, frames=frames or 14, height=height, width=width, scale=scale)
            for i in range(args.synthetic_clips)
        ]

    if is_rig_folder(args.data):
        return lambda scale: read_rig_clips(args.data, scale, frames)

    def read(scale: int) -> list[Clip]:
        reader = open_dataset(Path(args.data), scale, index=args.index)
        return [reader.clip(seq, 0, min(frames or seq.count, seq.count)) for seq in reader.sequences]

    return read


def load_models(args: argparse.Namespace) -> tuple[dict[int, ModelSpec], dict[int, str]]:
    """Models by scale (a checkpoint may serve several), and why a scale has none.

    A scale without a model is an error when checkpoints were named; with the
    embedded default it is reported next to the table and the baselines still run.
    """
    if args.no_model:
        return {}, {s: "--no-model" for s in args.scales}
    paths = [p for p in args.checkpoint if p] or [None]
    models: dict[int, ModelSpec] = {}
    missing: dict[int, str] = {}
    for scale in args.scales:
        errors = []
        for path in paths:
            try:
                model, meta = load_model(path, scale, args.device)
            except CheckpointError as err:
                errors.append(str(err))
                continue
            models[scale] = ModelSpec(model, meta.max_depth, meta.name or "default", meta.window, meta.views)
            break
        else:
            if paths != [None]:
                raise CheckpointError(f"no checkpoint given serves x{scale}: " + "; ".join(errors))
            missing[scale] = errors[0]
    return models, missing


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        args.device = str(resolve_device(args.device))
        models, missing = load_models(args)
        evaluator = Evaluator(clip_source(args), models, window=args.window, lookahead=args.lookahead,
                              chunk=args.chunk, views=args.views, baselines=args.baselines,
                              device=args.device, backend=args.backend, precision=args.precision)  # fmt: skip
        rows = evaluator.run(args.scales)
    except (CheckpointError, FileNotFoundError, ValueError) as err:
        print(f"stdnet-ros eval: error: {err}", file=sys.stderr)
        return 2
    print(format_table(rows))
    for scale, reason in missing.items():
        print(f"x{scale}: no model scored ({reason})")
    if args.json:
        config = {"data": args.data, "scales": args.scales, "window": args.window, "views": args.views,
                  "lookahead": args.lookahead, "chunk": args.chunk, "frames": args.frames,
                  "device": args.device, "backend": args.backend, "precision": args.precision}  # fmt: skip
        missing_json = {str(k): v for k, v in missing.items()}
        print(json.dumps({"config": config, "rows": [r.as_dict() for r in rows], "missing": missing_json}))
    return 0
