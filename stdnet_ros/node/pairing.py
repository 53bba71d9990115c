"""Pair RGB and depth messages by header stamp with ApproximateTime semantics.

Two implementations of one small interface (``add(index, msg)``, ``pending()``,
``clear(reason)``), both calling ``on_pair(msg0, msg1)`` for each pair and
``on_drop(index, msg, reason)`` for every message that leaves without a partner:

- :class:`ApproximateTimePairer`, the package's own, is the algorithm of
  ``message_filters.ApproximateTimeSynchronizer`` (ROS 2 Python) for two inputs:
  each input keeps a dict ``stamp_ns -> msg`` of at most ``queue_size``
  entries (the smallest stamp is evicted first; a repeated stamp replaces the
  earlier message); a new message pairs with the nearest-stamped message of the
  other input if ``|dt| < slop`` (strict, so ``slop = 0`` never pairs); both
  leave their queues; unpaired older messages stay until evicted.
- :class:`MessageFiltersPairer` delegates to ``message_filters`` where it is
  importable (a ROS 2 install), adding what it lacks: drop reports, found by
  diffing its queues around each call.

When an input's stamps go back (a looping bag, a clock jump) the node calls
``restart``: the messages the old stream left waiting, stamped beyond the new
one, are dropped as ``stream_restart``; what the new stream already queued on
the other input (its first RGB usually arrives before its first depth) is
kept, so no frame of the new stream is lost. ``add`` itself stays exactly
message_filters' algorithm.

Neither creates subscriptions: the node subscribes with its own QoS and calls
``add``, which avoids message_filters' ``Subscriber`` defaulting to reliable
QoS and never matching best-effort sensor publishers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from stdnet_ros.conversion import header_ns

PairCallback = Callable[[Any, Any], None]
DropCallback = Callable[[int, Any, str], None]

DROP_QUEUE_OVERFLOW = "queue_overflow"  # evicted unpaired, its input's queue was full
DROP_DUPLICATE_STAMP = "duplicate_stamp"  # replaced by a later message with the same stamp
DROP_STREAM_RESTART = "stream_restart"  # left by the old stream when an input's stamps went back


RATE_TOLERANCE = 1.05  # rates measured over a few seconds of jittered stamps differ by a few %


def rgb_outpaces_depth(reason: str, rgb_hz: float, depth_hz: float) -> bool:
    """Whether an RGB message evicted unpaired was simply surplus: each depth frame takes one RGB
    partner, so with the colour faster (30 Hz beside a 5 Hz ToF) the others leave by overflow by
    design. Not a drop; with the colour no faster, an overflow means the stamps do not meet."""
    return reason == DROP_QUEUE_OVERFLOW and rgb_hz > depth_hz * RATE_TOLERANCE


def _ignore_drop(index: int, msg: Any, reason: str) -> None:
    """Default drop callback for callers that only read counters."""


class Pairer:
    """What both implementations share: the callbacks, a lock, and per-input ``stamp_ns -> msg`` queues."""

    name = ""
    _queues: Sequence[dict[int, Any]]  # set by each implementation

    def __init__(
        self, queue_size: int, slop: float, on_pair: PairCallback, on_drop: DropCallback | None
    ) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self._on_pair = on_pair
        self._on_drop = on_drop or _ignore_drop
        self._lock = threading.Lock()
        self._slop_ns = int(slop * 1e9)  # as rclpy.duration.Duration(seconds=slop)
        self._went_back = [False, False]  # this input restarted and the other has not followed yet

    def add(self, index: int, msg: Any) -> None:
        """Queue ``msg`` on input ``index`` (0 or 1) and emit a pair if one forms."""
        raise NotImplementedError

    def restart(self, index: int, stamp: int) -> None:
        """Input ``index`` went back to ``stamp`` (call before adding that message): drop the old stream.

        Old means stamped beyond the new stream's first message by more than the
        slop: nothing there can pair with the new stream until it catches up, and
        then it would pair across streams. The other input's queue is left alone
        when that input went back first: since then it has queued only messages
        of the new stream (however far they lead), and its old ones went at its
        own restart.
        """
        other = 1 - index
        with self._lock:
            keep_other, self._went_back[other] = self._went_back[other], False
            self._went_back[index] = not keep_other
            cutoff = stamp + self._slop_ns
            dropped = []
            for i, queue in enumerate(self._queues):
                if i == other and keep_other:
                    continue
                for key in [k for k, m in queue.items() if header_ns(m) > cutoff]:
                    dropped.append((i, queue.pop(key), DROP_STREAM_RESTART))
        self._report(dropped, None)

    def _report(self, dropped: list[tuple[int, Any, str]], pair: Sequence[Any] | None) -> None:
        """Call back outside the lock, so a callback may use the pairer again."""
        for args in dropped:
            self._on_drop(*args)
        if pair:
            self._on_pair(*pair)

    def pending(self) -> tuple[int, int]:
        """Messages waiting for a partner on each input."""
        with self._lock:
            return len(self._queues[0]), len(self._queues[1])

    def clear(self, reason: str) -> None:
        """Drop everything waiting (e.g. after a parameter change), reporting ``reason``."""
        with self._lock:
            waiting = [(i, m) for i, q in enumerate(self._queues) for m in q.values()]
            for q in self._queues:
                q.clear()
        self._report([(index, msg, reason) for index, msg in waiting], None)


class ApproximateTimePairer(Pairer):
    """message_filters' ApproximateTimeSynchronizer algorithm for two inputs, with drop reports."""

    name = "stdnet_ros"

    def __init__(
        self, queue_size: int, slop: float, on_pair: PairCallback, on_drop: DropCallback | None = None
    ) -> None:
        super().__init__(queue_size, slop, on_pair, on_drop)
        self._queue_size = queue_size
        self._queues = ({}, {})

    def add(self, index: int, msg: Any) -> None:
        """Queue ``msg`` on input ``index`` (0 or 1) and emit a pair if one forms."""
        stamp = header_ns(msg)
        dropped: list[tuple[int, Any, str]] = []
        pair: tuple[Any, Any] | None = None
        with self._lock:
            mine, other = self._queues[index], self._queues[1 - index]
            if stamp in mine:
                dropped.append((index, mine[stamp], DROP_DUPLICATE_STAMP))
            mine[stamp] = msg
            while len(mine) > self._queue_size:
                oldest = min(mine)
                dropped.append((index, mine.pop(oldest), DROP_QUEUE_OVERFLOW))
            near = [(abs(s - stamp), s) for s in other if abs(s - stamp) <= self._slop_ns]
            if near and stamp in mine:
                delta, partner = min(near, key=lambda d: d[0])  # first of equals, as sorted() keeps
                if delta < self._slop_ns:
                    msgs = (mine.pop(stamp), other.pop(partner))
                    pair = msgs if index == 0 else (msgs[1], msgs[0])
        self._report(dropped, pair)


class MessageFiltersPairer(Pairer):
    """``message_filters.ApproximateTimeSynchronizer`` behind the same interface, plus drop reports."""

    name = "message_filters"

    def __init__(
        self, queue_size: int, slop: float, on_pair: PairCallback, on_drop: DropCallback | None = None
    ) -> None:
        import message_filters  # only on a ROS 2 install

        super().__init__(queue_size, slop, on_pair, on_drop)
        self._inputs = (message_filters.SimpleFilter(), message_filters.SimpleFilter())
        self._sync = message_filters.ApproximateTimeSynchronizer(list(self._inputs), queue_size, slop)
        self._sync.registerCallback(self._paired)
        self._queues = self._sync.queues
        self._just_paired: list[Any] = []

    def _paired(self, msg0: Any, msg1: Any) -> None:
        self._just_paired.extend((msg0, msg1))

    def add(self, index: int, msg: Any) -> None:
        """Feed ``msg`` to input ``index``; report what message_filters silently discarded."""
        stamp = header_ns(msg)
        with self._lock:
            queue = self._queues[index]
            before = list(queue.items())
            self._just_paired.clear()
            self._inputs[index].signalMessage(msg)
            paired = list(self._just_paired)
            kept = {id(m) for m in queue.values()} | {id(m) for m in paired}
            dropped = [
                (index, m, DROP_DUPLICATE_STAMP if s == stamp else DROP_QUEUE_OVERFLOW)
                for s, m in before
                if id(m) not in kept
            ]
            if id(msg) not in kept:
                dropped.append((index, msg, DROP_QUEUE_OVERFLOW))
        self._report(dropped, paired)


def available_implementations() -> list[type]:
    """Every pairing implementation importable here, message_filters first when present."""
    try:
        import message_filters  # noqa: F401
    except ImportError:
        return [ApproximateTimePairer]
    return [MessageFiltersPairer, ApproximateTimePairer]


def make_pairer(
    queue_size: int, slop: float, on_pair: PairCallback, on_drop: DropCallback | None = None
) -> Pairer:
    """message_filters where importable (what ROS users know), else the package's own equivalent."""
    return available_implementations()[0](queue_size, slop, on_pair, on_drop)
