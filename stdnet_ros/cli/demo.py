"""``stdnet-ros demo``: the README's first command, a complete live evaluation on a fresh machine.

Renders a synthetic clip of a camera pair (an RGB camera and a separate ToF
camera beside it, with its own lens and resolution), writes it as a rosbag2 bag
with both camera_infos, /tf_static and realistic sensor timing, replays it at
recorded speed through the real node process on the embedded default model
(which registers the ToF into the RGB view), and prints the summary and where
the report is.
Everything is generated locally: no download, no data set needed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from stdnet_ros.bags import BagError, Timing, write_bag
from stdnet_ros.data.frames import Clip
from stdnet_ros.data.rig import judge_rig
from stdnet_ros.data.synthetic import generate_clip, generate_clips

DEMO_SEED = 2024
DEMO_SCALE = 4  # the demo bag holds a x4 ToF stream
DEMO_TOF_BLOCK = 2
DEPTH_HZ = 5.0  # ToF cameras run at 5-30 Hz beside a 30 Hz colour camera; 2 CPU cores keep up with 5-7


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo", help="synthetic bag -> live node -> report, in one command",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--out", type=Path, default=Path("stdnet-demo"),
                        help="parent folder; each run writes a new timestamped folder inside")
    parser.add_argument("--frames", type=int, default=150, help="clip length in colour frames (30 = 1 s)")
    parser.add_argument("--size", type=int, nargs=2, default=[240, 320], metavar=("H", "W"), help="RGB size")
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed; 1.0 = live")
    parser.add_argument("--depth-hz", type=float, default=DEPTH_HZ,
                        help="ToF frame rate in the bag (the colour camera runs at 30 Hz)")
    parser.add_argument("--checkpoint", help="model file (default: the embedded default model)")
    parser.add_argument("--registered", action="store_true",
                        help="depth already registered to the RGB at 1/4 of its size, instead of the camera "
                        "pair (the 224x172 plumb_bob ToF 4.5 cm beside the RGB, data.rig.judge_rig, its RGB "
                        "at --size, 4:3) that the node registers")
    parser.set_defaults(func=run)  # fmt: skip


def _model_present(checkpoint: str | None) -> str | None:
    """Why the node could not load its model, found before minutes of work, or None."""
    from stdnet_ros.model.checkpoint import default_checkpoint

    path = Path(checkpoint) if checkpoint else default_checkpoint(DEMO_SCALE)
    if path.is_file():
        return None
    what = "checkpoint" if checkpoint else "the embedded default model"
    return f"{what} is missing: {path} (pass --checkpoint FILE)"


def demo_clip(frames: int, height: int, width: int, rig: bool = True) -> Clip:
    """The demo's clip: a separate ToF camera's (the judge rig with its RGB at ``width`` x
    ``height``), for a bag the node registers itself, or (not ``rig``) depth registered already.

    The rig's ToF is rendered with 2 x 2 rays a pixel, not 4 x 4: a demo renders 150 frames on a CPU.
    """
    if not rig:
        return generate_clip(DEMO_SEED, frames, height=height, width=width, scale=DEMO_SCALE)
    if height * 4 != width * 3:
        raise ValueError(f"the camera pair's RGB is 4:3, --size {height} {width} is not (or --registered)")
    return generate_clips(DEMO_SEED, frames, height, width, (DEMO_SCALE,), rig=judge_rig(width),
                          tof_block=DEMO_TOF_BLOCK)[DEMO_SCALE]  # fmt: skip


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from stdnet_ros.replay.player import ReplayError  # rclpy only when replaying
    from stdnet_ros.replay.session import replay

    if problem := _model_present(args.checkpoint):
        print(f"stdnet-ros demo: error: {problem}", file=sys.stderr)
        return 2
    folder = args.out / time.strftime("%Y%m%d-%H%M%S")
    height, width = args.size
    try:
        folder.mkdir(parents=True)
        print(f"[1/2] rendering {args.frames} synthetic frames ({width}x{height}) into a bag ...", flush=True)
        clip = demo_clip(args.frames, height, width, not args.registered)
        timing = Timing(depth_hz=args.depth_hz, seed=DEMO_SEED)
        bag = write_bag(clip, folder / "synthetic_bag", timing=timing, progress=True)
        print(f"[2/2] replaying {bag} through stdnet_node at x{args.rate:g} ...", flush=True)
        params = (f"checkpoint:={args.checkpoint}",) if args.checkpoint else ()
        _, text = replay(bag, folder / "report", args.rate, params=params)
    except (BagError, ReplayError, FileExistsError, ValueError) as err:
        print(f"stdnet-ros demo: error: {err}", file=sys.stderr)
        return 2
    print()
    print(text)
    print(f"report: {(folder / 'report').resolve()}  (summary.md, plots, frames/, sequence.gif)")
    return 0
