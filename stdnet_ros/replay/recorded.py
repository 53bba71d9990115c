"""Score a bag recorded with the standard ROS 2 tools instead of ``stdnet-ros replay``.

With ``ros2 bag play BAG`` feeding the node (``ros2 launch``) and ``ros2 bag
record`` capturing both the played depth topic and the node's outputs, one
recorder stamps the arrival of each depth message and of its output on the
same clock, so latency (depth arrival -> output arrival) and everything else
in the report come from that one file. Stamps are the bag's own (``ros2 bag
play`` does not change them), so outputs match the ground truth directly.
"""

from __future__ import annotations

from pathlib import Path

from rosbags.rosbag2 import Reader

from stdnet_ros.bags import BagError, open_bag
from stdnet_ros.bags.schema import DEPTH_TOPIC, IMAGE, TYPESTORE
from stdnet_ros.bags.writer import check_target, staged_folder
from stdnet_ros.conversion import header_ns
from stdnet_ros.node.params import TOPICS
from stdnet_ros.replay.analysis import ReplayResult, analyse
from stdnet_ros.replay.record import DIAGNOSTICS, Received, ReplayRecord
from stdnet_ros.replay.report import write_report

OUTPUT_SUFFIX = "/" + TOPICS["output"]


def record_from_bag(path: str | Path) -> tuple[ReplayRecord, str]:
    """A ReplayRecord (rate 1) and the node's namespace, read from a ``ros2 bag record`` bag."""
    path = Path(path)
    if not path.exists():
        raise BagError(f"recorded bag not found: {path}")
    record = ReplayRecord(rate=1.0)
    try:
        with Reader(path) as reader:
            topics = {c.topic: c.msgtype for c in reader.connections}
            outputs = [t for t in topics if t.endswith(OUTPUT_SUFFIX)]
            if DEPTH_TOPIC not in topics or len(outputs) != 1:
                raise BagError(f"recorded bag {path} needs {DEPTH_TOPIC} and one */depth_sr/image topic "
                               f"(record both: ros2 bag record {DEPTH_TOPIC} <ns>/depth_sr/image "
                               f"{DIAGNOSTICS}); it has {sorted(topics)}")  # fmt: skip
            for topic in (DEPTH_TOPIC, outputs[0]):
                if topics[topic] != IMAGE:
                    raise BagError(f"recorded bag {path}: {topic} holds {topics[topic]}, expected {IMAGE}")
            wanted = [c for c in reader.connections if c.topic in (DEPTH_TOPIC, outputs[0], DIAGNOSTICS)]
            for conn, log_ns, raw in reader.messages(connections=wanted):
                if conn.topic == DEPTH_TOPIC:
                    stamp = header_ns(TYPESTORE.deserialize_cdr(raw, IMAGE))
                    record.depth_stamps[stamp] = stamp
                    record.depth_clock[stamp] = log_ns
                    record.published[DEPTH_TOPIC] = record.published.get(DEPTH_TOPIC, 0) + 1
                else:
                    record.received.append(Received(conn.topic, log_ns, bytes(raw)))
    except BagError:
        raise
    except Exception as err:  # rosbags raises several types for unreadable storage
        raise BagError(f"cannot read recorded bag {path}: {type(err).__name__}: {err}") from err
    return record, outputs[0].removesuffix(OUTPUT_SUFFIX)


def score_recorded(recorded: str | Path, bag_path: str | Path, out: str | Path) -> tuple[ReplayResult, str]:
    """Report on a ``ros2 bag record`` of a ``ros2 bag play`` of ``bag_path`` through the node."""
    out = Path(out)
    bag = open_bag(bag_path)
    record, namespace = record_from_bag(recorded)
    check_target(out)
    with staged_folder(out) as folder:
        result = analyse(bag, record, namespace)
        text = write_report(folder, bag, record, result, namespace)
    return result, text
