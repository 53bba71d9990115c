"""``stdnet-ros validate``: score a checkpoint on the trainer's held-out synthetic clips.

The trainer scores each epoch on clips drawn from its own scene mix; comparing two runs trained on
different mixes needs one judge for both. This scores any checkpoint (default: the embedded model)
on the validation clips of a named scene mix, full clips and streaming, next to its base and the
guided filter, exactly as the trainer's ``validate`` does: generated data only, never DyDToF.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields

from stdnet_ros.model.checkpoint import default_checkpoint, load_model, read_checkpoint
from stdnet_ros.model.views import VIEW_COUNTS
from stdnet_ros.training.trainer import TrainConfig, Trainer


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "validate", help="score a checkpoint on generated validation clips",
        description=__doc__.splitlines()[0],
    )  # fmt: skip
    parser.add_argument("--checkpoint", default="",
                        help="default: the embedded model (with one --scales value, that scale's own file)")
    parser.add_argument("--scene", default="room+indoor", help="scene preset(s), as train's --scene")
    parser.add_argument("--render", type=int, default=640, help="camera size the clips are cropped from")
    parser.add_argument("--size", type=int, default=128, help="crop size")
    parser.add_argument("--frames", type=int, default=3, help="clip length (streaming fills 1..frames)")
    parser.add_argument("--window", type=int, default=0,
                        help="streaming window W (frames; 0: the whole clip, windows filling 1..frames)")
    parser.add_argument("--views", type=int, default=0, choices=(0, *VIEW_COUNTS),
                        help="self-ensemble views (0: the checkpoint's own)")
    parser.add_argument("--val-clips", type=int, default=24)
    parser.add_argument("--scales", type=int, nargs="+", help="default: the scales the checkpoint serves")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.set_defaults(func=run)


def config_for(checkpoint: str, args: argparse.Namespace) -> TrainConfig:
    """The checkpoint's architecture (from its training configuration when it has one, else from
    its metadata) with the validation set named on the command line."""
    _, raw = read_checkpoint(checkpoint)
    _, meta = load_model(checkpoint)
    known = {f.name for f in fields(TrainConfig)}
    stored = {k: v for k, v in raw.get("extra", {}).get("config", {}).items() if k in known}
    arch = {
        "mid_channels": meta.mid_channels, "head_channels": meta.head_channels, "base": meta.base,
        "guided_radius_x": meta.guided_radius_x, "guided_eps": meta.guided_eps, "max_depth": meta.max_depth,
    }  # fmt: skip
    scales = args.scales or raw.get("extra", {}).get("scales") or [meta.scale]
    return TrainConfig(**{
        **stored, **arch, "init": checkpoint, "resume": False, "scene": args.scene, "render": args.render,
        "size": args.size, "frames": args.frames, "val_clips": args.val_clips, "scales": list(scales),
        "threads": args.threads, "device": "cpu",
    })  # fmt: skip


def run(args: argparse.Namespace) -> int:
    one_scale = args.scales[0] if args.scales and len(args.scales) == 1 else None
    args.checkpoint = args.checkpoint or str(default_checkpoint(one_scale))
    cfg = config_for(args.checkpoint, args)
    views = args.views or load_model(args.checkpoint)[1].views
    errors = Trainer(cfg).validate(window=args.window or None, views=views)
    if args.json:
        print(json.dumps(errors))
        return 0
    print(f"{args.checkpoint}: {cfg.val_clips} clips of {cfg.frames} frames, scene {cfg.scene} "
          f"@ {cfg.render}, {cfg.size} px crops, streaming W={args.window or cfg.frames}, {views} view(s) "
          "(RMSE cm)")  # fmt: skip
    for scale in cfg.scales:
        row = {k: errors[f"val_x{scale}_{k}_rmse_cm"] for k in ("guided", "base")}
        row["model"] = errors[f"val_x{scale}_rmse_cm"]
        row["model, streaming"] = errors[f"val_x{scale}_stream_rmse_cm"]
        print(f"  x{scale}: " + "  ".join(f"{k} {v:.2f}" for k, v in row.items()))
    return 0
