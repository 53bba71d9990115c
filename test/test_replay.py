"""convert -> replay through the real node process over real DDS, and every bad input of a replay."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag2 import Reader

from stdnet_ros.bags import open_bag
from stdnet_ros.bags.schema import TYPESTORE
from stdnet_ros.cli import main as cli_main
from stdnet_ros.conversion import image_to_depth
from stdnet_ros.evaluation.evaluator import predict_streaming
from stdnet_ros.model.checkpoint import load_model
from stdnet_ros.streaming.engine import StreamingEngine

pytestmark = pytest.mark.ros
FRAMES = 8


@pytest.fixture(scope="module")
def bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bags") / "synthetic"
    assert cli_main(["convert", "synthetic", str(path), "--frames", str(FRAMES), "--size", "48", "64",
                     "--seed", "5"]) == 0  # fmt: skip
    return path


def test_convert_then_replay_round_trip(bag: Path, tiny_checkpoint: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    report = tmp_path / "report"
    # A slow rate so the tiny model keeps up on a loaded CPU: every frame must come back.
    code = cli_main(["replay", str(bag), "--rate", "0.2", "--out", str(report), "--checkpoint",
                     str(tiny_checkpoint), "-p", "inference_queue_size:=20",
                     "-p", "precision:=fp32"])  # fmt: skip  (auto may pick bf16; compared with fp32 below)
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert f"report: {report.resolve()}" in printed and "| STDNet (live node) |" in printed
    summary = json.loads((report / "summary.json").read_text())
    drops, outputs = summary["drops"], summary["outputs"]
    # Nothing lost on the way; only the pairing tail (ApproximateTime needs a later message) may be missing.
    tail = drops.pop("end of bag: left in the node's pairing queue (no later message)", 0)
    assert drops == {"total depth frames without output": tail} and outputs == FRAMES - tail >= FRAMES - 3
    assert 0 < summary["latency_ms"]["p50"] <= summary["latency_ms"]["p95"] <= summary["latency_ms"]["p99"]
    assert 5.0 < summary["input_hz"] < 7.0  # 30 Hz recorded, played at x0.2
    assert set(summary["scores"]) == {"STDNet (live node)", "nearest", "bicubic", "guided"}
    assert summary["scores"]["guided"]["frames"] == outputs
    assert summary["node_status"]["model"] == "tiny-test"
    for name in ("summary.md", "error_over_time.png", "latency_hist.png", "sequence.gif", "node.log"):
        assert (report / name).stat().st_size > 0, name
    assert len(list((report / "frames").glob("frame_*.png"))) == 4

    # The recorded outputs are exactly what the node's engine computes from the bag's frames.
    with Reader(report / "node_output_bag") as reader:
        conns = [c for c in reader.connections if c.topic.endswith("depth_sr/image")]
        outputs = [image_to_depth(TYPESTORE.deserialize_cdr(raw, c.msgtype))
                   for c, _, raw in reader.messages(connections=conns)]  # fmt: skip
    clip = open_bag(bag).read_clip()
    model, meta = load_model(str(tiny_checkpoint), None, "cpu")
    engine = StreamingEngine(model, max_depth=meta.max_depth, window=7, backend="auto")  # the node's default
    expected = predict_streaming(engine, clip)
    assert len(outputs) == summary["outputs"]
    for got, want in zip(outputs, expected, strict=False):  # 16UC1 out: whole millimetres
        np.testing.assert_allclose(got, want, atol=6e-4, equal_nan=True)
    assert not list(tmp_path.glob(".*")), "staging folder left behind"


def test_a_looping_bag_loses_no_frame_and_the_soak_report_says_so(bag: Path, tiny_checkpoint: Path,
                                                                    tmp_path: Path) -> None:  # fmt: skip
    """Three passes with stamps jumping back, as ros2 bag play --loop: every pass is answered in full."""
    report = tmp_path / "soak"
    code = cli_main(["replay", str(bag), "--loop", "3", "--rate", "0.2", "--out", str(report),
                     "--checkpoint", str(tiny_checkpoint), "-p", "inference_queue_size:=20"])  # fmt: skip
    assert code == 0
    summary = json.loads((report / "summary.json").read_text())
    drops, outputs = summary["drops"], summary["outputs"]
    # No drop at a restart: only the last pass's pairing tail may be missing, as in a single pass.
    tail = drops.pop("end of bag: left in the node's pairing queue (no later message)", 0)
    assert drops == {"total depth frames without output": tail} and outputs == 3 * FRAMES - tail
    assert tail <= 3
    status = summary["node_status"]
    assert int(status["event depth/image: stamp_backwards"]) == 2 and int(status["dropped total"]) == 0
    soak = summary["soak"]
    assert (soak["loops"], soak["frames"], soak["outputs"]) == (3, 3 * FRAMES, outputs)
    assert soak["unaccounted"] == 0 and soak["warm_up_s"] > 0
    assert 0 < soak["resident_after_warm_up_mb"] <= soak["resident_peak_mb"]
    assert soak["growth_mb"] < 50 and sum(s["outputs"] for s in soak["slices"]) == outputs
    assert (report / "soak.png").stat().st_size > 0
    # Only the first pass is kept whole and scored: a 10,000-frame soak must not hold every image.
    assert summary["scores"]["guided"]["frames"] == FRAMES
    with Reader(report / "node_output_bag") as reader:
        kept = [c.msgcount for c in reader.connections if c.topic.endswith("depth_sr/image")]
    assert kept == [FRAMES]
    assert "## Soak: 3 passes" in (report / "summary.md").read_text()


def _replay_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert cli_main(["replay", *args]) == 2
    return capsys.readouterr().err


def test_missing_bag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _replay_error([str(tmp_path / "none"), "--out", str(tmp_path / "r")], capsys)
    assert "bag not found" in err and not (tmp_path / "r").exists()


def test_bag_without_needed_topics_or_truncated(bag: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(bag, broken)
    (data,) = broken.glob("*.mcap")
    data.write_bytes(data.read_bytes()[:1000])
    assert "cannot open bag" in _replay_error([str(broken), "--out", str(tmp_path / "r")], capsys)
    assert list(tmp_path.iterdir()) == [broken]


def test_existing_report_folder_is_kept(bag: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "mine.txt").write_text("keep")
    assert "exists already" in _replay_error([str(bag), "--out", str(tmp_path / "r")], capsys)
    assert (tmp_path / "r" / "mine.txt").read_text() == "keep"


def test_node_that_cannot_start(bag: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "bogus.safetensors"
    bogus.write_bytes(b"not a model")
    err = _replay_error([str(bag), "--out", str(tmp_path / "r"), "--checkpoint", str(bogus)], capsys)
    assert "the node exited (code 1)" in err and "cannot start" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bogus.safetensors"]


def test_demo_names_a_missing_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(["demo", "--out", str(tmp_path / "demo"), "--checkpoint", str(tmp_path / "none.pt")])
    assert code == 2 and "checkpoint is missing" in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()
