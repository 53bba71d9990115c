"""Per-input stream continuity, ROS-free: stamps going backwards, size changes, silence.

Each check names what went wrong with a short reason (the diagnostics counter
key) and a sentence for the log; it never raises, because the node keeps
running and recovers when good data returns: a new size or an earlier stamp
becomes the new reference, and the engine resets its window on its own.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class _Seen:
    stamp_ns: int
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Problem:
    """One continuity problem on one input."""

    reason: str
    detail: str


class InputMonitor:
    """Remembers the last message of each input to spot discontinuities and silence."""

    def __init__(self, started: float) -> None:
        self._started = started
        self._last: dict[str, _Seen] = {}
        self._received: dict[str, float] = {}

    def received(self, topic: str, now: float) -> None:
        """Any message arrived on ``topic``, valid or not: it is not silent."""
        self._received[topic] = now

    def check(self, topic: str, stamp_ns: int, shape: tuple[int, ...], now: float) -> list[Problem]:
        """Record a decoded message on ``topic``; return what is discontinuous about it."""
        problems = []
        prev = self._last.get(topic)
        if prev is not None:
            if stamp_ns < prev.stamp_ns:
                problems.append(Problem(
                    "stamp_backwards",
                    f"{topic}: stamp went back {(prev.stamp_ns - stamp_ns) / 1e9:.3f} s "
                    "(bag loop or clock jump); the stream restarts from here",
                ))
            if shape != prev.shape:
                problems.append(Problem(
                    "size_change", f"{topic}: size changed from {prev.shape} to {shape} mid-stream"
                ))
        self._last[topic] = _Seen(stamp_ns, shape)
        return problems

    def silent(self, topics: list[str], now: float, timeout_s: float) -> list[Problem]:
        """Inputs with nothing received for ``timeout_s`` (counting from start for never-seen ones)."""
        problems = []
        for topic in topics:
            seen = self._received.get(topic)
            since = self._started if seen is None else seen
            if now - since > timeout_s:
                what = "nothing received in" if seen is None else "no message for"
                problems.append(Problem("input_silent", f"{topic}: {what} {now - since:.1f} s"))
        return problems

    def forget(self) -> None:
        """Drop remembered stamps and sizes (after a reconfiguration); silence clocks keep running."""
        self._last.clear()
