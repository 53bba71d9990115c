"""``stdnet-ros tune``: grid-search the guided filters' constants on generated clips (never on DyDToF)."""

from __future__ import annotations

import argparse
import json

from stdnet_ros.data.sensors import DEFAULT_SENSOR, SENSORS, sensor
from stdnet_ros.evaluation.baselines import guided
from stdnet_ros.evaluation.tuning import grid_search, tuning_frames


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tune", help="choose guided-filter constants on synthetic data", description=__doc__)
    p.add_argument("--sensor", choices=sorted(SENSORS), default=DEFAULT_SENSOR)
    p.add_argument("--scales", type=int, nargs="+", default=[4, 8])
    p.add_argument("--clips", type=int, default=24)
    p.add_argument("--radii", type=float, nargs="+", default=[0.5, 0.75, 1.0, 1.25, 1.5, 2.0],
                   help="multiples of the scale")  # fmt: skip
    p.add_argument("--eps", type=float, nargs="+", default=[1.6, 6.5, 26.0, 104.0],
                   help="regulariser in squared 8-bit units")
    p.add_argument("--rig", action="store_true",
                   help="clips from a separate ToF camera registered into the RGB (random rigs), scored "
                   "where the ToF sees")  # fmt: skip
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    frames = tuning_frames(sensor(args.sensor), args.scales, args.clips, rig=args.rig)
    best = {}
    for scale in args.scales:
        rows = grid_search(guided, frames[scale], scale, args.radii, args.eps)
        print(f"x{scale} (guided filter, {args.sensor}, {len(frames[scale])} frames): radius_x eps rmse_cm")
        for radius_x, eps, rmse in rows:
            print(f"  {radius_x:6.2f} {eps:10.4g} {rmse:8.2f}")
        best[scale] = {"radius_x": rows[0][0], "eps": rows[0][1], "rmse_cm": rows[0][2]}
    if args.json:
        print(json.dumps(best))
    return 0
