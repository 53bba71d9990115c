"""Measure what several ToF pixels in one grid cell should become: the choice behind geometry/registration.py.

Renders held-out judge-rig frames (640x480 RGB, 224x172 distorted ToF 4.5 cm away, seeds above the
judge's) and registers each ToF frame into the x4 and x8 grids: the package's triangles (with and
without the loose-point splat, and with other depth-jump limits) and one point per ToF pixel kept as
the nearest, the one nearest the cell centre, or the mean. Scores each by the guided-filter
baseline's RMSE over the RGB pixels the ToF sees (renderer's mask) and the share of them with valid
output. Usage:
``python scripts/registration_variants.py [--clips 6]``.
"""

from __future__ import annotations

import argparse

import numpy as np

from stdnet_ros.data.rig import JUDGE_SEED, judge_rig
from stdnet_ros.data.synthetic import SCENES, generate_clips
from stdnet_ros.evaluation.baselines import upsample
from stdnet_ros.geometry.registration import DepthJump, Registration

SCALES = (4, 8)


def _points(reg: Registration, depth: np.ndarray, how: str) -> np.ndarray:
    """One point per ToF pixel, rounded to its cell; the cell keeps the nearest, the one nearest its
    centre, or the mean."""
    valid = np.isfinite(depth) & (depth > 0)
    pts = reg.pose.apply(reg._rays * np.where(valid, depth, np.nan)[..., None])
    uv = reg.target.project(pts).reshape(-1, 2)
    z = pts[..., 2].ravel()
    ok = np.isfinite(uv).all(1) & (z > 0)
    col, row = np.rint(uv[ok, 0]), np.rint(uv[ok, 1])
    inside = (col >= 0) & (row >= 0) & (col < reg.target.width) & (row < reg.target.height)
    idx = (row[inside] * reg.target.width + col[inside]).astype(np.int64)
    zs = z[ok][inside]
    n = reg.target.width * reg.target.height
    if how == "mean":
        total, count = np.bincount(idx, zs, n), np.bincount(idx, minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = total / count
    else:
        off_centre = np.hypot(uv[ok, 0][inside] - col[inside], uv[ok, 1][inside] - row[inside])
        key = zs if how == "nearest" else off_centre
        order = np.argsort(-key)  # the smallest key is written last and wins
        out = np.full(n, np.nan)
        out[idx[order]] = zs[order]
    return out.reshape(reg.target.height, reg.target.width).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=6)
    args = parser.parse_args()
    rig = judge_rig()
    jumps = {"jump 0.05 m + 5 %": DepthJump(0.05, 0.05), "jump 0.3 m + 20 %": DepthJump(0.3, 0.2),
             "no jump limit": DepthJump(1e9, 0.0)}
    variants = ("triangles", "triangles, no loose points", *(f"triangles, {j}" for j in jumps),
                "points: nearest", "points: centre", "points: mean")
    sums = {(s, v): [0.0, 0, 0] for s in SCALES for v in variants}  # squared error, scored, covered
    for c in range(args.clips):
        clips = generate_clips(JUDGE_SEED + 500 + c, frames=1, height=480, width=640, scales=SCALES,
                               spec=SCENES["clutter"], rig=rig)
        for scale, clip in clips.items():
            frame = clip.frames[0]
            reg = Registration(rig.tof, rig.rgb.grid(scale), rig.pose)
            loose = reg._splat_loose
            for v in variants:
                if v.startswith("points"):
                    lr = _points(reg, frame.depth_tof, v.split(": ")[1])
                elif (jump := v.removeprefix("triangles, ")) in jumps:
                    lr = Registration(rig.tof, reg.target, rig.pose, jump=jumps[jump])(frame.depth_tof)
                else:
                    reg._splat_loose = loose if v == "triangles" else (lambda *a: None)
                    lr = reg(frame.depth_tof)
                out = upsample("guided", lr, scale, frame.rgb)
                seen = frame.visible & np.isfinite(frame.depth_gt)
                covered = seen & np.isfinite(out)
                acc = sums[scale, v]
                acc[0] += float(((out[covered] - frame.depth_gt[covered]) ** 2).sum())
                acc[1] += int(covered.sum())
                acc[2] += int(seen.sum())
    print("| scale | registration | guided RMSE (cm) | coverage |\n| --- | --- | ---: | ---: |")
    for (scale, v), (sq, n, seen) in sums.items():
        print(f"| x{scale} | {v} | {100 * np.sqrt(sq / n):.2f} | {100 * n / seen:.2f} % |")


if __name__ == "__main__":
    main()
