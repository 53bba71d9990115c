"""Every kind of bad input, sent on purpose over DDS: the node stays up, counts it, and resumes.

Counts are read from /diagnostics as a user would, not from the node object.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import rclpy
from ros_harness import Probe, compressed_rgb_msg, depth_msg, node_bench, rgb_msg, wait_for
from sensor_msgs.msg import CompressedImage

from stdnet_ros.node.stats import PAIRS

pytestmark = pytest.mark.ros
# A long silence timeout: a slow shared CPU must not turn a pause between steps into a WARN.
BASE = {"window": 3, "diagnostics_period_s": 0.2, "log_throttle_s": 0.0, "pair_queue_size": 3,
        "input_timeout_s": 60.0}


def _bench(ros_context: rclpy.Context, checkpoint: Path, **params: object) -> AbstractContextManager[Probe]:
    """A node with ``params`` and a probe connected to it, torn down afterwards."""
    return node_bench(ros_context, "bad", checkpoint=str(checkpoint), **{**BASE, **params})


def _good(probe: Probe, t0: float, n: int = 2, h: int = 32, w: int = 40) -> None:
    for k in range(n):
        t = t0 + 0.1 * k
        out = probe.send(t, rgb_msg(k, t, h=h, w=w), depth_msg(k, t, h=h // 4, w=w // 4))
        assert out is not None and (out.height, out.width) == (h, w), "no output for a good frame"


def _with(msg, **fields):
    for name, value in fields.items():
        setattr(msg, name, value)
    return msg


def _truncated(msg):
    return _with(msg, data=bytes(msg.data)[:-7])


def _send(probe: Probe, t: float, rgb=None, depth=None) -> None:
    probe.send(t, rgb, depth, expect_output=False)


def _flood(probe: Probe, t0: float) -> None:
    """Pairs 10 ms apart while inference is held busy (a call queued on the worker thread waits for
    them), so the input outpaces inference however fast the machine: a queue of one keeps the newest."""
    node, gate = probe.stdnet, threading.Event()
    pairs = node.stats.count(PAIRS)
    node.worker.call_soon(lambda: gate.wait(10.0))
    for k in range(4):
        t = t0 + 0.01 * k
        probe.pub_rgb.publish(rgb_msg(k, t))
        probe.pub_depth.publish(depth_msg(k, t))
        time.sleep(0.01)
    wait_for(lambda: node.stats.count(PAIRS) >= pairs + 3, 5.0)
    gate.set()


CASES: dict[str, tuple[dict, Callable[[Probe, float], None], str]] = {
    "unknown rgb encoding": (
        {}, lambda p, t: _send(p, t, _with(rgb_msg(0, t), encoding="yuv422"), depth_msg(0, t)),
        "dropped rgb/image: unknown_encoding"),
    "depth on the rgb topic": (
        {}, lambda p, t: _send(p, t, depth_msg(0, t), depth_msg(0, t)),
        "dropped rgb/image: unknown_encoding"),
    "short depth data": (
        {}, lambda p, t: _send(p, t, rgb_msg(0, t), _truncated(depth_msg(0, t))),
        "dropped depth/image: data_length"),
    "step mismatch": (
        {}, lambda p, t: _send(p, t, rgb_msg(0, t), _with(depth_msg(0, t), step=4)),
        "dropped depth/image: step_mismatch"),
    "corrupt compressed rgb": (
        {"use_compressed_rgb": True},
        lambda p, t: _send(p, t, CompressedImage(header=compressed_rgb_msg(0, t).header, format="jpeg",
                                                 data=b"\xff\xd8garbage"), depth_msg(0, t)),
        "dropped rgb/compressed: decode_failed"),
    "rgb not scale x depth, resize off": (
        {"resize_rgb": False}, lambda p, t: _send(p, t, rgb_msg(0, t, h=24, w=30), depth_msg(0, t)),
        "dropped size_mismatch"),
    "rgb of another aspect ratio, no camera_info": (  # 40x30 beside 10x8: never stretched into it
        {}, lambda p, t: _send(p, t, rgb_msg(0, t, h=30, w=40), depth_msg(0, t)),
        "dropped aspect_mismatch"),
    "unpaired rgb, faster than the depth": (  # surplus colour: counted, not a drop
        {}, lambda p, t: [_send(p, t + 0.01 * k, rgb_msg(0, t + 0.01 * k)) for k in range(5)],
        "unpaired rgb/image: rgb_without_depth"),
    "inference slower than input": (
        {"inference_queue_size": 1},
        lambda p, t: _flood(p, t),
        "dropped inference_busy"),
    "stamps going backwards": (
        {}, lambda p, t: _send(p, t - 50.0, rgb_msg(0, t - 50.0), depth_msg(0, t - 50.0)),
        "event depth/image: stamp_backwards"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_counted_and_the_node_recovers(ros_context, tiny_checkpoint: Path, case: str) -> None:
    params, bad, key = CASES[case]
    with _bench(ros_context, tiny_checkpoint, **params) as probe:
        if params.get("use_compressed_rgb"):
            for k in range(2):
                t = 100.0 + 0.1 * k
                assert probe.send(t, compressed_rgb_msg(k, t), depth_msg(k, t)) is not None
        else:
            _good(probe, 100.0)
        bad(probe, 101.0)
        deadline = time.monotonic() + 5.0
        while (status := probe.fresh_status()).get(key, "0") == "0" and time.monotonic() < deadline:
            pass
        assert int(status.get(key, "0")) >= 1, status
        if case == "rgb not scale x depth, resize off":
            assert status["_level"] == "2" and "resize_rgb" in status["_message"]
        if case == "rgb of another aspect ratio, no camera_info":
            assert status["_level"] == "2" and "depth/camera_info" in status["_message"]
        if params.get("use_compressed_rgb"):
            assert probe.send(102.0, compressed_rgb_msg(5, 102.0), depth_msg(5, 102.0)) is not None
        else:
            _good(probe, 102.0)
        status = probe.fresh_status()
        assert status["_level"] == "0", status["_message"]


def test_size_change_mid_stream_restarts_at_the_new_size(ros_context, tiny_checkpoint: Path) -> None:
    with _bench(ros_context, tiny_checkpoint) as probe:
        _good(probe, 100.0)
        _good(probe, 100.5, h=64, w=80)
        status = probe.fresh_status()
        assert status["event depth/image: size_change"] == "1"
        assert status["event rgb/image: size_change"] == "1"
        assert int(status["event engine_reset"]) >= 1
        _good(probe, 101.0)


def test_silent_input_warns_then_clears(ros_context, tiny_checkpoint: Path) -> None:
    with _bench(ros_context, tiny_checkpoint, input_timeout_s=0.6) as probe:
        _good(probe, 100.0)
        deadline, k = time.monotonic() + 5.0, 0
        while time.monotonic() < deadline:  # RGB keeps coming, depth has gone silent
            k += 1
            probe.pub_rgb.publish(rgb_msg(k, 100.2 + 0.1 * k))
            status = probe.fresh_status()
            if status["_level"] == "1":
                break
        assert "depth/image: no message for" in status["_message"], status
        assert "rgb/image" not in status["_message"]
        _good(probe, 102.0)
        status = probe.fresh_status()
        assert status["_level"] == "0", status["_message"]
