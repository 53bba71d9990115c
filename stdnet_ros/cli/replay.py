"""``stdnet-ros replay``: a bag through the real node process over DDS, scored into a report folder."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from stdnet_ros.bags import BagError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "replay", help="replay a bag through the live node and write an evaluation report",
        description="Start stdnet_node in its own process, publish the bag over DDS at --rate x recorded "
        "speed (stamps moved to the wall clock), record its outputs, and report accuracy against ground "
        "truth next to the baselines, latency p50/p95/p99, throughput and dropped frames with reasons.",
    )
    parser.add_argument("bag", type=Path, help="rosbag2 folder (MCAP or sqlite3) from `stdnet-ros convert`")
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed; 1.0 = recorded timing")
    parser.add_argument("--out", type=Path, help="report folder to create (default: BAG-report)")
    parser.add_argument("--params-file", type=Path, help="node parameters YAML (default: built-in)")
    parser.add_argument("--checkpoint", help="model file for the node (default: the embedded default model)")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="a node parameter override, as after --ros-args -p (repeatable)")
    parser.add_argument("--loop", type=int, default=1, metavar="N",
                        help="play the bag N times back to back, stamps jumping back at each pass as with "
                        "ros2 bag play --loop: a soak run; the report adds memory, latency and drops "
                        "over time")
    parser.add_argument("--startup-timeout", type=float, default=180.0, help="seconds to wait for the node")
    parser.set_defaults(func=run)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from stdnet_ros.replay.player import ReplayError  # rclpy only when replaying
    from stdnet_ros.replay.session import replay

    out = args.out or args.bag.with_name(args.bag.name + "-report")
    params = [*args.param, *([f"checkpoint:={args.checkpoint}"] if args.checkpoint else [])]
    try:
        _, text = replay(args.bag, out, args.rate, args.params_file, tuple(params), args.startup_timeout,
                         loops=args.loop)
    except (BagError, ReplayError, FileNotFoundError, ValueError) as err:
        print(f"stdnet-ros replay: error: {err}", file=sys.stderr)
        return 2
    print(text)
    print(f"report: {out.resolve()}")
    return 0
