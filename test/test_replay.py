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
from stdnet_ros.node.stats import COMPILING
from stdnet_ros.replay.analysis import IN_FLIGHT_AT_END, WITHOUT_OUTPUT
from stdnet_ros.replay.record import DIAGNOSTICS, Received, ReplayRecord, node_statuses
from stdnet_ros.replay.soak import _warm_up_ns
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
    tail = drops.pop(IN_FLIGHT_AT_END, 0)
    assert drops == {WITHOUT_OUTPUT: tail} and outputs == FRAMES - tail >= FRAMES - 3
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
    """Three passes with stamps jumping back, as ros2 bag play --loop: every pass is answered in full.
    On torch: with OpenVINO on a cold cache (a fresh machine) the background compilations outlast
    this 4 s run, and the soak counts what they keep until they end (tested below)."""
    report = tmp_path / "soak"
    code = cli_main(["replay", str(bag), "--loop", "3", "--rate", "0.2", "--out", str(report),
                     "--checkpoint", str(tiny_checkpoint), "-p", "inference_queue_size:=20",
                     "-p", "backend:=torch"])  # fmt: skip
    assert code == 0
    summary = json.loads((report / "summary.json").read_text())
    drops, outputs = summary["drops"], summary["outputs"]
    # No drop at a restart: only the last pass's pairing tail may be missing, as in a single pass.
    tail = drops.pop(IN_FLIGHT_AT_END, 0)
    assert drops == {WITHOUT_OUTPUT: tail} and outputs == 3 * FRAMES - tail
    assert tail <= 3
    status = summary["node_status"]
    assert int(status["event depth/image: stamp_backwards"]) == 2 and int(status["dropped total"]) == 0
    soak = summary["soak"]
    assert (soak["loops"], soak["frames"], soak["outputs"]) == (3, 3 * FRAMES, outputs)
    assert soak["unaccounted"] == 0 and soak["warm_up_s"] > 0 and soak["transport_lost"] == 0
    assert soak["received"] == 3 * FRAMES and soak["published"] == outputs and soak["in_flight"] == tail
    assert 0 < soak["resident_after_warm_up_mb"] <= soak["resident_peak_mb"]
    assert soak["growth_mb"] < 50 and sum(s["outputs"] for s in soak["slices"]) == outputs
    assert (report / "soak.png").stat().st_size > 0
    # Only the first pass is kept whole and scored: a 10,000-frame soak must not hold every image.
    assert summary["scores"]["guided"]["frames"] == FRAMES
    with Reader(report / "node_output_bag") as reader:
        kept = [c.msgcount for c in reader.connections if c.topic.endswith("depth_sr/image")]
    assert kept == [FRAMES]
    assert "## Soak: 3 passes" in (report / "summary.md").read_text()


def test_another_publisher_on_the_bag_topics_cannot_reach_the_replays_node(
    bag: Path, tiny_checkpoint: Path, tmp_path: Path, ros_context: object
) -> None:
    """What left a loaded 10,000-frame soak with 13 outputs "whose stamp was never published" and
    drops above the frames sent: the replay's node listened on the bag's own topic names, so any other
    publisher of them on the DDS domain (a second replay, the demo) fed it frames the player never
    sent. Here one publishes valid, pairable frames on those names all through the replay."""
    import threading
    import time

    import rclpy
    from ros_harness import depth_msg, rgb_msg
    from sensor_msgs.msg import Image

    from stdnet_ros.bags.schema import DEPTH_TOPIC, RGB_TOPIC
    from stdnet_ros.replay.node_process import NODE_NAMESPACE

    intruder = rclpy.create_node("intruder", context=ros_context)
    topics = (RGB_TOPIC, DEPTH_TOPIC, f"{NODE_NAMESPACE}{RGB_TOPIC}", f"{NODE_NAMESPACE}{DEPTH_TOPIC}")
    pubs = [intruder.create_publisher(Image, topic, 10) for topic in topics]
    stop = threading.Event()

    def publish() -> None:
        k = 0
        while not stop.is_set():
            t = time.time()
            for pub, msg in zip(pubs, [rgb_msg(k, t, h=48, w=64), depth_msg(k, t, h=12, w=16)] * 2,
                                strict=True):  # fmt: skip
                pub.publish(msg)
            k += 1
            time.sleep(0.03)

    thread = threading.Thread(target=publish, daemon=True)
    thread.start()
    try:
        report = tmp_path / "report"
        assert cli_main(["replay", str(bag), "--rate", "0.2", "--out", str(report), "--checkpoint",
                         str(tiny_checkpoint), "-p", "inference_queue_size:=20"]) == 0  # fmt: skip
    finally:
        stop.set()
        thread.join()
        intruder.destroy_node()
    summary = json.loads((report / "summary.json").read_text())
    assert int(summary["node_status"]["count in/depth/image"]) == FRAMES, summary["drops"]
    tail = summary["drops"].pop(IN_FLIGHT_AT_END, 0)
    assert summary["drops"] == {WITHOUT_OUTPUT: tail} and summary["outputs"] == FRAMES - tail


def _replay_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert cli_main(["replay", *args]) == 2
    return capsys.readouterr().err


def test_missing_bag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _replay_error([str(tmp_path / "none"), "--out", str(tmp_path / "r")], capsys)
    assert "bag not found" in err and not (tmp_path / "r").exists()


def test_bag_without_needed_topics_or_truncated(bag: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    import shutil

    from rosbags.rosbag2 import StoragePlugin, Writer

    from stdnet_ros.bags.schema import DEPTH_TOPIC

    no_depth = tmp_path / "no_depth"  # every message of the bag but its depth
    with Reader(bag) as reader, Writer(no_depth, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        kept = {c.id: writer.add_connection(c.topic, c.msgtype, typestore=TYPESTORE)
                for c in reader.connections if c.topic != DEPTH_TOPIC}  # fmt: skip
        for conn, stamp, raw in reader.messages():
            if conn.id in kept:
                writer.write(kept[conn.id], stamp, raw)
    err = _replay_error([str(no_depth), "--out", str(tmp_path / "r")], capsys)
    assert f"lacks topic(s) ['{DEPTH_TOPIC}']" in err
    broken = tmp_path / "broken"
    shutil.copytree(bag, broken)
    (data,) = broken.glob("*.mcap")
    data.write_bytes(data.read_bytes()[:1000])
    assert "cannot open bag" in _replay_error([str(broken), "--out", str(tmp_path / "r")], capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "no_depth"]


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


def _diagnostics(namespace: str, compiling: str) -> bytes:
    """A /diagnostics message holding the node's status with ``backend compiling``."""
    types = TYPESTORE.types
    pair = types["diagnostic_msgs/msg/KeyValue"](key=COMPILING, value=compiling)
    status = types["diagnostic_msgs/msg/DiagnosticStatus"](
        level=0, name=f"{namespace}/stdnet_node", message="running", hardware_id="", values=[pair]
    )
    stamp = types["builtin_interfaces/msg/Time"](sec=0, nanosec=0)
    msg = types["diagnostic_msgs/msg/DiagnosticArray"](
        header=types["std_msgs/msg/Header"](stamp=stamp, frame_id=""), status=[status]
    )
    return bytes(TYPESTORE.serialize_cdr(msg, "diagnostic_msgs/msg/DiagnosticArray"))


def test_warm_up_lasts_until_the_backend_stops_compiling() -> None:
    """Compiled models are memory the node keeps: growth is measured from the later of the second
    pass and the first status saying the background compilations are over."""
    ns = "/replay_test"
    record = ReplayRecord(rate=1.0, loops=2, started_ns=0, finished_ns=10_000)
    record.passes = {100: 0, 200: 1}
    record.depth_clock = {100: 1_000, 200: 4_000}  # the second pass starts at 4 us
    say = [(2_000, "yes"), (5_000, "yes"), (6_000, "no"), (7_000, "no")]
    record.received = [Received(DIAGNOSTICS, at, _diagnostics(ns, value)) for at, value in say]
    assert _warm_up_ns(record, list(node_statuses(record, ns))) == 6_000
    record.received = record.received[:2]  # still compiling at the end: the second pass as before
    assert _warm_up_ns(record, list(node_statuses(record, ns))) == 4_000
    record.received = [Received(DIAGNOSTICS, 3_000, _diagnostics(ns, "no"))]  # done before it
    assert _warm_up_ns(record, list(node_statuses(record, ns))) == 4_000
