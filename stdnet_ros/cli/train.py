"""``stdnet-ros train``: train STDNet on synthetic clips (published recipe by default)."""

from __future__ import annotations

import argparse
from dataclasses import MISSING, fields

from stdnet_ros.training.trainer import TrainConfig, Trainer


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "train",
        help="train a model on synthetic clips",
        description="Train STDNet. Multi-GPU: torchrun --nproc_per_node=N -m stdnet_ros train ...",
    )
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = f.default_factory() if f.default is MISSING else f.default
        if f.type == "bool":
            parser.add_argument(flag, action="store_true", help=f"(default {default})")
        elif f.type.startswith("list["):
            kind = int if f.type == "list[int]" else float
            parser.add_argument(flag, type=kind, nargs="+", default=default, help=f"(default {default})")
        else:
            parser.add_argument(flag, type=type(default), default=default, help=f"(default {default})")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    path = Trainer(cfg).fit()
    print(f"model written to {path}")
    return 0
