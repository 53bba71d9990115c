"""``stdnet-ros score``: the report from a bag as ``ros2 bag record`` writes it during ``ros2 bag play``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer

from stdnet_ros.bags import Timing, open_bag, write_bag
from stdnet_ros.bags import messages as m
from stdnet_ros.bags.schema import DEPTH_TOPIC, IMAGE, TYPESTORE
from stdnet_ros.cli import main as cli_main
from stdnet_ros.conversion import encode_depth
from stdnet_ros.data.synthetic import generate_clip
from stdnet_ros.replay.analysis import IN_FLIGHT_AT_END, WITHOUT_OUTPUT

NS = "/front"
DIAG = "diagnostic_msgs/msg/DiagnosticArray"
T = TYPESTORE.types


def _diagnostics(ns_log: int, values: dict[str, str]) -> object:
    kvs = [T["diagnostic_msgs/msg/KeyValue"](key=k, value=v) for k, v in values.items()]
    status = T["diagnostic_msgs/msg/DiagnosticStatus"](level=0, name=f"{NS}/stdnet_node: depth", message="ok",
                                                         hardware_id="cpu", values=kvs)  # fmt: skip
    return T[DIAG](header=m.header(ns_log, ""), status=[status])


@pytest.fixture()
def played(tmp_path: Path) -> tuple[Path, Path]:
    """A bag, and what `ros2 bag record` captures when it is played into a node that answers all
    but the last frame (left in its pairing queue) 40 ms after each depth message arrives."""
    clip = generate_clip(9, 6, height=32, width=48, scale=4)
    bag = write_bag(clip, tmp_path / "bag", timing=Timing(seed=1))
    recorded = tmp_path / "recorded"
    frames = list(open_bag(bag).stamped_frames())
    with Writer(recorded, version=9, storage_plugin=StoragePlugin.SQLITE3) as writer:
        depth = writer.add_connection(DEPTH_TOPIC, IMAGE, typestore=TYPESTORE)
        out = writer.add_connection(f"{NS}/depth_sr/image", IMAGE, typestore=TYPESTORE)
        diag = writer.add_connection("/diagnostics", DIAG, typestore=TYPESTORE)
        for k, (stamp, frame) in enumerate(frames):
            arrival = stamp + 2_000_000
            msg = m.image(encode_depth(frame.depth_lr, "32FC1"), "32FC1", stamp, "tof_optical_frame")
            writer.write(depth, arrival, TYPESTORE.serialize_cdr(msg, IMAGE))
            if k < len(frames) - 1:  # the node answers with the ground truth itself: RMSE 0
                msg = m.image(encode_depth(frame.depth_gt, "32FC1"), "32FC1", stamp, "rgb")
                writer.write(out, arrival + 40_000_000, TYPESTORE.serialize_cdr(msg, IMAGE))
        status = {"model": "gt-oracle", "count in/depth/image": "6", "count pairs": "5", "count out": "5",
                  "dropped total": "2", "lookahead": "0", "depth in flight": "1",
                  "rate in/rgb/image (Hz)": "30.00", "rate in/depth/image (Hz)": "5.00",
                  "unpaired rgb/image: rgb_without_depth": "25",
                  "dropped rgb/image: stream_restart": "2"}  # fmt: skip
        end = frames[-1][0] + 100_000_000
        writer.write(diag, end, TYPESTORE.serialize_cdr(_diagnostics(end, status), DIAG))
    return bag, recorded


def test_score_recorded_run(played: tuple[Path, Path], tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    bag, recorded = played
    report = tmp_path / "report"
    assert cli_main(["score", str(recorded), "--bag", str(bag), "--out", str(report)]) == 0
    assert f"report: {report.resolve()}" in capsys.readouterr().out
    summary = json.loads((report / "summary.json").read_text())
    assert (summary["inputs"], summary["outputs"]) == (6, 5)
    assert summary["drops"] == {IN_FLIGHT_AT_END: 1, WITHOUT_OUTPUT: 1}  # RGB costs no depth frame
    surplus = "RGB without a depth partner (expected at 30 Hz RGB / 5 Hz depth)"
    assert summary["rgb"] == {surplus: 25, "dropped: rgb/image: stream_restart": 2}
    text = (report / "summary.md").read_text()
    assert text.index("| depth frames without output, by reason |") < text.index("| RGB frames not used |")
    assert text.index("| RGB frames not used |") < text.index(f"| {surplus} | 25 |")
    for p in ("p50", "p95", "p99"):
        assert summary["latency_ms"][p] == pytest.approx(40.0, abs=1e-3)
    assert summary["scores"]["STDNet (live node)"]["rmse_cm"] == 0.0
    assert summary["scores"]["guided"]["rmse_cm"] > 0.0
    assert summary["node_status"]["model"] == "gt-oracle"
    assert (report / "sequence.gif").is_file() and len(list((report / "frames").iterdir())) == 4
    assert np.isfinite(summary["input_hz"]) and 25 < summary["input_hz"] < 35


def test_score_refuses_bad_recordings(played: tuple[Path, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    bag, _ = played
    assert cli_main(["score", str(bag), "--bag", str(bag), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "needs /tof/depth/image_raw and one */depth_sr/image topic" in err
    assert not (tmp_path / "r").exists()
    assert cli_main(["score", str(tmp_path / "nope"), "--bag", str(bag), "--out", str(tmp_path / "r")]) == 2
    assert "recorded bag not found" in capsys.readouterr().err
