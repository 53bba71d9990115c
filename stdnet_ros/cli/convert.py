"""``stdnet-ros convert``: a data set sequence or a synthetic clip -> a rosbag2 bag (MCAP or sqlite3)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tqdm import tqdm

from stdnet_ros.bags import BagError, Timing, write_bag
from stdnet_ros.bags.schema import STORAGE_FORMATS
from stdnet_ros.bags.writer import check_target, staged_folder
from stdnet_ros.conversion import DEPTH_ENCODINGS
from stdnet_ros.data.datasets import LAYOUTS, open_dataset
from stdnet_ros.data.frames import Clip
from stdnet_ros.data.rig import JUDGE_SEED, judge_rig
from stdnet_ros.data.rig_folder import write_rig_folder
from stdnet_ros.data.synthetic import SCENES, generate_clips
from stdnet_ros.model.stdnet import SCALES

log = logging.getLogger("stdnet_ros.convert")
SYNTHETIC = "synthetic"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "convert", help="write a data set sequence or a synthetic clip as a rosbag2 bag",
        description="Write RGB, low-resolution ToF depth, ground truth and camera_info as a rosbag2 "
        "bag with realistic sensor timing (own rates, offset, jitter), playable by ros2 bag play.",
    )
    parser.add_argument("src", help="DyDToF/TartanAir/DynamicReplica folder, or 'synthetic'")
    parser.add_argument("out", type=Path, help="bag folder to create (must not exist)")
    parser.add_argument("--format", default="mcap", choices=list(STORAGE_FORMATS), help="bag storage")
    parser.add_argument("--depth-encoding", default="16UC1", choices=list(DEPTH_ENCODINGS),
                        help="16UC1 = mm with 0 invalid (as ToF drivers publish), 32FC1 = metres with NaN")
    parser.add_argument("--source", choices=[*LAYOUTS, SYNTHETIC],
                        help="layout of SRC (default: detected; 'synthetic' when SRC is 'synthetic')")
    parser.add_argument("--sequence", help="data sets: which sequence (scene_shot) to write; default first")
    parser.add_argument("--scale", type=int, default=4, choices=SCALES, help="RGB size / depth size")
    parser.add_argument("--frames", type=int, help="write only the first N frames (synthetic default 30)")
    parser.add_argument("--size", type=int, nargs=2, default=[240, 320], metavar=("H", "W"),
                        help="synthetic: RGB size")
    parser.add_argument("--seed", type=int, default=0, help="synthetic scene and timing jitter seed")
    parser.add_argument("--scene", default="room", choices=list(SCENES), help="synthetic: scene preset")
    parser.add_argument("--rig", action="store_true",
                        help="synthetic: a separate ToF camera (data.rig.judge_rig: 224x172, plumb_bob, "
                        "4.5 cm beside the RGB; --size sets the RGB, 4:3) instead of depth registered to it")
    parser.add_argument("--folder", action="store_true",
                        help="with --rig: write a rig folder (data/rig_folder.py) of --clips clips, seeds "
                        f"--seed.. (held-out sets: --seed {JUDGE_SEED}), instead of a bag")
    parser.add_argument("--clips", type=int, default=1, help="with --folder: how many clips")
    parser.add_argument("--rgb-hz", type=float, help="RGB rate (default: the clip's)")
    parser.add_argument("--depth-hz", type=float, help="ToF rate, at most the RGB rate (default: same)")
    parser.add_argument("--depth-offset", type=float, default=0.004, help="ToF stamp lag behind RGB (s)")
    parser.add_argument("--jitter", type=float, default=0.001, help="stamp jitter standard deviation (s)")
    parser.set_defaults(func=run)  # fmt: skip


def load_clip(args: argparse.Namespace) -> Clip:
    """The clip to write: synthetic from the seed, or one sequence of a data set folder."""
    if args.frames is not None and args.frames < 1:
        raise ValueError(f"--frames must be >= 1, got {args.frames}")
    if args.src == SYNTHETIC or args.source == SYNTHETIC:
        return synthetic_clip(args, args.seed)
    reader = open_dataset(Path(args.src), args.scale, layout=args.source)
    names = [s.name for s in reader.sequences]
    if args.sequence and args.sequence not in names:
        raise ValueError(f"no sequence {args.sequence!r} in {args.src}; it has {names}")
    seq = reader.sequences[names.index(args.sequence)] if args.sequence else reader.sequences[0]
    count = min(args.frames or seq.count, seq.count)
    log.info("reading %s: %d of %d frames at x%d", seq.name, count, seq.count, args.scale)
    frames = [reader.frame(seq, i) for i in tqdm(range(count), desc=f"reading {seq.name}", unit="frame")]
    return Clip(seq.name, args.scale, reader.layout.max_depth_m, frames, reader.layout.intrinsics)


def synthetic_clip(args: argparse.Namespace, seed: int) -> Clip:
    height, width = args.size
    log.info("rendering %d synthetic frames %dx%d, seed %d%s", args.frames or 30, width, height, seed,
             ", through the judge rig" if args.rig else "")  # fmt: skip
    if args.rig and height * 4 != width * 3:
        raise ValueError(f"--rig: the judge rig's RGB is 4:3, --size {height} {width} is not")
    rig = judge_rig(width) if args.rig else None
    return generate_clips(seed, args.frames or 30, height, width, (args.scale,), spec=SCENES[args.scene],
                          rig=rig)[args.scale]  # fmt: skip


def write_folder(args: argparse.Namespace) -> Path:
    """``--rig --folder``: ``--clips`` synthetic rig clips as a rig folder."""
    if not (args.rig and (args.src == SYNTHETIC or args.source == SYNTHETIC)):
        raise ValueError("--folder writes synthetic rig clips: use 'synthetic' with --rig")
    check_target(args.out)
    clips = [synthetic_clip(args, args.seed + i) for i in tqdm(range(args.clips), desc="clips", unit="clip")]
    with staged_folder(args.out, create=False) as staging:
        write_rig_folder(staging, clips)
    return args.out


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        if args.folder:
            out = write_folder(args)
            print(f"wrote rig folder {out} ({args.clips} clips of {args.frames or 30} frames, "
                  f"seeds {args.seed}..)")
            return 0
        check_target(args.out)  # before minutes of reading
        clip = load_clip(args)
        timing = Timing(rgb_hz=args.rgb_hz, depth_hz=args.depth_hz, depth_offset_s=args.depth_offset,
                        jitter_s=args.jitter, seed=args.seed)  # fmt: skip
        out = write_bag(clip, args.out, args.format, args.depth_encoding, timing, progress=True)
    except (BagError, FileNotFoundError, ValueError) as err:
        print(f"stdnet-ros convert: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({len(clip)} frames of {clip.name}, x{clip.scale}, {args.format}, "
          f"depth {args.depth_encoding})")  # fmt: skip
    return 0
