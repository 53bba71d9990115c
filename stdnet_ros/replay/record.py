"""What a replay saw, without ROS: the inputs it sent, the raw outputs that came back, the node's status.

Filled by the player over DDS, or read from a ``ros2 bag record`` bag
(``recorded.py``), and scored by ``analysis.py`` either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from stdnet_ros.bags.schema import TYPESTORE
from stdnet_ros.node.stats import OUT, PAIRS, reason_topic, status_count, status_drops

DIAGNOSTICS = "/diagnostics"


@dataclass
class Received:
    topic: str  # absolute
    recv_ns: int  # wall clock at the recorder
    raw: bytes | None  # CDR, as DDS delivered it; None for a soak pass kept as its stamp only
    stamp_ns: int | None = None  # the header stamp, set where raw is not kept


@dataclass
class ReplayRecord:
    """Everything the player saw: what it sent and what came back."""

    rate: float
    loops: int = 1  # passes through the bag
    passes: dict[int, int] = field(default_factory=dict)  # replayed depth stamp ns -> its pass (from 0)
    published: dict[str, int] = field(default_factory=dict)
    depth_stamps: dict[int, int] = field(default_factory=dict)  # replayed stamp ns -> bag stamp ns
    depth_clock: dict[int, int] = field(default_factory=dict)  # replayed stamp ns -> its replay-clock ns
    received: list[Received] = field(default_factory=list)
    started_ns: int = 0
    finished_ns: int = 0  # last input published
    node_exit: int | None = None
    memory: list[tuple[int, int]] = field(default_factory=list)  # (wall ns, node resident bytes)

    def of(self, topic: str) -> list[Received]:
        return [r for r in self.received if r.topic == topic]

    def keeps_payload(self, stamp_ns: int) -> bool:
        """Whether an output stamped ``stamp_ns`` is kept whole: in a soak run only the first pass is
        (it is what gets scored; 10,000 outputs would hold gigabytes)."""
        return self.passes.get(stamp_ns, 0) == 0


def _status(received: Received, namespace: str) -> dict[str, str] | None:
    """The node's key/values in one /diagnostics message, if it holds the node's status."""
    msg = TYPESTORE.deserialize_cdr(received.raw, "diagnostic_msgs/msg/DiagnosticArray")
    for status in msg.status:
        if status.name.startswith(f"{namespace}/"):
            return {kv.key: kv.value for kv in status.values} | {"_message": status.message}
    return None


def node_status(record: ReplayRecord, namespace: str, after_ns: int = 0) -> dict[str, str]:
    """Key/values of the node's last /diagnostics status (received after ``after_ns``), or {}."""
    for received in reversed(record.of(DIAGNOSTICS)):
        if received.recv_ns < after_ns:
            break
        if (status := _status(received, namespace)) is not None:
            return status
    return {}


def node_statuses(record: ReplayRecord, namespace: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(arrival ns, key/values) of every /diagnostics status the node sent, in arrival order."""
    for received in record.of(DIAGNOSTICS):
        if (status := _status(received, namespace)) is not None:
            yield received.recv_ns, status


def settled(status: dict[str, str], received_outputs: int) -> bool:
    """Every pair the node formed has been published (and received here) or dropped with a reason."""
    pairs = status_count(status, PAIRS)
    if pairs is None:
        return False
    # Drops after pairing belong to no input (inference_busy, inference_error, size refusals).
    after_pairing = sum(n for reason, n in status_drops(status).items() if reason_topic(reason) is None)
    out = status_count(status, OUT) or 0
    held = int(status.get("lookahead", 0))  # the engine answers a frame only when L later ones came
    return pairs <= out + after_pairing + held and received_outputs >= out


