"""Rolling node statistics, ROS-free: rates, pairing skew, latency percentiles, drops by reason.

The node records events from its callbacks and worker thread and once a
second turns :meth:`NodeStats.report` into a ``diagnostic_msgs/DiagnosticStatus``;
tests and the replay tool can read the same figures without ROS. Times are
seconds from a monotonic clock supplied by the caller, so the statistics are
deterministic under test.

The diagnostics key vocabulary (``count in/depth/image``, ``dropped
depth/image: data_length``, ...) is written here and parsed here, so the
replay tools read the node's figures through the same functions that named
them. :func:`status_fields` builds the per-frame sibling of
:meth:`NodeStats.report`, ``stdnet_ros_msgs/FrameStatus``.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

import numpy as np

OK, WARN, ERROR = 0, 1, 2  # the byte values of diagnostic_msgs/DiagnosticStatus levels
PERCENTILES = (50, 95, 99)
PAIRS, OUT = "pairs", "out"  # counter names besides each input's (see input_counter)
DROPPED_TOTAL = "dropped total"
DEPTH_IN_FLIGHT = "depth in flight"  # depth frames received, neither published nor dropped yet
COMPILING = "backend compiling"  # yes while the backend compiles in the background (frames slower)
RGB_WITHOUT_DEPTH = "rgb_without_depth"  # an RGB frame with no depth partner because RGB runs faster
_COUNT, _DROPPED, _UNPAIRED = "count ", "dropped ", "unpaired "


def rate_key(name: str) -> str:
    """The report key of the rate of ``input_counter(topic)``, ``PAIRS`` or ``OUT``."""
    return f"rate {name} (Hz)"


def input_counter(topic: str) -> str:
    """The counter of messages arriving on input ``topic``."""
    return f"in/{topic}"


def input_reason(topic: str, reason: str) -> str:
    """A drop or event reason that belongs to one input (``depth/image: data_length``)."""
    return f"{topic}: {reason}"


def reason_topic(reason: str) -> str | None:
    """The input a reason belongs to, or None for one after pairing (``inference_busy``)."""
    topic, sep, _ = reason.partition(": ")
    return topic if sep else None


def status_count(status: dict[str, str], name: str) -> int | None:
    """Counter ``name`` read back from a report's key/values, None if absent."""
    value = status.get(_COUNT + name)
    return None if value is None else int(value)


def status_drops(status: dict[str, str]) -> dict[str, int]:
    """Drops by reason read back from a report's key/values."""
    return {key.removeprefix(_DROPPED): int(value) for key, value in status.items()
            if key.startswith(_DROPPED) and key != DROPPED_TOTAL}  # fmt: skip


def status_unpaired(status: dict[str, str]) -> dict[str, int]:
    """Messages left without a partner by design (not drops), by reason, read back from a report."""
    return {key.removeprefix(_UNPAIRED): int(value) for key, value in status.items()
            if key.startswith(_UNPAIRED)}  # fmt: skip


@dataclass(frozen=True)
class DepthAccount:
    """Where the depth frames the node received went: ``received = published + dropped + in_flight``."""

    received: int
    published: int
    dropped: dict[str, int]  # depth-input drops and pair drops (each pair holds one depth frame)
    in_flight: int  # in the pairing queue, the inference queue or waiting for lookahead

    @property
    def unaccounted(self) -> int:
        """Depth frames the node's own counters cannot place (0 unless a count is wrong)."""
        return self.received - self.published - sum(self.dropped.values()) - self.in_flight


def depth_drops(status: dict[str, str], depth_topic: str) -> dict[str, int]:
    """Drops that cost a depth frame: on the depth input, or of a pair (no input named)."""
    return {reason: n for reason, n in status_drops(status).items()
            if reason_topic(reason) in (None, depth_topic)}  # fmt: skip


def depth_account(status: dict[str, str], depth_topic: str) -> DepthAccount | None:
    """The node's depth accounting read back from a report (None without the node's counters)."""
    received, flight = status_count(status, input_counter(depth_topic)), status.get(DEPTH_IN_FLIGHT)
    if received is None or flight is None:
        return None
    published = status_count(status, OUT) or 0
    return DepthAccount(received, published, depth_drops(status, depth_topic), int(flight))


class _Rate:
    """Events per second over a sliding time window."""

    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        self._times: deque[float] = deque()

    def tick(self, now: float) -> None:
        self._times.append(now)
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] < now - self._window_s:
            self._times.popleft()

    def hz(self, now: float) -> float:
        self._trim(now)
        if len(self._times) < 2:
            return 0.0
        span = max(now - self._times[0], self._times[-1] - self._times[0])
        return (len(self._times) - 1) / span if span > 0 else 0.0


@dataclass(frozen=True)
class FrameTiming:
    """Timings of one published frame, in seconds."""

    latency_s: float  # receipt of the later message of the pair -> publication
    queue_wait_s: float  # pair ready -> inference started
    inference_s: float  # engine time


@dataclass(frozen=True)
class PublishedFrame:
    """What FrameStatus says about one published frame, besides the node's counters."""

    timing: FrameTiming
    skew_s: float  # |RGB stamp - depth stamp| of its pair
    window_fill: int  # frames in the window that produced it
    window: int
    lookahead: int
    reset_reason: str | None  # set on the first output after the engine restarted its window


def status_fields(
    frame: PublishedFrame, frames_in: int, frames_out: int, drops: dict[str, int],
    rgb_without_depth: int = 0, rates: tuple[float, float] = (0.0, 0.0),
) -> dict[str, Any]:
    """Every field of stdnet_ros_msgs/FrameStatus except ``header``, for one published frame
    (``rates``: the RGB and depth input rates in Hz)."""
    reasons = sorted(drops)
    return {
        "receipt_to_publish": frame.timing.latency_s,
        "queue_wait": frame.timing.queue_wait_s,
        "inference": frame.timing.inference_s,
        "pairing_skew": frame.skew_s,
        "window_fill": frame.window_fill,
        "window": frame.window,
        "lookahead": frame.lookahead,
        "reset_reason": frame.reset_reason or "",
        "frames_in": frames_in,
        "frames_out": frames_out,
        "dropped_total": sum(drops.values()),
        "drop_reasons": reasons,
        "drop_counts": [drops[r] for r in reasons],
        "rgb_without_depth": rgb_without_depth,
        "rgb_rate": rates[0],
        "depth_rate": rates[1],
    }


class NodeStats:
    """Thread-safe rolling statistics of one node."""

    def __init__(self, window_s: float = 5.0, samples: int = 300) -> None:
        self._lock = threading.Lock()
        self._window_s = window_s
        self._rates: dict[str, _Rate] = {}
        self._counts: Counter[str] = Counter()
        self._drops: Counter[str] = Counter()
        self._events: Counter[str] = Counter()
        self._unpaired: Counter[str] = Counter()
        self._skew: deque[float] = deque(maxlen=samples)
        self._timing: deque[FrameTiming] = deque(maxlen=samples)

    def _tick(self, name: str, now: float) -> None:
        self._rates.setdefault(name, _Rate(self._window_s)).tick(now)
        self._counts[name] += 1

    def received(self, topic: str, now: float) -> None:
        """A message arrived on input ``topic`` (counted before any validation)."""
        with self._lock:
            self._tick(input_counter(topic), now)

    def paired(self, skew_s: float, now: float) -> None:
        """A (RGB, depth) pair formed; ``skew_s`` = |stamp difference|."""
        with self._lock:
            self._tick(PAIRS, now)
            self._skew.append(abs(skew_s))

    def published(self, timing: FrameTiming, now: float) -> None:
        """An output frame left the node."""
        with self._lock:
            self._tick(OUT, now)
            self._timing.append(timing)

    def dropped(self, reason: str, count: int = 1) -> None:
        """``count`` messages or pairs were discarded because of ``reason``."""
        with self._lock:
            self._drops[reason] += count

    def unpaired(self, reason: str) -> None:
        """A message left without a partner by design (RGB faster than depth): not a drop."""
        with self._lock:
            self._unpaired[reason] += 1

    def unpaired_counts(self) -> dict[str, int]:
        """Messages left without a partner by design since start, by reason."""
        with self._lock:
            return dict(self._unpaired)

    def noted(self, reason: str) -> None:
        """Something worth counting happened that did not lose a message (e.g. a size change)."""
        with self._lock:
            self._events[reason] += 1

    def events(self) -> dict[str, int]:
        """Non-dropping events since start, by reason."""
        with self._lock:
            return dict(self._events)

    def drops(self) -> dict[str, int]:
        """Drops since start, by reason."""
        with self._lock:
            return dict(self._drops)

    def count(self, name: str) -> int:
        """Events since start: ``input_counter(topic)``, ``PAIRS`` or ``OUT``."""
        with self._lock:
            return self._counts[name]

    def hz(self, name: str, now: float) -> float:
        """The current rate of ``input_counter(topic)``, ``PAIRS`` or ``OUT`` (0 before two events)."""
        with self._lock:
            rate = self._rates.get(name)
            return rate.hz(now) if rate else 0.0

    def report(self, now: float) -> list[tuple[str, str]]:
        """Key/values for a DiagnosticStatus, in a stable order."""
        with self._lock:
            kv = [(rate_key(name), f"{rate.hz(now):.2f}") for name, rate in sorted(self._rates.items())]
            kv += [(_COUNT + name, str(n)) for name, n in sorted(self._counts.items())]
            kv += _percentiles("pairing skew", list(self._skew))
            for field in ("latency_s", "queue_wait_s", "inference_s"):
                kv += _percentiles(field.removesuffix("_s").replace("_", " "),
                                   [getattr(t, field) for t in self._timing])
            kv.append((DROPPED_TOTAL, str(sum(self._drops.values()))))
            kv += [(_DROPPED + reason, str(n)) for reason, n in sorted(self._drops.items())]
            kv += [(_UNPAIRED + reason, str(n)) for reason, n in sorted(self._unpaired.items())]
            kv += [(f"event {reason}", str(n)) for reason, n in sorted(self._events.items())]
        return kv


def _percentiles(label: str, values: list[float]) -> list[tuple[str, str]]:
    if not values:
        return [(f"{label} p{p} (ms)", "n/a") for p in PERCENTILES]
    qs = np.percentile(np.asarray(values, dtype=np.float64), PERCENTILES)
    return [(f"{label} p{p} (ms)", f"{q * 1e3:.1f}") for p, q in zip(PERCENTILES, qs, strict=True)]
