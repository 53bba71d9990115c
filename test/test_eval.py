"""Evaluator and ``stdnet-ros eval``: real DyDToF frames, a real (tiny, random) STDNet, the real engine."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from shared_data import DYDTOF, requires_shared

from stdnet_ros.cli import main
from stdnet_ros.data.datasets import open_dataset
from stdnet_ros.data.frames import Clip
from stdnet_ros.evaluation.baselines import upsample
from stdnet_ros.evaluation.evaluator import Evaluator, ModelSpec, predict_offline, predict_streaming
from stdnet_ros.evaluation.metrics import ClipMetrics
from stdnet_ros.model.checkpoint import load_model
from stdnet_ros.streaming.engine import StreamingEngine


def dydtof_crop(scale: int, frames: int, height: int = 64, width: int = 128) -> Clip:
    """The first frames of the shared DyDToF clip, cropped so a CPU test stays fast (real pixels)."""
    reader = open_dataset(DYDTOF, scale)
    clip = reader.clip(reader.sequences[0], 0, frames)
    y, x = 200, 384  # a region with people and background
    clip.frames = [
        replace(f, rgb=f.rgb[y : y + height, x : x + width],
                depth_gt=f.depth_gt[y : y + height, x : x + width],
                depth_lr=f.depth_lr[y // scale : (y + height) // scale, x // scale : (x + width) // scale])
        for f in clip
    ]  # fmt: skip
    return clip


@pytest.fixture(scope="module")
def tiny(tiny_checkpoint: Path) -> ModelSpec:
    model, meta = load_model(tiny_checkpoint)
    return ModelSpec(model, meta.max_depth, meta.name)


@requires_shared
@pytest.mark.parametrize("views", [1, 2])
def test_streaming_with_full_lookahead_equals_offline(tiny: ModelSpec, views: int) -> None:
    """W = L + 1 = clip length: every streamed output sees the whole clip, exactly like one offline chunk."""
    clip = dydtof_crop(4, 4)
    offline = predict_offline(tiny.model, clip, tiny.max_depth, chunk=4, views=views)
    whole = Evaluator(lambda scale: [clip], {4: tiny}, chunk=0, baselines=[], progress=False).run([4])
    assert whole[0].mode == "offline T=all"
    engine = StreamingEngine(tiny.model, max_depth=tiny.max_depth, window=4, lookahead=3, views=views)
    streamed = predict_streaming(engine, clip)
    assert len(offline) == len(streamed) == 4
    for a, b in zip(offline, streamed, strict=True):
        assert a.shape == (64, 128) and np.isfinite(a).all()
        np.testing.assert_allclose(a, b, atol=1e-4)
    # shorter chunks see fewer frames, so they really are a different computation
    shorter = predict_offline(tiny.model, clip, tiny.max_depth, chunk=2)
    assert not np.allclose(shorter[0], offline[0], atol=1e-6)


@requires_shared
def test_evaluator_table_scores_every_method_on_the_same_frames(tiny: ModelSpec) -> None:
    clip = dydtof_crop(4, 4)
    rows = Evaluator(lambda scale: [clip], {4: tiny}, window=3, progress=False).run([4])
    assert [(r.method, r.mode) for r in rows] == [
        ("nearest", "-"), ("bicubic", "-"), ("guided", "-"),
        ("tiny-test", "offline T=3"), ("tiny-test", "streaming W=3 L=0"),
    ]  # fmt: skip
    for row in rows:
        assert row.frames == 4 and row.coverage == 1.0
        assert np.isfinite([row.rmse_cm, row.mae_cm, row.trmse_cm]).all()
    bicubic = ClipMetrics()
    for frame in clip:
        bicubic.add(upsample("bicubic", frame.depth_lr, 4, frame.rgb), frame.depth_gt)
    assert rows[1].rmse_cm == pytest.approx(bicubic.score().rmse_cm)
    assert rows[2].rmse_cm < rows[0].rmse_cm  # guided beats nearest on real data


@requires_shared
def test_cli_baselines_on_dydtof_json_last_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["eval", "--data", str(DYDTOF), "--scales", "4", "8", "--frames", "2", "--no-model",
                 "--json"])  # fmt: skip
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert "RMSE cm" in out[0]
    table = json.loads(out[-1])
    assert table["config"]["scales"] == [4, 8] and len(table["rows"]) == 6
    by = {(r["scale"], r["method"]): r for r in table["rows"]}
    for scale in (4, 8):
        rmse = {m: by[(scale, m)]["rmse_cm"] for m in ("guided", "bicubic", "nearest")}
        assert rmse["guided"] < rmse["bicubic"] < rmse["nearest"]
    assert by[(8, "bicubic")]["rmse_cm"] > by[(4, "bicubic")]["rmse_cm"]  # x8 is harder


@requires_shared
def test_cli_with_checkpoint_on_synthetic(tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["eval", "--data", "synthetic", "--synthetic-clips", "1", "--frames", "3",
                 "--size", "32", "64",
                 "--checkpoint", str(tiny_checkpoint), "--baselines", "bicubic", "--window", "2",
                 "--backend", "torch", "--json"])  # fmt: skip (another backend is named in the mode)
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["rows"]
    assert code == 0
    assert [r["mode"] for r in rows] == ["-", "offline T=2", "streaming W=2 L=0"]
    code = main(["eval", "--data", "synthetic", "--synthetic-clips", "1", "--frames", "3",
                 "--size", "32", "64", "--checkpoint", str(tiny_checkpoint), "--baselines", "--window", "2",
                 "--views", "2", "--backend", "torch", "--json"])  # fmt: skip
    views = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["rows"]
    assert code == 0 and [r["mode"] for r in views] == ["offline T=2 V=2", "streaming W=2 L=0 V=2"]
    assert views[0]["rmse_cm"] != rows[1]["rmse_cm"]
    code = main(["eval", "--data", str(DYDTOF), "--frames", "1", "--no-model", "--baselines", "nearest",
                 "--json"])  # fmt: skip
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["rows"][0]
    assert code == 0 and row["trmse_cm"] is None and row["frames"] == 1  # strict JSON: no NaN


@requires_shared
def test_cli_errors(tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--data", str(DYDTOF), "--scales", "8", "--checkpoint", str(tiny_checkpoint)]) == 2
    err = capsys.readouterr().err
    assert "no checkpoint given serves x8" in err and "trained for x4, but x8 was asked for" in err
    assert main(["eval", "--data", str(DYDTOF / "missing"), "--no-model"]) == 2
    assert "not found" in capsys.readouterr().err
