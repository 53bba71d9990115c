"""Measure what the RGB pixels of one grid cell should become: the choice behind geometry/registration.py.

Reads a rig folder of generated clips (``stdnet-ros convert synthetic rig-val --rig --folder
--clips 6 --frames 8 --size 480 640 --scene clutter --seed 4000000000``: seeds apart from the
judge's and from training's) and registers each ToF frame into the x``scale`` grid five ways: the
package's (triangles drawn at every RGB pixel, each cell the histogram peak of its pixels), the
same pixels reduced to their nearest or their harmonic mean, triangles drawn at the cells' centres
alone, and one point per ToF pixel z-buffered into the cells as depth_image_proc's register does.
Scores the embedded model (offline, its own window and views) and the guided filter on each, by
RMSE over the RGB pixels the ToF sees (renderer's mask; per clip, then the mean of the clips, as
``stdnet-ros eval``), and the share of them with valid output.
Usage: ``python scripts/registration_variants.py rig-val [--scale 4]``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from stdnet_ros.data.frames import Clip, scored_truth
from stdnet_ros.data.rig_folder import read_rig_clips
from stdnet_ros.evaluation.baselines import upsample
from stdnet_ros.evaluation.evaluator import predict_offline
from stdnet_ros.evaluation.metrics import ClipMetrics, ClipScore, mean_scores
from stdnet_ros.geometry.registration import Registration, histogram_peak
from stdnet_ros.model.checkpoint import load_model


def _point_per_pixel(reg: Registration, depth: np.ndarray) -> np.ndarray:
    """One point per ToF pixel rounded to its cell, the nearest kept (depth_image_proc's register)."""
    cells = reg.target
    points = reg.points(depth)
    uv, z = cells.project(points).reshape(-1, 2), points[..., 2].ravel()
    col, row = np.rint(uv[:, 0]), np.rint(uv[:, 1])
    keep = np.isfinite(z) & (z > 0) & (col >= 0) & (row >= 0) & (col < cells.width) & (
        row < cells.height)  # fmt: skip
    out = np.full(cells.width * cells.height, np.inf)
    np.minimum.at(out, (row[keep] * cells.width + col[keep]).astype(np.int64), z[keep])
    return np.where(np.isfinite(out), out, np.nan).reshape(cells.height, cells.width)


def _blocks(reg: Registration, depth: np.ndarray) -> np.ndarray:
    """(h, w, scale^2): the RGB pixels' samples of each cell."""
    fine, (h, w, s) = reg.samples(depth), (reg.target.height, reg.target.width, reg.scale)
    return fine.reshape(h, s, w, s).transpose(0, 2, 1, 3).reshape(h, w, s * s)


def _nearest(blocks: np.ndarray) -> np.ndarray:
    return np.fmin.reduce(blocks, axis=-1)


def _harmonic(blocks: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.isfinite(blocks).sum(axis=-1) / np.nansum(1.0 / blocks, axis=-1)


VARIANTS: dict[str, Callable[[Registration, np.ndarray], np.ndarray]] = {
    "RGB pixels, histogram peak (the package)": lambda reg, d: histogram_peak(_blocks(reg, d), reg.jump),
    "RGB pixels, nearest": lambda reg, d: _nearest(_blocks(reg, d)),
    "RGB pixels, harmonic mean": lambda reg, d: _harmonic(_blocks(reg, d)),
    "triangles at the cells' centres": lambda reg, d: Registration(reg.source, reg.target, 1, reg.pose)(d),
    "one point per ToF pixel (depth_image_proc)": _point_per_pixel,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--scale", type=int, default=4)
    args = parser.parse_args()
    model, meta = load_model(None, scale=args.scale)
    model.eval()
    clips = read_rig_clips(args.folder, args.scale)
    rig = clips[0].rig
    reg = Registration(rig.tof, rig.rgb, args.scale, rig.pose)
    print(f"| registration | {meta.name} RMSE (cm) | guided RMSE (cm) | coverage |")
    print("| --- | ---: | ---: | ---: |")
    for name, register in VARIANTS.items():
        scores: dict[str, list[ClipScore]] = {"model": [], "guided": []}
        for clip in clips:
            frames = [replace(f, depth_lr=register(reg, f.depth_tof).astype(np.float32)) for f in clip.frames]
            variant = Clip(clip.name, clip.scale, clip.max_depth, frames, rig=clip.rig)
            outputs = predict_offline(model, variant, meta.max_depth, meta.window, views=meta.views)
            metrics = {"model": ClipMetrics(), "guided": ClipMetrics()}
            for frame, out in zip(frames, outputs, strict=True):
                truth = scored_truth(frame)  # the pixels the ToF sees
                metrics["model"].add(out, truth)
                metrics["guided"].add(upsample("guided", frame.depth_lr, args.scale, frame.rgb), truth)
            for key, m in metrics.items():
                scores[key].append(m.score())
        model_score, guided_score = mean_scores(scores["model"]), mean_scores(scores["guided"])
        print(f"| {name} | {model_score.rmse_cm:.2f} | {guided_score.rmse_cm:.2f} | "
              f"{100 * model_score.coverage:.2f} % |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
