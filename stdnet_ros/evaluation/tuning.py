"""Choosing the guided filters' constants on generated data, never on the evaluation frames.

The classical baseline (OpenCV's colour guided filter on the bicubic upsample)
needs a radius and a regulariser per scale; the embedded model's guided base
(``model.base``) is the same filter, stored with the x4 constants. They are
grid-searched here on synthetic clips seen through the training sensor preset,
with seeds disjoint from training and validation, and the pooled RMSE decides.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable

import numpy as np
from tqdm import tqdm

from stdnet_ros.data.frames import Frame, scored_truth
from stdnet_ros.data.sensors import Sensor
from stdnet_ros.data.synthetic import generate_clips
from stdnet_ros.depth import fill_invalid, valid_mask

TUNING_SEED = 2 * 10**9  # training draws seeds near seed*1e9, validation 1e9: no overlap

Filter = Callable[[np.ndarray, int, np.ndarray, float, float], np.ndarray]


def tuning_frames(
    sensor: Sensor, scales: Iterable[int], clips: int = 24, size: int = 256, rig: bool = False
) -> dict[int, list[Frame]]:
    """Two frames of ``clips`` generated scenes per scale, LR holes filled as the engine fills them;
    ``rig``: seen by a separate ToF camera (a random rig per clip) and registered."""
    frames: dict[int, list[Frame]] = {}
    for i in range(clips):
        clips_i = generate_clips(TUNING_SEED + i, 2, size, size, tuple(scales), sensor=sensor,
                                 rig="random" if rig else None)  # fmt: skip
        for scale, clip in clips_i.items():
            for f in clip:
                f.depth_lr = fill_invalid(f.depth_lr, valid_mask(f.depth_lr))
            frames.setdefault(scale, []).extend(clip.frames)
    return frames


def grid_search(
    filt: Filter, frames: list[Frame], scale: int, radii: Iterable[float], eps_grid: Iterable[float]
) -> list[tuple[float, float, float]]:
    """(radius_x, eps, pooled RMSE in cm) for every pair, best first; over the scored pixels
    (``evaluator.scored_truth``: those a camera pair's ToF sees)."""
    rows = []
    for radius_x, eps in tqdm(list(itertools.product(radii, eps_grid)), desc=f"x{scale} grid", leave=False):
        sq, n = 0.0, 0
        for f in frames:
            err = filt(f.depth_lr, scale, f.rgb, radius_x, eps) - scored_truth(f)
            err = err[np.isfinite(err)]
            sq, n = sq + float(np.square(err, dtype=np.float64).sum()), n + err.size
        rows.append((radius_x, eps, 100.0 * (sq / n) ** 0.5))
    return sorted(rows, key=lambda r: r[2])
