"""Score a replay without ROS: accuracy against ground truth next to the baselines, latency, rate, drops.

Works on what the player recorded (raw CDR as DDS delivered it) and on the
bag itself, so the figures describe the messages the node really published.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from stdnet_ros.bags import BagClip
from stdnet_ros.bags.schema import DEPTH_TOPIC, IMAGE, TYPESTORE
from stdnet_ros.conversion import header_ns, image_to_depth
from stdnet_ros.data.frames import Frame
from stdnet_ros.evaluation.baselines import BASELINES, upsample
from stdnet_ros.evaluation.metrics import ClipMetrics, ClipScore
from stdnet_ros.node.params import TOPICS
from stdnet_ros.node.stats import (
    PERCENTILES,
    RGB_WITHOUT_DEPTH,
    depth_account,
    depth_drops,
    input_counter,
    input_reason,
    rate_key,
    reason_topic,
    status_drops,
    status_unpaired,
)
from stdnet_ros.replay.record import ReplayRecord, node_status, node_statuses

STDNET = "STDNet (live node)"


@dataclass
class Output:
    bag_stamp_ns: int  # the depth stamp in the bag this output answers
    received_ns: int  # arrival at the recorder (wall clock)
    latency_s: float  # depth stamp on the replay clock -> arrival at the recorder
    depth: np.ndarray | None  # (H, W) metres, NaN invalid; None where a soak pass kept only the stamp


@dataclass
class ReplayResult:
    inputs: int  # depth messages published
    outputs: list[Output]
    input_hz: float
    output_hz: float
    drops: dict[str, int]  # reason -> count, for depth frames (each depth frame is one output or one drop)
    node_status: dict[str, str]
    rgb: dict[str, int] = field(default_factory=dict)  # RGB frames without a partner, expected or dropped
    scores: dict[str, ClipScore] = field(default_factory=dict)  # method -> score, STDNet first
    per_frame_rmse: dict[str, list[float]] = field(default_factory=dict)
    frame_times_s: list[float] = field(default_factory=list)  # seconds into the bag, scored frames
    best_baseline: str | None = None

    def latency_ms(self) -> dict[int, float]:
        values = np.array([o.latency_s for o in self.outputs]) * 1e3
        return {p: float(np.percentile(values, p)) if values.size else float("nan") for p in PERCENTILES}


def decode_outputs(record: ReplayRecord, namespace: str) -> tuple[list[Output], int]:
    """The node's depth outputs matched to bag stamps, and how many matched no published depth."""
    outputs, unknown = [], 0
    for received in record.of(f"{namespace}/{TOPICS['output']}"):
        msg = None if received.raw is None else TYPESTORE.deserialize_cdr(received.raw, IMAGE)
        stamp = received.stamp_ns if msg is None else header_ns(msg)
        if stamp not in record.depth_stamps:
            unknown += 1
            continue
        latency = (received.recv_ns - record.depth_clock[stamp]) / 1e9
        depth = None if msg is None else image_to_depth(msg)
        outputs.append(Output(record.depth_stamps[stamp], received.recv_ns, latency, depth))
    return outputs, unknown


TRANSPORT_LOSS = "lost before the node (transport, best-effort QoS)"
IN_FLIGHT_AT_END = "end of bag: still in the node (pairing queue or lookahead; no later frame came)"
NOT_SENT = "received by the node but never sent by this replay (another publisher on its input)"
UNACCOUNTED = "node: received but neither published nor dropped (its counters disagree)"
WITHOUT_OUTPUT = "total depth frames without output"


def drop_reasons(record: ReplayRecord, outputs: int, status: dict[str, str]) -> dict[str, int]:
    """Why sent depth frames got no output: lost before the node (sent - the node's received count),
    then the node's own account of what it received (dropped with a reason, or still in flight)."""
    sent = record.published.get(DEPTH_TOPIC, 0)
    reasons: dict[str, int] = {}
    account = depth_account(status, TOPICS["depth"])
    if account is not None:
        if sent > account.received:
            reasons[TRANSPORT_LOSS] = sent - account.received
        elif account.received > sent:
            reasons[NOT_SENT] = account.received - sent
        reasons |= {f"node: {reason}": n for reason, n in account.dropped.items() if n}
        if account.in_flight:
            reasons[IN_FLIGHT_AT_END] = account.in_flight
        if account.unaccounted:
            reasons[UNACCOUNTED] = account.unaccounted
    else:  # a node without its depth account (an older version): its drops, as it named them
        reasons |= {f"node: {reason}": n for reason, n in depth_drops(status, TOPICS["depth"]).items() if n}
    reasons[WITHOUT_OUTPUT] = sent - outputs
    return reasons


def input_rates(record: ReplayRecord, namespace: str, topics: tuple[str, str]) -> tuple[float, float]:
    """The median of each input's rate as the node reported it while it was receiving (0 if never)."""
    rates: tuple[list[float], list[float]] = ([], [])
    for _, status in node_statuses(record, namespace):
        for values, topic in zip(rates, topics, strict=True):
            if (hz := float(status.get(rate_key(input_counter(topic)), 0))) > 0:
                values.append(hz)
    return tuple(float(np.median(v)) if v else 0.0 for v in rates)


def rgb_frames(record: ReplayRecord, namespace: str, status: dict[str, str]) -> dict[str, int]:
    """RGB frames that paired with no depth: surplus because the RGB runs faster (expected, with both
    rates), then real RGB drops by reason. Neither costs an output: outputs follow the depth."""
    rows = {}
    for reason, n in status_unpaired(status).items():
        topic = reason_topic(reason)
        if topic and reason == input_reason(topic, RGB_WITHOUT_DEPTH):
            rgb_hz, depth_hz = input_rates(record, namespace, (topic, TOPICS["depth"]))
            rates = f"{rgb_hz:.0f} Hz RGB / {depth_hz:.0f} Hz depth"
            rows[f"RGB without a depth partner (expected at {rates})"] = n
    for reason, n in status_drops(status).items():
        if reason_topic(reason) not in (None, TOPICS["depth"]) and n:
            rows[f"dropped: {reason}"] = n
    return rows


def _rate(times_ns: list[int]) -> float:
    if len(times_ns) < 2:
        return float("nan")
    return (len(times_ns) - 1) / ((max(times_ns) - min(times_ns)) / 1e9)


def scored_frames(bag: BagClip, outputs: list[Output]) -> Iterator[tuple[Frame, Output]]:
    """Bag frames that have an output kept whole, in order, with it (in a soak run: the first pass's)."""
    by_stamp = {o.bag_stamp_ns: o for o in outputs if o.depth is not None}
    for ns, frame in bag.stamped_frames():
        if (out := by_stamp.get(ns)) is not None:
            yield frame, out


def _frame_rmse(pred: np.ndarray, gt: np.ndarray) -> float:
    metrics = ClipMetrics()
    metrics.add(pred, gt)
    try:
        return metrics.score().rmse_cm
    except ValueError:  # nothing valid to compare in this frame
        return float("nan")


def analyse(bag: BagClip, record: ReplayRecord, namespace: str, baselines: tuple[str, ...] = tuple(BASELINES),
            progress: bool = False) -> ReplayResult:  # fmt: skip
    outputs, unknown = decode_outputs(record, namespace)
    status = node_status(record, namespace)
    drops = drop_reasons(record, len(outputs), status)
    if unknown:
        drops["outputs with a stamp never published (ignored)"] = unknown
    result = ReplayResult(
        inputs=record.published.get(DEPTH_TOPIC, 0), outputs=outputs,
        input_hz=_rate(list(record.depth_clock.values())),
        output_hz=_rate([r.recv_ns for r in record.of(f"{namespace}/{TOPICS['output']}")]),
        drops=drops, node_status=status, rgb=rgb_frames(record, namespace, status),
    )  # fmt: skip
    if not bag.has_gt or not outputs:
        return result
    methods = [STDNET, *baselines]
    metrics = {m: ClipMetrics() for m in methods}
    result.per_frame_rmse = {m: [] for m in methods}
    first = None
    for frame, out in scored_frames(bag, outputs):
        first = frame.stamp if first is None else first
        result.frame_times_s.append(frame.stamp - first)
        scale = frame.rgb.shape[0] // frame.depth_lr.shape[0]
        if out.depth.shape != frame.depth_gt.shape:
            raise ValueError(f"node output {out.depth.shape} != ground-truth size {frame.depth_gt.shape}")
        preds = {STDNET: out.depth} | {b: upsample(b, frame.depth_lr, scale, frame.rgb) for b in baselines}
        for method, pred in preds.items():
            metrics[method].add(pred, frame.depth_gt)
            result.per_frame_rmse[method].append(_frame_rmse(pred, frame.depth_gt))
    result.scores = {m: metrics[m].score() for m in methods}
    if baselines:
        result.best_baseline = min(baselines, key=lambda b: result.scores[b].rmse_cm)
    return result
