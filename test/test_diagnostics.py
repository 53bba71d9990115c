"""Rolling statistics and stream-continuity checks, ROS-free and on a controlled clock."""

from __future__ import annotations

import pytest

from stdnet_ros.node.monitor import InputMonitor
from stdnet_ros.node.stats import (
    DEPTH_IN_FLIGHT,
    RGB_WITHOUT_DEPTH,
    FrameTiming,
    NodeStats,
    depth_account,
    input_reason,
    status_drops,
    status_unpaired,
)


def test_rates_percentiles_and_drops() -> None:
    stats = NodeStats(window_s=2.0)
    for k in range(21):  # 10 Hz for 2 s
        t = k * 0.1
        stats.received("depth/image", t)
        stats.paired(0.001 * (k % 5), t)
        stats.published(FrameTiming(latency_s=0.01 * (k + 1), queue_wait_s=0.0, inference_s=0.005), t)
    stats.dropped("queue_overflow", 3)
    stats.dropped("worker_busy")
    stats.noted("depth/image: size_change")
    kv = dict(stats.report(now=2.0))
    assert float(kv["rate in/depth/image (Hz)"]) == pytest.approx(10.0)
    assert float(kv["rate out (Hz)"]) == pytest.approx(10.0)
    assert kv["count pairs"] == "21"
    assert float(kv["latency p50 (ms)"]) == pytest.approx(110.0)
    assert float(kv["latency p99 (ms)"]) == pytest.approx(208.0)
    assert float(kv["pairing skew p95 (ms)"]) == pytest.approx(4.0)
    assert kv["dropped total"] == "4" and kv["dropped queue_overflow"] == "3"
    assert stats.drops() == {"queue_overflow": 3, "worker_busy": 1}
    assert kv["event depth/image: size_change"] == "1" and stats.events() == {"depth/image: size_change": 1}
    assert float(dict(stats.report(now=10.0))["rate out (Hz)"]) == 0.0  # window slid past


def test_empty_stats_say_not_available() -> None:
    kv = dict(NodeStats().report(now=0.0))
    assert kv["latency p50 (ms)"] == "n/a" and kv["dropped total"] == "0"


def test_backwards_stamp_and_size_change_are_reported_then_accepted() -> None:
    mon = InputMonitor(started=0.0)
    assert mon.check("depth", 100, (4, 5), 0.0) == []
    problems = mon.check("depth", 50, (8, 10), 0.1)
    assert [p.reason for p in problems] == ["stamp_backwards", "size_change"]
    assert "(4, 5)" in problems[1].detail
    assert mon.check("depth", 60, (8, 10), 0.2) == []  # the new stream is the reference now


def test_silence_counts_from_start_and_from_last_receipt() -> None:
    mon = InputMonitor(started=0.0)
    mon.received("rgb", 1.0)
    assert mon.silent(["rgb", "depth"], now=2.0, timeout_s=3.0) == []
    silent = mon.silent(["rgb", "depth"], now=4.5, timeout_s=3.0)
    assert [p.reason for p in silent] == ["input_silent", "input_silent"]
    assert [p.detail.split(":")[0] for p in silent] == ["rgb", "depth"]
    assert "nothing received" in silent[1].detail
    mon.received("depth", 4.6)
    assert [p.detail.split(":")[0] for p in mon.silent(["rgb", "depth"], 4.7, 3.0)] == ["rgb"]


def test_rgb_without_a_depth_partner_is_reported_apart_from_drops() -> None:
    """30 Hz colour beside a 5 Hz ToF leaves five RGB frames in six unpaired by design: a count of
    its own, in neither the drops nor their total, while real drops stay drops."""
    stats = NodeStats()
    for _ in range(5):
        stats.unpaired(input_reason("rgb/image", RGB_WITHOUT_DEPTH))
    stats.dropped(input_reason("rgb/image", "stream_restart"))
    kv = dict(stats.report(now=0.0))
    assert kv["dropped total"] == "1" and status_drops(kv) == {"rgb/image: stream_restart": 1}
    assert status_unpaired(kv) == {"rgb/image: rgb_without_depth": 5}


def test_the_depth_account_adds_up_from_the_nodes_own_counters() -> None:
    stats = NodeStats()
    for k in range(10):
        stats.received("depth/image", k * 0.2)
        stats.received("rgb/image", k * 0.2)
    for _ in range(6):
        stats.published(FrameTiming(0.1, 0.0, 0.05), 1.0)
    stats.dropped("inference_busy", 2)  # a pair: one depth frame each
    stats.dropped(input_reason("depth/image", "data_length"))
    stats.dropped(input_reason("rgb/image", "stream_restart"))  # RGB: no depth frame
    kv = dict(stats.report(now=2.0)) | {DEPTH_IN_FLIGHT: "1"}
    account = depth_account(kv, "depth/image")
    assert (account.received, account.published, account.in_flight) == (10, 6, 1)
    assert account.dropped == {"inference_busy": 2, "depth/image: data_length": 1}
    assert account.unaccounted == 0
    assert depth_account(kv | {DEPTH_IN_FLIGHT: "0"}, "depth/image").unaccounted == 1
    assert depth_account(dict(stats.report(now=2.0)), "depth/image") is None  # a node without the key
