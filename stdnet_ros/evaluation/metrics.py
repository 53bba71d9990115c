"""Accuracy in centimetres as STDNet's evaluation computes it, plus a temporal-consistency figure.

The published scripts take, per clip, the RMSE and MAE over every pixel of
every frame at once (metres x 100), and report the mean over clips. We do the
same over the pixels where the ground truth is valid (finite, > 0); pixels
where a method gives no depth are left out and counted, so coverage is
reported next to the error instead of silently changing it.

Temporal consistency (tRMSE): the RMSE of the frame-to-frame change of the
prediction against that of the ground truth, per pixel, in centimetres. A
method that flickers where the scene is still, or misses real motion, scores
badly. (The paper's TEPE warps with optical flow, which these data sets do not
all provide; tRMSE needs none.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stdnet_ros.depth import valid_mask

CM_PER_M = 100.0


@dataclass
class ClipScore:
    rmse_cm: float
    mae_cm: float
    trmse_cm: float  # NaN for a one-frame clip
    coverage: float  # fraction of valid ground-truth pixels the method gave a depth for
    frames: int


class ClipMetrics:
    """Accumulates one clip's frames in order; ``score()`` gives its figures."""

    def __init__(self) -> None:
        self.sq = self.abs = 0.0
        self.count = self.gt_count = 0
        self.tsq = 0.0
        self.tcount = 0
        self.frames = 0
        self.prev: tuple[np.ndarray, np.ndarray] | None = None

    def add(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """pred and gt: (H, W) metres, NaN where unknown."""
        if pred.shape != gt.shape:
            raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in size")
        pred = pred.astype(np.float64)
        gt = gt.astype(np.float64)
        gt_ok = valid_mask(gt)
        both = gt_ok & np.isfinite(pred)
        err = (pred[both] - gt[both]) * CM_PER_M
        self.sq += float(np.dot(err, err))
        self.abs += float(np.abs(err).sum())
        self.count += int(both.sum())
        self.gt_count += int(gt_ok.sum())
        if self.prev is not None:
            prev_pred, prev_gt = self.prev
            still = both & np.isfinite(prev_pred) & valid_mask(prev_gt)
            change = ((pred - prev_pred) - (gt - prev_gt))[still] * CM_PER_M
            self.tsq += float(np.dot(change, change))
            self.tcount += int(still.sum())
        self.prev = (pred, gt)
        self.frames += 1

    def score(self) -> ClipScore:
        if self.count == 0:
            raise ValueError("no pixel with both a valid ground truth and a prediction: nothing to score")
        trmse = float(np.sqrt(self.tsq / self.tcount)) if self.tcount else float("nan")
        return ClipScore(
            rmse_cm=float(np.sqrt(self.sq / self.count)),
            mae_cm=self.abs / self.count,
            trmse_cm=trmse,
            coverage=self.count / self.gt_count,
            frames=self.frames,
        )


def mean_scores(scores: list[ClipScore]) -> ClipScore:
    """Mean over clips, as the paper averages its per-sequence figures."""
    if not scores:
        raise ValueError("no clip scores to average")
    trmse = [s.trmse_cm for s in scores if np.isfinite(s.trmse_cm)]
    return ClipScore(
        rmse_cm=float(np.mean([s.rmse_cm for s in scores])),
        mae_cm=float(np.mean([s.mae_cm for s in scores])),
        trmse_cm=float(np.mean(trmse)) if trmse else float("nan"),
        coverage=float(np.mean([s.coverage for s in scores])),
        frames=sum(s.frames for s in scores),
    )
