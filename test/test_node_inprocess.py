"""stdnet_node in this process, fed and read over real DDS by a probe node.

Checks each output's size, encoding, stamp (the depth's), frame_id (the
RGB's), camera_info and confidence for 16UC1 and 32FC1 depth and every RGB
encoding, RGB resizing, compressed RGB, the output encoding parameter, and
run-time parameter changes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rclpy
from rclpy.parameter import Parameter
from ros_harness import (
    RGB_FRAME,
    Probe,
    camera_info_msg,
    compressed_rgb_msg,
    depth_msg,
    node_bench,
    rgb_msg,
    wait_for,
)

from stdnet_ros.conversion import image_to_depth
from stdnet_ros.model import STDNet
from stdnet_ros.model.checkpoint import save_checkpoint
from stdnet_ros.node.stats import OUT, PAIRS, depth_account, status_drops, status_unpaired

pytestmark = pytest.mark.ros
RGB_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")
SKEW = 0.004  # RGB stamp = depth stamp + SKEW, within the default slop


@pytest.fixture
def bench(
    ros_context: rclpy.Context, tiny_checkpoint: Path, request: pytest.FixtureRequest
) -> Iterator[Probe]:
    """The node (extra parameters by indirect parametrisation) and a connected probe."""
    params = {"checkpoint": str(tiny_checkpoint), "window": 3, "input_timeout_s": 60.0,
              **getattr(request, "param", {})}
    with node_bench(ros_context, "inproc", **params) as probe:
        yield probe


def _check_output(out, depth_encoding: str, t_depth: float, size: tuple[int, int] = (32, 40)) -> np.ndarray:
    assert out is not None, "no output arrived"
    assert (out.height, out.width) == size
    assert out.encoding == depth_encoding
    assert (out.header.stamp.sec, out.header.stamp.nanosec) == (int(t_depth), round((t_depth % 1) * 1e9))
    assert out.header.frame_id == RGB_FRAME
    depth = image_to_depth(out)
    valid = depth[np.isfinite(depth)]
    assert valid.size > 0.5 * depth.size and (valid > 0).all() and (valid <= 10.0).all()
    return depth


@pytest.mark.parametrize("depth_encoding", ["16UC1", "32FC1"])
def test_outputs_for_every_rgb_encoding(bench: Probe, depth_encoding: str) -> None:
    for k, rgb_encoding in enumerate(RGB_ENCODINGS * 2):
        t = 100.0 + 0.1 * k
        out = bench.send(t, rgb_msg(k, t + SKEW, rgb_encoding), depth_msg(k, t, depth_encoding),
                         info=camera_info_msg(t + SKEW))
        _check_output(out, depth_encoding, t)
    last = bench.outputs[-1].header  # camera_info and confidence are published after the depth image
    arrived = wait_for(lambda: bench.infos and bench.infos[-1].header == last and bench.confidences
                       and bench.confidences[-1].header == last, 5.0)
    assert arrived, "no camera_info / confidence for the last frame"
    info, conf = bench.infos[-1], bench.confidences[-1]
    assert info.header == bench.outputs[-1].header and (info.width, info.height) == (40, 32)
    assert list(info.k) == list(camera_info_msg(0).k)
    assert conf.encoding == "32FC1" and conf.header == bench.outputs[-1].header
    confidence = np.frombuffer(conf.data, np.float32)
    assert confidence.size == 32 * 40 and confidence.min() >= 0 and confidence.max() <= 1
    assert bench.stdnet.stats.drops() == {}


def test_larger_rgb_is_resized_and_camera_info_follows(bench: Probe) -> None:
    for k in range(3):
        t = 200.0 + 0.1 * k
        out = bench.send(t, rgb_msg(k, t, "bgr8", h=64, w=80), depth_msg(k, t),
                         info=camera_info_msg(t, h=64, w=80))
        _check_output(out, "16UC1", t)
    info = bench.infos[-1]
    assert (info.width, info.height) == (40, 32)
    np.testing.assert_allclose(info.k, camera_info_msg(0).k)
    np.testing.assert_allclose(info.p, camera_info_msg(0).p)


COMPRESSED_32FC1 = {"output_encoding": "32FC1", "publish_confidence": False, "use_compressed_rgb": True}


@pytest.mark.parametrize("bench", [COMPRESSED_32FC1], indirect=True)
def test_compressed_rgb_and_output_encoding_parameter(bench: Probe) -> None:
    for k in range(3):
        t = 300.0 + 0.1 * k
        _check_output(bench.send(t, compressed_rgb_msg(k, t), depth_msg(k, t, "16UC1")), "32FC1", t)
    assert bench.confidences == []


@pytest.mark.parametrize("bench", [{"lookahead": 1}], indirect=True)
def test_lookahead_output_carries_the_older_frames_stamp(bench: Probe) -> None:
    """The first frame is held until the next one comes; then only the first comes out."""
    node = bench.stdnet

    def handled(pairs: int) -> bool:
        return node.stats.count(PAIRS) == pairs and node.worker.idle()

    bench.send(400.0, rgb_msg(0, 400.0), depth_msg(0, 400.0), expect_output=False)
    assert wait_for(lambda: handled(1), 10.0), "the first pair never reached inference"
    assert bench.outputs == [] and node.stats.count(OUT) == 0  # held for its lookahead
    out = bench.send(400.1, rgb_msg(1, 400.1), depth_msg(1, 400.1), expect_t=400.0)
    _check_output(out, "16UC1", 400.0)
    assert wait_for(lambda: handled(2), 10.0)
    assert node.stats.count(OUT) == 1 and node.pipeline.pending() == 1  # 400.1 waits in turn


def test_run_time_parameter_changes(bench: Probe, tmp_path: Path) -> None:
    node = bench.stdnet
    result = node.set_parameters([Parameter("checkpoint", value=str(tmp_path / "missing.safetensors"))])[0]
    assert not result.successful and "kept the running model" in result.reason
    assert not node.set_parameters([Parameter("qos_depth", value=3)])[0].successful
    result = node.set_parameters([Parameter("lookahead", value=5)])[0]
    assert not result.successful and "smaller than window" in result.reason
    assert node.set_parameters([Parameter("window", value=5), Parameter("slop", value=0.01)])[0].successful
    for k in range(3):  # the swap happens between frames; outputs keep coming
        t = 500.0 + 0.1 * k
        _check_output(bench.send(t, rgb_msg(k, t), depth_msg(k, t)), "16UC1", t)
    assert node.pipeline.engine.window == 5 and node.get_parameter("window").value == 5
    status = bench.fresh_status()
    assert status["window"] == "5" and status["model"] == "tiny-test" and status["_level"] == "0"
    other = save_checkpoint(STDNet(scale=4, mid_channels=4, head_channels=8), tmp_path / "other.safetensors",
                            max_depth=10.0, name="tiny-other")
    assert node.set_parameters([Parameter("checkpoint", value=str(other))])[0].successful  # reloads
    _check_output(bench.send(600.0, rgb_msg(0, 600.0), depth_msg(0, 600.0)), "16UC1", 600.0)
    status = bench.fresh_status()
    assert status["model"] == "tiny-other" and status["event reconfigured"] == "2"
    assert status["device"] == "cpu" and status["precision"] in ("fp32", "bf16")  # auto: by measurement
    assert int(status["count out"]) >= 3 and status["latency p50 (ms)"] != "n/a"


DEFAULT_MODEL = {"checkpoint": "", "window": 0}


@pytest.mark.parametrize("bench", [DEFAULT_MODEL, {**DEFAULT_MODEL, "views": 2}],
                         ids=["from-checkpoint", "views-set"], indirect=True)
def test_the_checkpoints_window_then_views_are_cut_when_they_cannot_keep_up(bench: Probe) -> None:
    """Pairs every 2 ms (500 Hz) leave any model too little time, however fast the machine: the
    embedded default's window (W = 2) is cut to 1, then its views; views set explicitly stay."""
    node, explicit = bench.stdnet, bench.stdnet.values["views"] == 2
    assert (node.pipeline.engine.window, node.pipeline.engine.views) == (2, 2)
    want = (1, 2) if explicit else (1, 1)
    t, k, deadline = 500.0, 0, time.monotonic() + 60.0
    while time.monotonic() < deadline:
        bench.pub_rgb.publish(rgb_msg(k, t, h=240, w=320))
        bench.pub_depth.publish(depth_msg(k, t, h=60, w=80))
        t, k = t + 0.002, k + 1
        time.sleep(0.002)
        if (node.pipeline.engine.window, node.pipeline.engine.views) == want and len(bench.outputs) >= 12:
            break
    assert wait_for(lambda: len(bench.outputs) >= 10, 20.0), "the node stopped answering"
    assert (node.pipeline.engine.window, node.pipeline.engine.views) == want
    events = node.stats.events()
    assert events.get("fallback_window") == 1 and events.get("fallback_views") == (None if explicit else 1)


@pytest.mark.parametrize("bench", [{"inference_queue_size": 1, "lookahead": 1}], indirect=True)
def test_every_depth_frame_received_is_published_or_dropped_with_a_reason(bench: Probe) -> None:
    """Colour at three times the depth rate and pairs faster than inference (a 2 ms period), plus a
    bad depth message: the node's own counters place every depth frame it received, and the surplus
    colour frames are counted apart from the drops."""
    node = bench.stdnet
    t = 700.0
    for k in range(40):
        for j in range(3):  # the first shares the depth's stamp; the two others (30 ms on) never pair
            bench.pub_rgb.publish(rgb_msg(k, t + 0.03 * j))
        depth = depth_msg(k, t)
        if k == 20:
            depth.data = depth.data[:-2]  # a truncated image
        bench.pub_depth.publish(depth)
        t += 0.1
        time.sleep(0.002)
    settled = wait_for(lambda: node.worker.idle() and node.pipeline.pending() == 1, 20.0)
    assert settled, "the node never went idle"
    status = bench.fresh_status()
    account = depth_account(status, "depth/image")
    # In flight: the last frame waits for its lookahead, and any depth whose RGB DDS lost still waits.
    assert account.unaccounted == 0 and account.in_flight == 1 + node.pairer.pending()[1]
    assert account.dropped.get("depth/image: data_length") == 1
    assert account.published == len(bench.outputs) > 1
    assert account.dropped.get("inference_busy", 0) > 0, "the test meant inference to be outpaced"
    unpaired = status_unpaired(status)
    assert unpaired.get("rgb/image: rgb_without_depth", 0) >= 40
    assert not any(r.startswith("rgb/image") for r in status_drops(status)), status_drops(status)
    assert int(status["dropped total"]) == sum(status_drops(status).values())
