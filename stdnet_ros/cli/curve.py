"""``stdnet-ros curve CHECKPOINT OUT.png``: plot the learning curve stored in a checkpoint we trained."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stdnet_ros.model.checkpoint import CheckpointError, read_checkpoint


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("curve", help="plot a trained checkpoint's learning curve", description=__doc__)
    p.add_argument("checkpoint")
    p.add_argument("out", help="PNG to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stdnet_ros.training.curves import plot_history  # matplotlib only when plotting

    try:
        _, meta = read_checkpoint(args.checkpoint)
    except CheckpointError as err:
        print(f"stdnet-ros curve: error: {err}", file=sys.stderr)
        return 2
    extra = meta.get("extra", {})
    if not extra.get("history"):
        print(f"stdnet-ros curve: error: {args.checkpoint} carries no training history", file=sys.stderr)
        return 2
    cfg = extra["config"]
    title = (f"{meta.get('name', '')}: C={cfg['mid_channels']}, window {cfg['frames']}, base {cfg['base']}, "
             f"loss {cfg['loss']}, sensor {cfg['sensor']}")  # fmt: skip
    print(plot_history(extra["history"], extra["scales"], cfg["steps_per_epoch"], Path(args.out), title))
    return 0
