"""``stdnet-ros score``: the replay report for a run made with ``ros2 bag play`` + ``ros2 bag record``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stdnet_ros.bags import BagError
from stdnet_ros.bags.schema import DEPTH_TOPIC


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "score", help="report on a ros2 bag record of the node fed by ros2 bag play",
        description="Accuracy against the played bag's ground truth next to the baselines, latency "
        f"(recorder arrival of {DEPTH_TOPIC} -> of the node's output), rate and drops, from a bag "
        f"recorded with: ros2 bag record {DEPTH_TOPIC} <ns>/depth_sr/image /diagnostics",
    )
    parser.add_argument("recorded", type=Path, help="the bag ros2 bag record wrote")
    parser.add_argument("--bag", type=Path, required=True, help="the bag that was played (ground truth)")
    parser.add_argument("--out", type=Path, help="report folder to create (default: RECORDED-report)")
    parser.set_defaults(func=run)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from stdnet_ros.replay.recorded import score_recorded  # matplotlib only when scoring


    out = args.out or args.recorded.with_name(args.recorded.name + "-report")
    try:
        _, text = score_recorded(args.recorded, args.bag, out)
    except (BagError, ValueError) as err:
        print(f"stdnet-ros score: error: {err}", file=sys.stderr)
        return 2
    print(text)
    print(f"report: {out.resolve()}")
    return 0
