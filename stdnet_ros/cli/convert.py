"""``stdnet-ros convert``: a data set sequence or a synthetic clip -> a rosbag2 bag (MCAP or sqlite3)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tqdm import tqdm

from stdnet_ros.bags import BagError, Timing, write_bag
from stdnet_ros.bags.schema import STORAGE_FORMATS
from stdnet_ros.bags.writer import check_target
from stdnet_ros.conversion import DEPTH_ENCODINGS
from stdnet_ros.data.datasets import LAYOUTS, open_dataset
from stdnet_ros.data.frames import Clip
from stdnet_ros.data.synthetic import generate_clip
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
        height, width = args.size
        log.info("rendering %d synthetic frames %dx%d, seed %d", args.frames or 30, width, height, args.seed)
        return generate_clip(args.seed, args.frames or 30, height=height, width=width, scale=args.scale)
    reader = open_dataset(Path(args.src), args.scale, layout=args.source)
    names = [s.name for s in reader.sequences]
    if args.sequence and args.sequence not in names:
        raise ValueError(f"no sequence {args.sequence!r} in {args.src}; it has {names}")
    seq = reader.sequences[names.index(args.sequence)] if args.sequence else reader.sequences[0]
    count = min(args.frames or seq.count, seq.count)
    log.info("reading %s: %d of %d frames at x%d", seq.name, count, seq.count, args.scale)
    frames = [reader.frame(seq, i) for i in tqdm(range(count), desc=f"reading {seq.name}", unit="frame")]
    return Clip(seq.name, args.scale, reader.layout.max_depth_m, frames, reader.layout.intrinsics)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
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
