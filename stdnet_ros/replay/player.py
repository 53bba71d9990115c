"""Play a bag into the live node over DDS and record what it publishes (the only ROS part of a replay).

A message logged ``d`` seconds into the bag is published ``d / rate``
seconds after the replay starts (the replay clock). Stamps are shifted by
one constant onto the wall clock (``ros2 bag play`` keeps the recorded ones,
which would make stamp-to-output latency meaningless) but never scaled, so
the offsets between the sensors and the node's pairing see what was
recorded at any rate. Latency is measured from the moment a depth stamp
falls on the replay clock: at rate 1.0 that is the stamp itself.

With ``loops`` > 1 the bag is played again right after itself, one frame
period later, as ``ros2 bag play --loop`` does: each pass repeats the first
pass's stamps (the node sees them jump back), moved by ``pass`` nanoseconds so
every published stamp still names one message of one pass.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from tf2_msgs.msg import TFMessage
from tqdm import tqdm

from stdnet_ros.bags import BagClip
from stdnet_ros.bags.messages import restamped
from stdnet_ros.bags.schema import (
    CAMERA_INFO,
    DEPTH_INFO_TOPIC,
    DEPTH_TOPIC,
    IMAGE,
    RGB_INFO_TOPIC,
    RGB_TOPIC,
    TF_STATIC_TOPIC,
    TYPESTORE,
)
from stdnet_ros.conversion import header_ns
from stdnet_ros.node.params import TOPICS
from stdnet_ros.replay.node_process import NodeProcess
from stdnet_ros.replay.record import DIAGNOSTICS, Received, ReplayRecord, node_status, settled

INPUTS = {RGB_TOPIC: Image, DEPTH_TOPIC: Image, RGB_INFO_TOPIC: CameraInfo, DEPTH_INFO_TOPIC: CameraInfo,
          TF_STATIC_TOPIC: TFMessage}
# the inputs every node subscribes to; a rig bag's depth camera_info and /tf_static (latched: a late
# subscriber still gets it) are published whether or not anything listens yet
AWAITED = (RGB_TOPIC, DEPTH_TOPIC, RGB_INFO_TOPIC)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)  # as StaticTransformBroadcaster's
OUTPUTS = {TOPICS["output"]: IMAGE, TOPICS["confidence"]: IMAGE, TOPICS["output_info"]: CAMERA_INFO}
_CLASSES = {IMAGE: Image, CAMERA_INFO: CameraInfo}


class ReplayError(RuntimeError):
    """The replay could not run (the node did not start, died, or never answered)."""


def _wait(predicate: Callable[[], bool], timeout: float, node: NodeProcess, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if node.exited() is not None:
            raise ReplayError(f"the node exited (code {node.exited()}) before {what}:\n{node.log_tail()}")
        if time.monotonic() > deadline:
            raise ReplayError(f"timed out after {timeout:.0f} s waiting for {what}:\n{node.log_tail()}")
        time.sleep(0.05)


class Player:
    """Publishes a bag's inputs to a node process and records its outputs, on a private rclpy context."""

    def __init__(self, bag: BagClip, namespace: str) -> None:
        self.bag = bag
        self.namespace = namespace
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("stdnet_replay_player", context=self.context)
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)  # matches either node QoS
        # the bag's topics inside the node's namespace; /tf_static where tf2 listens, latched
        self.pubs = {t: self.node.create_publisher(cls, *((t, LATCHED) if t == TF_STATIC_TOPIC
                                                          else (namespace + t, reliable)))
                     for t, cls in INPUTS.items() if t in bag.topics}  # fmt: skip
        self._lock = threading.Lock()
        self.record: ReplayRecord | None = None
        sensor = QoSProfile(**{"history": qos_profile_sensor_data.history, "depth": 200,
                               "reliability": ReliabilityPolicy.BEST_EFFORT})  # fmt: skip
        self.output_topics = {f"{namespace}/{name}": msgtype for name, msgtype in OUTPUTS.items()}
        for topic, cls in [*((t, _CLASSES[m]) for t, m in self.output_topics.items()),
                           (DIAGNOSTICS, DiagnosticArray)]:  # fmt: skip
            self.node.create_subscription(cls, topic, self._recorder(topic), sensor, raw=True)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        with contextlib.suppress(ExternalShutdownException):
            self.executor.spin()

    def _recorder(self, topic: str) -> Callable[[bytes], None]:
        msgtype = self.output_topics.get(topic)

        def on_message(raw: bytes) -> None:
            now = time.time_ns()
            with self._lock:
                record = self.record
                if record is None:
                    return
                received = Received(topic, now, raw)
                if msgtype and record.loops > 1:
                    stamp = header_ns(TYPESTORE.deserialize_cdr(raw, msgtype))
                    if not record.keeps_payload(stamp):
                        received = Received(topic, now, None, stamp)
                record.received.append(received)

        return on_message

    def outputs(self) -> int:
        with self._lock:
            return len(self.record.of(f"{self.namespace}/{TOPICS['output']}")) if self.record else 0

    def connect(self, node: NodeProcess, timeout: float) -> None:
        """Wait until the node subscribes to every input and publishes its output (model loaded)."""
        out_topic = f"{self.namespace}/{TOPICS['output']}"
        _wait(lambda: all(p.get_subscription_count() for t, p in self.pubs.items() if t in AWAITED)
              and self.node.count_publishers(out_topic) > 0, timeout, node, "the node's topics")  # fmt: skip
        time.sleep(1.0)  # discovery is matched both ways; let the data paths settle before frame one
        for topic in [p.topic_name for p in self.pubs.values()] + [out_topic]:
            if (n := self.node.count_publishers(topic)) != 1:
                raise ReplayError(f"{n} publishers on {topic}, which only this replay (or its node) may use")

    def play(self, rate: float, node: NodeProcess, progress: bool = True, loops: int = 1) -> ReplayRecord:
        """Publish every input message ``loops`` times at ``rate`` x recorded speed; returns the (still
        filling) record."""
        record = ReplayRecord(rate, loops=loops)
        with self._lock:
            self.record = record
        total = sum(self.bag.counts[t] for t in self.pubs) * loops
        start = time.time_ns() + 100_000_000
        record.started_ns = start
        first: int | None = None
        last = 0
        loop_ns = 0  # log time from one pass to the next, known once the first pass is out
        bar = tqdm(total=total, desc=f"replaying x{rate:g}", unit="msg", disable=not progress)
        with bar:
            for n in range(loops):
                if n == 1:
                    depth = max(self.bag.counts[DEPTH_TOPIC] - 1, 1)
                    loop_ns = (last - first) + (last - first) // depth  # one frame period between passes
                for topic, log_ns, msg in self.bag.messages(tuple(self.pubs)):
                    first = log_ns if first is None else first
                    last = max(last, log_ns)
                    shift = n * loop_ns - first
                    at = start + round((log_ns + shift) / rate)
                    if (delay := (at - time.time_ns()) / 1e9) > 0:
                        time.sleep(delay)
                    if node.exited() is not None:
                        raise ReplayError(f"the node died during the replay:\n{node.log_tail()}")
                    if topic == TF_STATIC_TOPIC:  # a mount holds for all time: sent as recorded
                        out = msg
                    else:
                        stamp = header_ns(msg) + start - first + n
                        out = restamped(msg, stamp)
                    raw = TYPESTORE.serialize_cdr(out, msg.__msgtype__)
                    self.pubs[topic].publish(bytes(raw))
                    record.published[topic] = record.published.get(topic, 0) + 1
                    if topic == DEPTH_TOPIC:
                        record.passes[stamp] = n
                        record.depth_stamps[stamp] = header_ns(msg)
                        record.depth_clock[stamp] = start + round((header_ns(msg) + shift) / rate)
                    bar.update()
        record.finished_ns = time.time_ns()
        return record

    def drain(self, expected: int, idle_s: float, timeout: float) -> None:
        """Wait for the frames still in the node: until ``expected`` outputs arrived, the node's own
        /diagnostics say nothing is in flight, or (no diagnostics) no output came for ``idle_s``."""
        assert self.record is not None
        deadline = time.monotonic() + timeout
        last, since = self.outputs(), time.monotonic()
        while self.outputs() < expected and time.monotonic() < deadline:
            time.sleep(0.1)
            with self._lock:
                status = node_status(self.record, self.namespace, after_ns=self.record.finished_ns)
            if settled(status, self.outputs()):
                break
            if self.outputs() != last:
                last, since = self.outputs(), time.monotonic()
            elif time.monotonic() - since > (idle_s if not status else 4 * idle_s):
                break  # no diagnostics to go by, or the node went quiet without settling
        time.sleep(1.5)  # one more /diagnostics period, so the final counters are in the record

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=5)
