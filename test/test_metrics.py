"""Metrics: centimetres as the published evaluation computes them, coverage, temporal consistency."""

from __future__ import annotations

import numpy as np
import pytest

from stdnet_ros.evaluation.metrics import ClipMetrics, mean_scores


def test_rmse_mae_in_cm_over_the_whole_clip_like_the_published_code() -> None:
    rng = np.random.default_rng(0)
    gts = rng.uniform(1, 10, (3, 8, 8))
    preds = gts + rng.normal(0, 0.1, gts.shape)
    metrics = ClipMetrics()
    for p, g in zip(preds, gts, strict=True):
        metrics.add(p.astype(np.float32), g.astype(np.float32))
    score = metrics.score()
    # published: sqrt(mean((gt*100 - out*100)^2)) over all frames and pixels at once
    expected = np.sqrt(np.mean((gts * 100 - preds * 100) ** 2))
    assert score.rmse_cm == pytest.approx(expected, rel=1e-5)
    assert score.mae_cm == pytest.approx(np.mean(np.abs(gts - preds)) * 100, rel=1e-5)
    assert score.coverage == 1.0 and score.frames == 3


def test_invalid_ground_truth_is_ignored_and_missing_predictions_lower_coverage() -> None:
    gt = np.full((4, 4), 2.0, np.float32)
    gt[0] = np.nan
    gt[1, 0] = 0.0
    pred = np.full((4, 4), 2.1, np.float32)
    pred[0] = 100.0  # where GT is unknown: must not count
    pred[3, :2] = np.nan  # the method gave no depth there
    metrics = ClipMetrics()
    metrics.add(pred, gt)
    score = metrics.score()
    assert score.rmse_cm == pytest.approx(10.0, rel=1e-4) and score.mae_cm == pytest.approx(10.0, rel=1e-4)
    assert score.coverage == pytest.approx(9 / 11)


def test_temporal_figure_sees_flicker_that_rmse_barely_sees() -> None:
    gt = np.full((8, 8), 3.0, np.float32)
    steady, flicker = ClipMetrics(), ClipMetrics()
    for t in range(6):
        steady.add(gt + 0.05, gt)  # constant 5 cm bias
        flicker.add(gt + (0.05 if t % 2 else -0.05), gt)  # +-5 cm alternating
    assert steady.score().rmse_cm == pytest.approx(flicker.score().rmse_cm, rel=1e-4)
    assert steady.score().trmse_cm == pytest.approx(0.0, abs=1e-3)
    assert flicker.score().trmse_cm == pytest.approx(10.0, rel=1e-3)
    moving = ClipMetrics()
    for t in range(3):  # GT moves 1 m per frame, prediction stays put: 100 cm change missed
        moving.add(np.full((2, 2), 3.0, np.float32), np.full((2, 2), 3.0 + t, np.float32))
    assert moving.score().trmse_cm == pytest.approx(100.0, rel=1e-4)


def test_mean_over_clips_and_errors() -> None:
    a, b = ClipMetrics(), ClipMetrics()
    a.add(np.full((2, 2), 1.1, np.float32), np.ones((2, 2), np.float32))
    b.add(np.full((2, 2), 1.3, np.float32), np.ones((2, 2), np.float32))
    mean = mean_scores([a.score(), b.score()])
    assert mean.rmse_cm == pytest.approx(20.0, rel=1e-4) and mean.frames == 2 and np.isnan(mean.trmse_cm)
    with pytest.raises(ValueError, match="differ in size"):
        a.add(np.ones((2, 3), np.float32), np.ones((2, 2), np.float32))
    empty = ClipMetrics()
    empty.add(np.full((2, 2), np.nan, np.float32), np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match="nothing to score"):
        empty.score()
    with pytest.raises(ValueError, match="no clip"):
        mean_scores([])
